package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/peer"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/requests"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// pushTimeout bounds the push of a status update to the sender's gateway.
const pushTimeout = 10 * time.Second

// channelOf is the channel with a peer country; nil when there is none.
func (st *state) channelOf(country string) *channel {
	for _, ch := range st.channels {
		if ch.Peer() == country {
			return ch
		}
	}
	return nil
}

// decodeAction reads a CaseAction strictly (decodeExact): an unknown field, a
// field in another case or given twice is an error, not a second action.
func decodeAction(body []byte) (wire.CaseAction, *refusal) {
	var a wire.CaseAction
	if err := decodeExact(body, &a, "action", "reason", "grounds", "expectedState"); err != nil {
		return wire.CaseAction{}, &refusal{http.StatusBadRequest, wire.Refusal{Reason: wire.ReasonInvalidTransition,
			Error: "the body is not one action object (action, reason, grounds, expectedState): " + err.Error()}}
	}
	return a, nil
}

// describeJSONError names what was wrong without echoing the content.
func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("not JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be a %s", typ.Field, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "it does not decode"
}

// peerCall admits a peer's call: the one channel its certificate is for, and one
// of the peer's in-flight slots (release it when done).
func (s *Server) peerCall(w http.ResponseWriter, r *http.Request) (*state, caller, func(), bool) {
	st := s.current.Load()
	c := s.identify(st, r)
	if c.channel == nil {
		s.refuse(w, r, "unknown", &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonNoChannel, Error: "no channel is for this client certificate"}})
		return nil, c, nil, false
	}
	release, ok := s.acquire(c.channel.Peer())
	if !ok {
		s.refuse(w, r, c.channel.Peer(), &refusal{http.StatusTooManyRequests, wire.Refusal{Reason: wire.ReasonTooManyRequests,
			Error: fmt.Sprintf("more than %d requests from %s in flight", s.PerPeerConcurrency, c.channel.Peer())}})
		return nil, c, nil, false
	}
	return st, c, release, true
}

// requesterAction is POST /v1/requests/{id}/transitions: the sender answers a
// clarification request or a contest (Clarify) or withdraws (Withdraw) one of
// its requests. The answer is the signed status update.
func (s *Server) requesterAction(w http.ResponseWriter, r *http.Request) {
	st, c, release, ok := s.peerCall(w, r)
	if !ok {
		return
	}
	defer release()
	ch := c.channel
	id := r.PathValue("id")
	if !validRequestID(id) {
		s.refuse(w, r, ch.Peer(), &refusal{http.StatusNotFound, wire.Refusal{Reason: wire.ReasonNotFound, Error: "no request of that id from this sender"}})
		return
	}
	body, f := readBody(w, r)
	if f != nil {
		s.refuse(w, r, ch.Peer(), f)
		return
	}
	a, f := decodeAction(body)
	if f != nil {
		s.refuse(w, r, ch.Peer(), f)
		return
	}
	if st.vault == nil {
		s.refuse(w, r, ch.Peer(), &refusal{http.StatusServiceUnavailable, wire.Refusal{Reason: wire.ReasonVaultUnavailable, Error: st.vaultError}})
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	update, t, f := s.act(ctx, st, ch, id, cases.Requester, c.identity, a)
	if f != nil {
		s.refuse(w, r, ch.Peer(), f)
		return
	}
	writeJSON(w, http.StatusCreated, wire.CaseUpdate{Update: update, Transition: t})
}

// receiveUpdate is POST /v1/updates: a peer hands over the status update it
// signed for a request this State sent it.
func (s *Server) receiveUpdate(w http.ResponseWriter, r *http.Request) {
	st, c, release, ok := s.peerCall(w, r)
	if !ok {
		return
	}
	defer release()
	ch := c.channel
	body, f := readBody(w, r)
	if f != nil {
		s.refuse(w, r, ch.Peer(), f)
		return
	}
	var cu wire.CaseUpdate
	if err := decodeExact(body, &cu, "update"); err != nil || cu.Update == "" {
		s.refuse(w, r, ch.Peer(), &refusal{http.StatusBadRequest, wire.Refusal{Reason: wire.ReasonUpdateInvalid, Error: "the body is not a status update ({\"update\": \"<compact JWS>\"})"}})
		return
	}
	peek, err := receipt.PeekUpdate(cu.Update)
	if err != nil {
		s.refuse(w, r, ch.Peer(), &refusal{http.StatusBadRequest, wire.Refusal{Reason: wire.ReasonUpdateInvalid, Error: err.Error()}})
		return
	}
	if st.vault == nil {
		s.refuse(w, r, ch.Peer(), &refusal{http.StatusServiceUnavailable, wire.Refusal{Reason: wire.ReasonVaultUnavailable, Error: st.vaultError}})
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	d := direction{name: "outbound", from: st.cfg.Self(), to: ch.Peer()}
	ref := caseOf(d, ch.Peer(), requestID(d, peek.Reference))
	rc, f := s.sentReceipt(ctx, st, ref)
	if f != nil {
		s.refuse(w, r, ch.Peer(), f)
		return
	}
	_, created, err := s.acceptUpdate(ctx, st, ch, ref, rc, cu.Update)
	if errors.Is(err, errGap) {
		// Created only if this update is held once the missing ones are.
		_, err = s.acceptAfterGap(ctx, st, ch, ref, rc, cu.Update)
		created = err == nil
	}
	if err != nil {
		s.refuse(w, r, ch.Peer(), &refusal{http.StatusBadRequest, wire.Refusal{Reason: wire.ReasonUpdateInvalid, Error: err.Error()}})
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, struct{}{})
}

// sentReceipt is the peer's receipt of a request this State sent, as stored.
func (s *Server) sentReceipt(ctx context.Context, st *state, ref string) (*receipt.Receipt, *refusal) {
	compact, err := s.storedReceipt(ctx, st, ref)
	if err != nil {
		return nil, s.vaultRefusal(err)
	}
	if compact == "" {
		return nil, &refusal{http.StatusNotFound, wire.Refusal{Reason: wire.ReasonNotFound, Error: "this State sent no request of that reference over this channel"}}
	}
	rc, err := receipt.Peek(compact)
	if err != nil {
		return nil, s.vaultRefusal(err)
	}
	return rc, nil
}

// officerOnly answers the callers who are not this State's officers.
func (s *Server) officerOnly(w http.ResponseWriter, r *http.Request, st *state) (caller, bool) {
	c := s.identify(st, r)
	if !c.officer {
		s.refuse(w, r, "unknown", &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonNotAnOfficer,
			Error: "the cases API is for this State's officers: a client certificate from its CA with the officer identity"}})
		return c, false
	}
	if st.vault == nil {
		s.refuse(w, r, officersKey, &refusal{http.StatusServiceUnavailable, wire.Refusal{Reason: wire.ReasonVaultUnavailable, Error: st.vaultError}})
		return c, false
	}
	return c, true
}

// caseTarget resolves {direction}/{peer}/{id} of an officer's call.
func (s *Server) caseTarget(w http.ResponseWriter, r *http.Request, st *state) (dir string, ch *channel, id string, ok bool) {
	dir, country, id := r.PathValue("direction"), r.PathValue("peer"), r.PathValue("id")
	notFound := &refusal{http.StatusNotFound, wire.Refusal{Reason: wire.ReasonNotFound, Error: "no such request: /v1/cases/{inbound|outbound}/{peer country}/{request id}"}}
	if (dir != "inbound" && dir != "outbound") || !validRequestID(id) {
		s.refuse(w, r, officersKey, notFound)
		return "", nil, "", false
	}
	if ch = st.channelOf(country); ch == nil {
		s.refuse(w, r, officersKey, &refusal{http.StatusNotFound, wire.Refusal{Reason: wire.ReasonUnknownChannel, Error: "no channel with that peer country"}})
		return "", nil, "", false
	}
	return dir, ch, id, true
}

// officerAction is POST /v1/cases/{direction}/{peer}/{id}/transitions. On a
// received request an officer takes the requested side's actions; the update is
// pushed to the sender's gateway (which can also fetch it later). On a sent
// request an officer takes the sender's (Clarify, Withdraw): it is forwarded to
// the peer, whose signed update is verified and kept.
func (s *Server) officerAction(w http.ResponseWriter, r *http.Request) {
	st := s.current.Load()
	c, ok := s.officerOnly(w, r, st)
	if !ok {
		return
	}
	dir, ch, id, ok := s.caseTarget(w, r, st)
	if !ok {
		return
	}
	release, ok := s.acquire(officersKey + "/" + ch.Name)
	if !ok {
		s.refuse(w, r, officersKey, &refusal{http.StatusTooManyRequests, wire.Refusal{Reason: wire.ReasonTooManyRequests,
			Error: fmt.Sprintf("more than %d officer calls in flight for this channel", s.PerPeerConcurrency)}})
		return
	}
	defer release()
	body, f := readBody(w, r)
	if f != nil {
		s.refuse(w, r, officersKey, f)
		return
	}
	a, f := decodeAction(body)
	if f != nil {
		s.refuse(w, r, officersKey, f)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 45*time.Second)
	defer cancel()
	if dir == "inbound" {
		update, t, f := s.act(ctx, st, ch, id, cases.Requested, c.identity, a)
		if f != nil {
			s.refuse(w, r, officersKey, f)
			return
		}
		pushCtx, cancelPush := context.WithTimeout(ctx, pushTimeout)
		err := ch.client.Push(pushCtx, update)
		cancelPush()
		delivered := err == nil
		if err != nil {
			s.Log.Info("a status update could not be pushed to the sender; it can fetch it with the request's state", "peer", ch.Peer(), "requestId", id, "error", err.Error())
		}
		writeJSON(w, http.StatusCreated, wire.CaseUpdate{Update: update, Transition: t, Delivered: &delivered})
		return
	}
	ref := caseOf(direction{name: "outbound", from: st.cfg.Self(), to: ch.Peer()}, ch.Peer(), id)
	rc, f := s.sentReceipt(ctx, st, ref)
	if f != nil {
		s.refuse(w, r, officersKey, f)
		return
	}
	if f := s.recordMandate(ctx, st, ch, ref, a, c.identity); f != nil {
		s.refuse(w, r, officersKey, f)
		return
	}
	compact, err := ch.client.Act(ctx, rc.RequestID, a)
	var refused *peer.Error
	switch {
	case errors.As(err, &refused):
		s.refuse(w, r, officersKey, relayed(ch, refused, "the action"))
		return
	case err != nil:
		s.refuse(w, r, officersKey, &refusal{http.StatusBadGateway, wire.Refusal{Reason: wire.ReasonPeerUnavailable,
			Error: fmt.Sprintf("%s could not take the action; retry: %v", ch.Peer(), err)}})
		return
	}
	u, _, err := s.acceptUpdate(ctx, st, ch, ref, rc, compact)
	if errors.Is(err, errGap) {
		if err = s.syncOutbound(ctx, st, ch, ref, rc); err == nil {
			u, _, err = s.acceptUpdate(ctx, st, ch, ref, rc, compact)
		}
	}
	if err != nil {
		s.Log.Error(err, "a peer's status update did not verify", "peer", ch.Peer(), "requestId", id)
		s.refuse(w, r, officersKey, &refusal{http.StatusBadGateway, wire.Refusal{Reason: wire.ReasonUpdateInvalid, Error: err.Error()}})
		return
	}
	if u.Transition.Action != a.Action || u.Transition.By != cases.Requester {
		// A genuine update, kept as the peer's history, but not of the action
		// asked: the officer is not told it was taken.
		s.Log.Error(errors.New("a peer answered an action with the update of another"), "status update kept, action not confirmed",
			"peer", ch.Peer(), "requestId", id, "asked", a.Action, "answered", u.Transition.Action, "sequence", u.Transition.Sequence)
		s.refuse(w, r, officersKey, &refusal{http.StatusBadGateway, wire.Refusal{Reason: wire.ReasonUpdateInvalid,
			Error: fmt.Sprintf("%s answered with its update %d, %s by the %s side, not the %s asked; read the request again and retry",
				ch.Peer(), u.Transition.Sequence, u.Transition.Action, strings.ToLower(string(u.Transition.By)), a.Action)}})
		return
	}
	delivered := true
	writeJSON(w, http.StatusCreated, wire.CaseUpdate{Update: compact, Transition: &u.Transition, Delivered: &delivered})
}

// showCase is GET /v1/cases/{direction}/{peer}/{id}: one request with its
// transitions, deadline and, for a received preservation, its hold. A sent
// request's updates are first fetched from the peer (when it answers).
func (s *Server) showCase(w http.ResponseWriter, r *http.Request) {
	st := s.current.Load()
	if _, ok := s.officerOnly(w, r, st); !ok {
		return
	}
	dir, ch, id, ok := s.caseTarget(w, r, st)
	if !ok {
		return
	}
	ctx := r.Context()
	d := direction{name: dir, from: ch.Peer(), to: st.cfg.Self()}
	if dir == "outbound" {
		d = direction{name: dir, from: st.cfg.Self(), to: ch.Peer()}
	}
	ref := caseOf(d, ch.Peer(), id)
	if dir == "outbound" {
		rc, f := s.sentReceipt(ctx, st, ref)
		if f != nil {
			s.refuse(w, r, officersKey, f)
			return
		}
		syncCtx, cancel := context.WithTimeout(ctx, pushTimeout)
		if err := s.syncOutbound(syncCtx, st, ch, ref, rc); err != nil {
			s.Log.Info("the peer's status updates could not be fetched; showing those held", "peer", ch.Peer(), "requestId", id, "error", err.Error())
		}
		cancel()
	}
	objects, err := st.vault.Objects(ctx)
	if err != nil {
		s.refuse(w, r, officersKey, s.vaultRefusal(err))
		return
	}
	all, err := s.collect(ctx, st, objects)
	if err != nil {
		s.refuse(w, r, officersKey, s.vaultRefusal(err))
		return
	}
	for _, c := range all {
		if c.Direction == dir && c.Peer == ch.Peer() && c.RequestID == id {
			writeJSON(w, http.StatusOK, c)
			return
		}
	}
	s.refuse(w, r, officersKey, &refusal{http.StatusNotFound, wire.Refusal{Reason: wire.ReasonNotFound, Error: "no such request"}})
}

// listCases is GET /v1/cases[?direction=inbound|outbound][&state=S][&overdue=true]:
// every request the vault holds for this gateway, newest first, without their
// transitions.
func (s *Server) listCases(w http.ResponseWriter, r *http.Request) {
	st := s.current.Load()
	if _, ok := s.officerOnly(w, r, st); !ok {
		return
	}
	q := r.URL.Query()
	objects, err := st.vault.Objects(r.Context())
	if err != nil {
		s.refuse(w, r, officersKey, s.vaultRefusal(err))
		return
	}
	all, err := s.collect(r.Context(), st, objects)
	if err != nil {
		s.refuse(w, r, officersKey, s.vaultRefusal(err))
		return
	}
	out := []wire.Case{}
	for _, c := range all {
		if (q.Get("direction") != "" && c.Direction != q.Get("direction")) || (q.Get("state") != "" && string(c.State) != q.Get("state")) ||
			(q.Get("overdue") == "true" && !c.Overdue) {
			continue
		}
		c.Transitions = nil
		out = append(out, c)
	}
	writeJSON(w, http.StatusOK, out)
}

// statistics is GET /v1/statistics[?from=RFC3339&to=RFC3339][&format=csv]: the
// report of articles 55 and 57 over the period (default: the last 365 days),
// from the custody records.
func (s *Server) statistics(w http.ResponseWriter, r *http.Request) {
	st := s.current.Load()
	if _, ok := s.officerOnly(w, r, st); !ok {
		return
	}
	now := s.Now().UTC()
	from, to := now.AddDate(-1, 0, 0), now
	q := r.URL.Query()
	for name, into := range map[string]*time.Time{"from": &from, "to": &to} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				s.refuse(w, r, officersKey, &refusal{http.StatusBadRequest, wire.Refusal{Reason: wire.ReasonMalformedRequest,
					Error: fmt.Sprintf("%s: not an RFC 3339 time, e.g. 2026-01-01T00:00:00Z", name)}})
				return
			}
			if y := t.UTC().Year(); y < 1 || y > 9999 {
				// A time whose offset takes it outside the years JSON times
				// carry would fail the report's encoding.
				s.refuse(w, r, officersKey, &refusal{http.StatusBadRequest, wire.Refusal{Reason: wire.ReasonMalformedRequest,
					Error: fmt.Sprintf("%s: in UTC, outside the years 0001 to 9999", name)}})
				return
			}
			*into = t
		}
	}
	if !from.Before(to) {
		s.refuse(w, r, officersKey, &refusal{http.StatusBadRequest, wire.Refusal{Reason: wire.ReasonMalformedRequest, Error: "from must be before to"}})
		return
	}
	objects, err := st.vault.Objects(r.Context())
	if err != nil {
		s.refuse(w, r, officersKey, s.vaultRefusal(err))
		return
	}
	all, err := s.collect(r.Context(), st, objects)
	if err != nil {
		s.refuse(w, r, officersKey, s.vaultRefusal(err))
		return
	}
	report := cases.Compute(st.cfg.Self(), recordsOf(all), from, to, now)
	if q.Get("format") == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(report.CSV())
		return
	}
	writeJSON(w, http.StatusOK, report)
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// collect builds every request's case from one listing of the gateway's objects:
// receipt, transitions (or the peer's updates), deadline and, for received
// preservations, their hold. Records are read once per process (readCase).
func (s *Server) collect(ctx context.Context, st *state, objects []vault.ObjectInfo) ([]wire.Case, error) {
	find := listingLocator(objects)
	now := s.Now()
	var out []wire.Case
	type link struct {
		peer, extends string
		preserves     []string
		at            int // in out
	}
	var links []link
	for _, o := range objects {
		for _, ci := range o.Cases {
			m := requestCase.FindStringSubmatch(ci.Metadata.CaseReference)
			if m == nil {
				continue
			}
			ref, dir, peer, id := m[0], m[1], m[2], m[3]
			compact, err := s.readCase(ctx, st, find, ref+"/receipt")
			if err != nil {
				return nil, err
			}
			if compact == "" {
				continue // the request was recorded but its receipt not (yet): not acknowledged
			}
			rc, err := receipt.Peek(compact)
			if err != nil {
				return nil, fmt.Errorf("the receipt of %s: %w", ref, err)
			}
			c := wire.Case{Direction: dir, Peer: peer, RequestID: id, Type: rc.Type, Reference: rc.Reference, Received: rc.Received}
			var h cases.History
			if dir == "inbound" {
				h, _, err = s.inboundHistory(ctx, st, find, ref, rc, false)
			} else {
				c.PeerRequestID = rc.RequestID
				h, _, err = s.outboundHistory(ctx, st, find, ref)
			}
			if err != nil {
				return nil, err
			}
			deadlines := cases.DefaultDeadlines
			if ch := st.channelOf(peer); ch != nil && dir == "inbound" {
				deadlines = ch.deadlines()
			}
			c.State, c.Transitions = h.State(), h
			c.Due = cases.Due(rc.Received, h, deadlines.For(rc.Type), now)
			c.Overdue = cases.Overdue(rc.Received, h, deadlines.For(rc.Type), now)
			out = append(out, c)
			if dir == "inbound" && (rc.Type == string(requests.Preservation) || rc.Type == string(requests.MutualLegalAssistance)) {
				doc, err := s.readCase(ctx, st, find, ref)
				if err != nil {
					return nil, err
				}
				var refs struct {
					Kind                   string   `json:"kind"`
					Extends                string   `json:"extends"`
					PreservationReferences []string `json:"preservationReferences"`
				}
				_ = json.Unmarshal([]byte(doc), &refs) // validated against its schema when it was received
				links = append(links, link{peer: peer, extends: refs.Extends, preserves: refs.PreservationReferences, at: len(out) - 1})
			}
		}
	}
	// Each received preservation's hold, from the requests that refer to it over
	// the same channel: extensions, and assistance requests seeking its data.
	for i := range out {
		p := &out[i]
		if p.Direction != "inbound" || p.Type != string(requests.Preservation) {
			continue
		}
		var linked []cases.Linked
		for _, l := range links {
			c := &out[l.at]
			if l.peer != p.Peer || c.RequestID == p.RequestID {
				continue
			}
			if c.Type == string(requests.Preservation) && l.extends == p.Reference {
				linked = append(linked, cases.Linked{RequestID: c.RequestID, Extension: true, Received: c.Received, State: c.State})
			}
			if c.Type == string(requests.MutualLegalAssistance) && slices.Contains(l.preserves, p.Reference) {
				linked = append(linked, cases.Linked{RequestID: c.RequestID, Received: c.Received, State: c.State})
			}
		}
		hold := cases.Preserve(p.Received, p.State, linked, now)
		p.Preservation = &hold
	}
	slices.SortFunc(out, func(a, b wire.Case) int { return b.Received.Compare(a.Received) })
	return out, nil
}

// scanCases sets the open and overdue gauges from the custody records every
// CaseScanInterval, and logs each received request the first time it is seen
// overdue (by id, peer and type; never content).
func (s *Server) scanCases(ctx context.Context) {
	interval := s.CaseScanInterval
	if interval <= 0 {
		interval = time.Minute
	}
	overdue := map[string]bool{}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		st := s.current.Load()
		if st != nil && st.vault != nil {
			scanCtx, cancel := context.WithTimeout(ctx, interval)
			overdue = s.scanOnce(scanCtx, st, overdue)
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// recordsOf is what the statistics count of each case.
func recordsOf(all []wire.Case) []cases.Record {
	records := make([]cases.Record, 0, len(all))
	for _, c := range all {
		rec := cases.Record{Direction: cases.ReceivedFrom, Partner: c.Peer, Type: c.Type, Received: c.Received, State: c.State, Overdue: c.Overdue}
		if c.Direction == "outbound" {
			rec.Direction = cases.Sent
		}
		if n := len(c.Transitions); n > 0 && c.State.Terminal() {
			rec.Decided = c.Transitions[n-1].Time
		}
		records = append(records, rec)
	}
	return records
}

// scanOnce reads every request from the vault, sets the gauges and the summary,
// and keeps the files of requests whose records would otherwise expire; it
// returns the overdue set.
func (s *Server) scanOnce(ctx context.Context, st *state, overdue map[string]bool) map[string]bool {
	objects, err := st.vault.Objects(ctx)
	var all []wire.Case
	if err == nil {
		all, err = s.collect(ctx, st, objects)
	}
	if err != nil {
		s.Log.V(1).Info("the requests could not be scanned", "error", err.Error())
		return overdue
	}
	overdue = s.recordScan(all, overdue)
	s.lastScan.Store(summarise(st, all, objects, s.Now()))
	if _, err := s.keepCaseFiles(ctx, st, all, objects); err != nil {
		s.Log.Error(err, "a request's records could not be kept longer; the next scan tries again")
	}
	return overdue
}

// recordScan sets the gauges from one scan and returns the overdue set.
func (s *Server) recordScan(all []wire.Case, before map[string]bool) map[string]bool {
	type key struct{ peer, typ string }
	open, late := map[key]float64{}, map[key]float64{}
	now := map[string]bool{}
	for _, c := range all {
		if c.Direction != "inbound" || c.State.Terminal() {
			continue
		}
		k := key{c.Peer, c.Type}
		open[k]++
		if c.Overdue {
			late[k]++
			now[c.RequestID] = true
			if !before[c.RequestID] {
				s.Log.Info("a request became overdue", "peer", c.Peer, "type", c.Type, "requestId", c.RequestID,
					"state", c.State, "due", c.Due.UTC().Format(time.RFC3339))
			}
		}
	}
	s.metrics.open.Reset()
	s.metrics.overdue.Reset()
	for k, n := range open {
		s.metrics.open.WithLabelValues(k.peer, k.typ).Set(n)
		s.metrics.overdue.WithLabelValues(k.peer, k.typ).Set(late[k])
	}
	// The statistics of articles 55 and 57 over every request the vault holds,
	// from the custody records: a restart resets nothing.
	report := cases.Compute("", recordsOf(all), time.Time{}, s.Now().Add(time.Hour), s.Now())
	s.metrics.requests.Reset()
	for _, c := range report.Counts {
		s.metrics.requests.WithLabelValues(strings.ToLower(c.Direction), c.Partner, c.Type, string(c.Outcome)).Set(float64(c.Requests))
	}
	s.metrics.responseTime.Reset()
	for _, rt := range report.ResponseTimes {
		for q, hours := range map[string]float64{"0.5": rt.P50Hours, "0.9": rt.P90Hours, "0.99": rt.P99Hours, "1": rt.MaxHours} {
			s.metrics.responseTime.WithLabelValues(strings.ToLower(rt.Direction), rt.Type, q).Set(hours * 3600)
		}
	}
	return now
}
