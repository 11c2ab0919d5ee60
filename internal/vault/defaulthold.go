package vault

import (
	"fmt"
)

// A vault run with --legal-hold-default (Policy.LegalHoldDefault) holds
// every object it ingests, unless the ingest's metadata says "hold": false.
// The default hold is an ordinary hold entry written right after the ingest
// entry: actor system:vault (the vault's policy placed it, not the client),
// reference the ingest's caseReference, legal basis the ingest's legalBasis
// (the hold preserves the evidence of that case under the provision it was
// collected under), and a detail naming the policy and the ingest entry. Like
// any hold it stops expiry until a holder of the release role releases it
// (POST /v1/objects/{digest}/release with the caseReference as reference).
//
// An ingest with "hold": true places its hold through the ingest entry, as
// without the default; an ingest whose case already holds the object (the
// same content ingested again under the same case) needs no second hold.

// defaultHoldDeclinedDetail is added to the detail of an ingest entry that
// declined the default hold, so the log says why the object is not held.
const defaultHoldDeclinedDetail = `the ingest declined the vault's default legal hold ("hold": false)`

// withDefaultHoldDetail returns the detail of ingest entry e, noting a
// declined default hold. Callers hold v.mu.
func (v *Vault) withDefaultHoldDetail(detail string, m Metadata) string {
	if !v.cfg.Policy.LegalHoldDefault || m.Hold || !m.DeclineDefaultHold {
		return detail
	}
	if detail == "" {
		return defaultHoldDeclinedDetail
	}
	return detail + "; " + defaultHoldDeclinedDetail
}

// placeDefaultHold records the default legal hold on the object ingested in
// entry ingest, if the policy asks for one and the object is not already held
// under the case, and returns the hold's entry (0 if none). Callers hold v.mu;
// the entry is appended for the group commit, which the ingest waits for. An
// error leaves the ingest recorded (and so the object stored) without the
// hold: the ingest is not acknowledged, and ingesting it again places the
// hold.
func (v *Vault) placeDefaultHold(ingest Entry, m Metadata) (uint64, error) {
	if !v.cfg.Policy.LegalHoldDefault || m.Hold || m.DeclineDefaultHold {
		return 0, nil
	}
	obj, ok := v.state.live[ingest.Object]
	if !ok || obj.holds[m.CaseReference] {
		return 0, nil
	}
	e, _, err := v.custody.appendLine(Entry{Time: v.now(), Actor: SystemActor, Action: ActionHold, Object: ingest.Object,
		LegalBasis: m.LegalBasis, Reference: m.CaseReference,
		Detail: fmt.Sprintf("legal hold by default (the vault runs with --legal-hold-default) on the ingest in entry %d, which did not decline it; released only by a holder of the release role", ingest.Seq)})
	if err != nil {
		return 0, fmt.Errorf("ingest: the object is recorded (custody entry %d) but its default legal hold could not be; ingest it again to place the hold: %w", ingest.Seq, err)
	}
	if err := v.state.apply(e); err != nil {
		return 0, fmt.Errorf("ingest: default legal hold: %w", err)
	}
	v.metrics.access.WithLabelValues(string(ActionHold)).Inc()
	return e.Seq, nil
}
