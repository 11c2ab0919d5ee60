package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strconv"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
	"github.com/cybercoop/cybercoop-operator/internal/vaultclient"
)

// A sender's own steps on a request it sent (Clarify, Withdraw) are taken by the
// peer, which records and signs them: the sender's gateway must not take the
// peer's word that the sender took them. Before it forwards an officer's action,
// the gateway records a mandate (the action and its reason, the officer as
// actor) under outbound/<peer>/<id>/mandates/<n>; a transition by the requester
// side is kept only if a mandate, not used by an earlier such transition, asked
// for exactly it. A forward that fails leaves its mandate unused: it authorises
// that same step, once, and nothing else.

// mandate is what an officer asked the peer to record.
type mandate struct {
	Action cases.Action `json:"action"`
	Reason string       `json:"reason,omitempty"`
}

// maxMandates bounds the mandates read for a request: a request has at most
// cases.MaxTransitions steps, and a mandate per retry of one.
const maxMandates = 2 * cases.MaxTransitions

func mandateCase(ref string, n int) string { return path.Join(ref, "mandates", fmt.Sprintf("%04d", n)) }

// recordMandate records the officer's action a before it is forwarded.
func (s *Server) recordMandate(ctx context.Context, st *state, ch *channel, ref string, a wire.CaseAction, officer vault.Identity) *refusal {
	doc, err := json.Marshal(mandate{Action: a.Action, Reason: a.Reason})
	if err != nil {
		return s.vaultRefusal(err)
	}
	keep := retainUntil(s.Now(), ch.RetentionDays)
	for n := 1; n <= maxMandates; n++ {
		caseRef := mandateCase(ref, n)
		_, err := s.ingest(ctx, st, vault.Metadata{CaseReference: caseRef, LegalBasis: ch.LegalBasis,
			AuthorisationReference: accessReference(caseRef), AuthorisationExpiry: caseFileAccess(keep), RetentionUntil: keep,
			Exclusive: true, OwnerOnly: true, OnBehalfOf: &officer}, doc)
		switch {
		case err == nil:
			return nil
		case vaultclient.IsStatus(err, http.StatusConflict):
			continue
		default:
			return s.vaultRefusal(err)
		}
	}
	return &refusal{http.StatusConflict, wire.Refusal{Reason: wire.ReasonTransitionNotAllowed,
		Error: "this request has had " + strconv.Itoa(maxMandates) + " actions asked of the peer: no more"}}
}

// mandated reports whether the requester's transition t, following history h,
// was asked for by a mandate that no earlier requester transition used.
func (s *Server) mandated(ctx context.Context, st *state, ref string, h cases.History, t cases.Transition) (bool, error) {
	want := mandate{Action: t.Action, Reason: t.Reason}
	used := 0
	for _, prev := range h {
		if prev.By == cases.Requester && prev.Action == want.Action && prev.Reason == want.Reason {
			used++
		}
	}
	find := liveLocator(st)
	for n := 1; n <= maxMandates; n++ {
		doc, err := s.readCase(ctx, st, find, mandateCase(ref, n))
		if err != nil {
			return false, err
		}
		if doc == "" {
			return false, nil
		}
		var m mandate
		if json.Unmarshal([]byte(doc), &m) != nil || m != want {
			continue
		}
		if used == 0 {
			return true, nil
		}
		used--
	}
	return false, nil
}
