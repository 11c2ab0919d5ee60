package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
	"github.com/cybercoop/cybercoop-operator/internal/vaultclient"
)

// A request's records in the vault, each under an exclusive case (one object
// each, never replaced), so that a record's case names its content for good:
//
//	<dir>/<peer>/<id>                               the request document
//	<dir>/<peer>/<id>/receipt                       the receipt
//	inbound/<peer>/<id>/transitions/<seq>           a transition (canonical JSON), actor the officer or the sender
//	inbound/<peer>/<id>/transitions/<seq>/signed    its signed status update
//	outbound/<peer>/<id>/updates/<seq>              the peer's signed status update, verified
//
// Transitions are numbered from 1 with four digits. Two replicas (or two
// officers) that record the same next transition race for its exclusive case:
// the vault takes one, the other reads the history again and re-decides.

func transitionCase(ref string, seq int) string { return fmt.Sprintf("%s/transitions/%04d", ref, seq) }
func signedCase(ref string, seq int) string     { return transitionCase(ref, seq) + "/signed" }
func updateCase(ref string, seq int) string     { return fmt.Sprintf("%s/updates/%04d", ref, seq) }

// requestCase matches the case of a request document.
var requestCase = regexp.MustCompile(`^(inbound|outbound)/([A-Z]{2}|[a-z0-9][-a-z0-9]{1,61}[a-z0-9])/(rq-[0-9a-f]{32})$`)

// maxUpdateBytes bounds a stored status update read back.
const maxUpdateBytes = 1 << 20

// locator finds the one object under an exclusive case: its digest and the
// authorisation reference to read it with; ok is false when the case is empty.
type locator func(ctx context.Context, caseRef string) (d vault.Digest, access string, ok bool, err error)

// liveLocator asks the vault for each case.
func liveLocator(st *state) locator {
	return func(ctx context.Context, caseRef string) (vault.Digest, string, bool, error) {
		held, err := st.vault.ObjectsByCase(ctx, caseRef)
		if err != nil || len(held) == 0 {
			return "", "", false, err
		}
		return held[0].Digest, accessOf(held[0], caseRef), true, nil
	}
}

// listingLocator looks cases up in one listing of the gateway's objects.
func listingLocator(objects []vault.ObjectInfo) locator {
	type at struct {
		d      vault.Digest
		access string
	}
	index := map[string]at{}
	for _, o := range objects {
		for _, c := range o.Cases {
			index[c.Metadata.CaseReference] = at{o.Digest, c.Metadata.AuthorisationReference}
		}
	}
	return func(_ context.Context, caseRef string) (vault.Digest, string, bool, error) {
		a, ok := index[caseRef]
		return a.d, a.access, ok, nil
	}
}

func accessOf(o vault.ObjectInfo, caseRef string) string {
	for _, c := range o.Cases {
		if c.Metadata.CaseReference == caseRef && c.Metadata.AuthorisationReference != "" {
			return c.Metadata.AuthorisationReference
		}
	}
	return ""
}

// readCase reads the object under an exclusive case, "" when there is none. An
// exclusive case never changes content, so what was read is kept in memory: a
// record is read from the vault (a custody entry) once per process.
func (s *Server) readCase(ctx context.Context, st *state, find locator, caseRef string) (string, error) {
	if body, ok := s.receipts.get(caseRef); ok {
		return body, nil
	}
	d, access, ok, err := find(ctx, caseRef)
	if err != nil || !ok {
		return "", err
	}
	if access == "" {
		return "", fmt.Errorf("the vault lists %s without the reference to read it", caseRef)
	}
	body, err := st.vault.Read(ctx, d, access, maxUpdateBytes)
	if err != nil {
		return "", err
	}
	s.receipts.put(caseRef, string(body))
	return string(body), nil
}

// inboundHistory reads a received request's transitions and their signed
// updates. A transition recorded without its signed update (the gateway
// stopped in between) is signed now, when repair is set.
func (s *Server) inboundHistory(ctx context.Context, st *state, find locator, ref string, rc *receipt.Receipt, repair bool) (cases.History, []string, error) {
	var h cases.History
	var updates []string
	for seq := 1; ; seq++ {
		compact, err := s.readCase(ctx, st, find, signedCase(ref, seq))
		if err != nil {
			return nil, nil, err
		}
		if compact == "" {
			doc, err := s.readCase(ctx, st, find, transitionCase(ref, seq))
			if err != nil || doc == "" || !repair {
				return h, updates, err
			}
			var t cases.Transition
			if err := json.Unmarshal([]byte(doc), &t); err != nil {
				return nil, nil, fmt.Errorf("transition %d of %s: %w", seq, rc.RequestID, err)
			}
			// What is signed here was never decided by Next in this process: it
			// must be this request's next transition, following the ones signed,
			// or the gateway would sign a history that does not hold together.
			if t.Sequence != seq || t.RequestID != rc.RequestID {
				return nil, nil, fmt.Errorf("transition %d of %s is recorded as transition %d of another request", seq, rc.RequestID, t.Sequence)
			}
			if err := cases.CheckHistory(append(slices.Clone(h), t)); err != nil {
				return nil, nil, fmt.Errorf("transition %d of %s, recorded without its status update, does not follow the signed ones, and is not signed: %w", seq, rc.RequestID, err)
			}
			if compact, err = s.signTransition(ctx, st, ref, rc, t, []byte(doc), nil); err != nil {
				return nil, nil, err
			}
		}
		u, err := receipt.PeekUpdate(compact)
		if err != nil {
			return nil, nil, fmt.Errorf("status update %d of %s: %w", seq, rc.RequestID, err)
		}
		h = append(h, u.Transition)
		updates = append(updates, compact)
	}
}

// outboundHistory reads the peer's signed updates of a request this State sent.
func (s *Server) outboundHistory(ctx context.Context, st *state, find locator, ref string) (cases.History, []string, error) {
	var h cases.History
	var updates []string
	for seq := 1; ; seq++ {
		compact, err := s.readCase(ctx, st, find, updateCase(ref, seq))
		if err != nil || compact == "" {
			return h, updates, err
		}
		u, err := receipt.PeekUpdate(compact)
		if err != nil {
			return nil, nil, fmt.Errorf("status update %d under %s: %w", seq, ref, err)
		}
		h = append(h, u.Transition)
		updates = append(updates, compact)
	}
}

// recordTransition makes a transition durable (its custody entry names actor)
// and signs its status update. taken is true when another writer recorded this
// sequence number first: the caller reads the history again and re-decides.
func (s *Server) recordTransition(ctx context.Context, st *state, ref string, rc *receipt.Receipt, t cases.Transition,
	actor vault.Identity, legalBasis string, keep time.Time) (compact string, taken bool, err error) {
	doc, err := t.Canonical()
	if err != nil {
		return "", false, err
	}
	caseRef := transitionCase(ref, t.Sequence)
	m := vault.Metadata{
		CaseReference: caseRef, LegalBasis: legalBasis,
		AuthorisationReference: accessReference(caseRef), AuthorisationExpiry: caseFileAccess(keep), RetentionUntil: keep,
		Exclusive: true, OwnerOnly: true, OnBehalfOf: &actor, Hold: holdsRecords(rc.Type),
	}
	res, err := s.ingest(ctx, st, m, doc)
	if vaultclient.IsStatus(err, http.StatusConflict) {
		return "", true, nil
	}
	if err != nil {
		return "", false, err
	}
	compact, err = s.signTransition(ctx, st, ref, rc, t, doc, &res)
	return compact, false, err
}

// signTransition signs the status update of a recorded transition and stores it.
// Without the ingest's result (a repair), the transition document is recorded
// again: the vault attaches the duplicate to the same object in a custody entry
// of its own, on which the update is signed.
func (s *Server) signTransition(ctx context.Context, st *state, ref string, rc *receipt.Receipt, t cases.Transition, doc []byte, res *vault.IngestResult) (string, error) {
	caseRef := transitionCase(ref, t.Sequence)
	keep := retainUntil(s.Now(), minRetentionDays)
	if res == nil {
		r, err := s.ingest(ctx, st, vault.Metadata{CaseReference: caseRef, LegalBasis: "repair of status update " + caseRef,
			AuthorisationReference: accessReference(caseRef), AuthorisationExpiry: caseFileAccess(keep), RetentionUntil: keep, Exclusive: true, OwnerOnly: true}, doc)
		if err != nil {
			return "", err
		}
		res = &r
	}
	custody, entry, err := s.custodyOf(ctx, st, *res)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(doc)
	u := receipt.StatusUpdate{
		RequestID: rc.RequestID, Reference: rc.Reference, Type: rc.Type, Channel: rc.Channel, From: rc.From, To: rc.To,
		Transition: t, Digest: "sha256:" + hex.EncodeToString(sum[:]), Custody: custody,
	}
	compact, err := st.signer.SignUpdate(u)
	if err != nil {
		return "", err
	}
	signed := signedCase(ref, t.Sequence)
	keep = res.RetentionUntil
	_, err = s.ingest(ctx, st, vault.Metadata{CaseReference: signed, LegalBasis: entry.LegalBasis,
		AuthorisationReference: accessReference(signed), AuthorisationExpiry: caseFileAccess(keep), RetentionUntil: keep, Exclusive: true, OwnerOnly: true,
		Hold: holdsRecords(rc.Type)}, []byte(compact))
	if vaultclient.IsStatus(err, http.StatusConflict) {
		// Another replica signed it first: that one stands.
		return s.readCase(ctx, st, liveLocator(st), signed)
	}
	if err != nil {
		return "", err
	}
	s.receipts.put(signed, compact)
	return compact, nil
}

// minRetentionDays is the retention of a repaired record, the convention's
// minimum; the vault keeps the longer retention of the first ingest.
const minRetentionDays = 60

// caseFileAccess is until when the gateway may read a record of its own case
// file: ten years past its retention. The records are OwnerOnly (only the gateway
// reads them), and a held preservation's records outlive their retention; the
// gateway must still read them to show the case.
func caseFileAccess(keep time.Time) time.Time { return keep.AddDate(10, 0, 0) }

// retainUntil is the retention of a record made at now for a number of days,
// rounded up to the next hour: a vault refuses a retention shorter than its
// minimum from its own clock, which reads a little later than now (a channel
// at the minimum, 60 days, would otherwise have every request refused).
func retainUntil(now time.Time, days int32) time.Time {
	return now.UTC().Add(time.Duration(days)*24*time.Hour + time.Hour).Truncate(time.Hour)
}

// custodyOf proves an ingest: the vault's checkpoint opened with its verifier
// key, and the entry's inclusion proof checked against it.
func (s *Server) custodyOf(ctx context.Context, st *state, res vault.IngestResult) (receipt.Custody, vault.Entry, error) {
	verifierKey, err := st.vaultVerifierKey(ctx)
	if err != nil {
		return receipt.Custody{}, vault.Entry{}, err
	}
	cp, err := vault.OpenCheckpoint([]byte(res.Checkpoint), verifierKey)
	if err != nil {
		return receipt.Custody{}, vault.Entry{}, fmt.Errorf("the vault's checkpoint: %w", err)
	}
	proof, err := inclusionOf(ctx, st, res, cp.Size)
	if err != nil {
		return receipt.Custody{}, vault.Entry{}, err
	}
	var entry vault.Entry
	if err := json.Unmarshal(res.Entry, &entry); err != nil {
		return receipt.Custody{}, vault.Entry{}, fmt.Errorf("the vault's custody entry: %w", err)
	}
	if err := vault.VerifyInclusion(cp, res.Sequence, res.Entry, proof); err != nil {
		return receipt.Custody{}, vault.Entry{}, fmt.Errorf("the vault's inclusion proof: %w", err)
	}
	return receipt.Custody{Sequence: res.Sequence, Entry: res.Entry, Checkpoint: res.Checkpoint, VerifierKey: verifierKey, InclusionProof: proof}, entry, nil
}

// act takes an action on a received request, as party by (an officer of this
// State, or the sender through its channel), and returns the signed update. A
// concurrent writer that takes the same sequence number makes it re-decide on
// the new history, a few times at most.
func (s *Server) act(ctx context.Context, st *state, ch *channel, id string, by cases.Party, actor vault.Identity, a wire.CaseAction) (string, *cases.Transition, *refusal) {
	d := direction{name: "inbound", from: ch.Peer(), to: st.cfg.Self()}
	ref := caseOf(d, ch.Peer(), id)
	compact, err := s.storedReceipt(ctx, st, ref)
	if err != nil {
		return "", nil, s.vaultRefusal(err)
	}
	if compact == "" {
		return "", nil, &refusal{http.StatusNotFound, wire.Refusal{Reason: wire.ReasonNotFound, Error: "no request of that id over this channel"}}
	}
	rc, err := receipt.Peek(compact)
	if err != nil {
		return "", nil, s.vaultRefusal(fmt.Errorf("the stored receipt of %s: %w", id, err))
	}
	if a.ExpectedState != "" && !slices.Contains(cases.States, a.ExpectedState) {
		// Checked before it is compared: the conflict's answer names it, and
		// an answer does not carry back what the caller typed.
		return "", nil, &refusal{http.StatusBadRequest, wire.Refusal{Reason: wire.ReasonInvalidTransition,
			Error: "expectedState: not one of " + joinStates(cases.States) + " (names are exact)"}}
	}
	keep := retainUntil(s.Now(), ch.RetentionDays)
	for attempt := 0; attempt < 4; attempt++ {
		h, _, err := s.inboundHistory(ctx, st, liveLocator(st), ref, rc, true)
		if err != nil {
			return "", nil, s.vaultRefusal(err)
		}
		if a.ExpectedState != "" && h.State() != a.ExpectedState {
			return "", nil, &refusal{http.StatusConflict, wire.Refusal{Reason: wire.ReasonTransitionNotAllowed,
				Error: fmt.Sprintf("the request is %s, not %s as expected: it moved since it was read", h.State(), a.ExpectedState)}}
		}
		t, err := cases.Next(id, h, a.Action, by, a.Reason, a.Grounds, ch.providerMode, s.Now())
		switch {
		case errors.Is(err, cases.ErrNotAllowed):
			return "", nil, &refusal{http.StatusConflict, wire.Refusal{Reason: wire.ReasonTransitionNotAllowed, Error: err.Error()}}
		case err != nil:
			return "", nil, &refusal{http.StatusBadRequest, wire.Refusal{Reason: wire.ReasonInvalidTransition, Error: err.Error()}}
		}
		update, taken, err := s.recordTransition(ctx, st, ref, rc, t, actor, ch.LegalBasis, keep)
		if err != nil {
			return "", nil, s.vaultRefusal(err)
		}
		if !taken {
			s.metrics.transitions.WithLabelValues(ch.Peer(), rc.Type, string(t.To)).Inc()
			s.Log.Info("request moved", "peer", ch.Peer(), "requestId", id, "action", t.Action, "by", by, "state", t.To, "sequence", t.Sequence)
			return update, &t, nil
		}
	}
	return "", nil, &refusal{http.StatusConflict, wire.Refusal{Reason: wire.ReasonTransitionNotAllowed,
		Error: "the request is being moved by others at the same time; read it again and retry"}}
}

// acceptUpdate verifies a status update the peer signed for a request this State
// sent, checks that it follows the updates held, and keeps it. An update held
// before (the same transition, however signed) is accepted again; a different
// transition under a number already held is the peer contradicting itself, and
// is refused and logged.
func (s *Server) acceptUpdate(ctx context.Context, st *state, ch *channel, ref string, rc *receipt.Receipt, compact string) (*receipt.StatusUpdate, bool, error) {
	u, _, err := receipt.VerifyUpdate(compact, ch.trust, ch.ServerName, s.Now())
	if err != nil {
		return nil, false, err
	}
	switch {
	case u.RequestID != rc.RequestID || u.Reference != rc.Reference || u.Type != rc.Type:
		return nil, false, fmt.Errorf("the update is for request %s (%s), not %s", u.RequestID, u.Reference, rc.RequestID)
	case u.From != st.cfg.Self() || u.To != ch.Peer():
		return nil, false, fmt.Errorf("the update is for a request from %s to %s, not from %s to %s", u.From, u.To, st.cfg.Self(), ch.Peer())
	case u.Transition.Time.Before(rc.Received.Add(-maxUpdateAhead)):
		// Dated before the receipt, it would give a negative response time and
		// move the deadline and the retention that runs from the decision.
		return nil, false, fmt.Errorf("transition %d is dated %s, before the request was received (%s)", u.Transition.Sequence,
			u.Transition.Time.UTC().Format(time.RFC3339), rc.Received.UTC().Format(time.RFC3339))
	case u.Transition.Time.After(s.Now().Add(maxUpdateAhead)):
		// Kept, a transition dated ahead would date every later one (a
		// history does not go back) and the decision in the statistics. It is
		// taken once this clock has caught up: the peer pushes or is read again.
		return nil, false, fmt.Errorf("transition %d is dated %s, more than %s after this gateway's clock", u.Transition.Sequence,
			u.Transition.Time.UTC().Format(time.RFC3339), maxUpdateAhead)
	}
	h, held, err := s.outboundHistory(ctx, st, liveLocator(st), ref)
	if err != nil {
		return nil, false, err
	}
	seq := u.Transition.Sequence
	if seq <= len(h) {
		mine, _ := h[seq-1].Canonical()
		theirs, _ := u.Transition.Canonical()
		if bytes.Equal(mine, theirs) {
			return u, false, nil
		}
		s.Log.Error(errors.New("a peer signed two different transitions under one number"), "status update refused",
			"peer", ch.Peer(), "requestId", rc.RequestID, "sequence", seq, "held", held[seq-1] != "")
		return nil, false, fmt.Errorf("transition %d is held with other content: the peer signed two different transitions under one number", seq)
	}
	if seq != len(h)+1 {
		return nil, false, fmt.Errorf("%w: update %d arrived, %d are held", errGap, seq, len(h))
	}
	if err := cases.CheckHistory(append(h, u.Transition)); err != nil {
		return nil, false, fmt.Errorf("the update does not follow the updates held: %w", err)
	}
	if err := cases.CheckParties(u.Transition, ch.Provider != ""); err != nil {
		return nil, false, err
	}
	if u.Transition.By == cases.Requester {
		ok, err := s.mandated(ctx, st, ref, h, u.Transition)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			s.Log.Error(errors.New("a peer signed a step of this side that no officer asked for"), "status update refused",
				"peer", ch.Peer(), "requestId", rc.RequestID, "sequence", seq, "action", u.Transition.Action)
			return nil, false, fmt.Errorf("transition %d is a %s by this side that none of its officers asked for", seq, u.Transition.Action)
		}
	}
	caseRef := updateCase(ref, seq)
	keep := retainUntil(s.Now(), ch.RetentionDays)
	_, err = s.ingest(ctx, st, vault.Metadata{CaseReference: caseRef, LegalBasis: ch.LegalBasis,
		AuthorisationReference: accessReference(caseRef), AuthorisationExpiry: caseFileAccess(keep), RetentionUntil: keep, Exclusive: true, OwnerOnly: true}, []byte(compact))
	if vaultclient.IsStatus(err, http.StatusConflict) {
		// Another replica kept this number a moment ago: compare as above.
		return s.acceptUpdate(ctx, st, ch, ref, rc, compact)
	}
	if err != nil {
		return nil, false, err
	}
	s.receipts.put(caseRef, compact)
	return u, true, nil
}

// maxUpdateAhead is how far after this gateway's clock a peer's transition may
// be dated: the two States' clocks differ a little.
const maxUpdateAhead = 5 * time.Minute

// errGap marks an update that skips numbers: the earlier ones are fetched first.
var errGap = errors.New("status updates are missing before this one")

// acceptAfterGap keeps a peer's update that skips numbers: it fetches the
// updates not held yet from the peer, then keeps this one, which must then
// follow them. An update the peer's own list does not lead up to (it signed a
// number it never served the ones before) is refused, not acknowledged: what is
// answered as kept is held.
func (s *Server) acceptAfterGap(ctx context.Context, st *state, ch *channel, ref string, rc *receipt.Receipt, compact string) (*receipt.StatusUpdate, error) {
	if err := s.syncOutbound(ctx, st, ch, ref, rc); err != nil {
		return nil, err
	}
	u, _, err := s.acceptUpdate(ctx, st, ch, ref, rc, compact)
	return u, err
}

func joinStates(states []cases.State) string {
	names := make([]string, len(states))
	for i, st := range states {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// syncOutbound fetches every update of a sent request from the peer and keeps
// those not held yet, in order.
func (s *Server) syncOutbound(ctx context.Context, st *state, ch *channel, ref string, rc *receipt.Receipt) error {
	rs, err := ch.client.RequestState(ctx, rc.RequestID)
	if err != nil {
		return err
	}
	for _, compact := range rs.Updates {
		if _, _, err := s.acceptUpdate(ctx, st, ch, ref, rc, compact); err != nil {
			return err
		}
	}
	return nil
}
