package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/peer"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/requests"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
	"github.com/cybercoop/cybercoop-operator/internal/vaultclient"
)

// officersKey is the concurrency slot key of the State's own officers.
const officersKey = "officers"

// outbound is POST /v1/outbound/{channel}/requests: a local officer sends a request
// to the channel's peer. The gateway checks it against the same schema the peer
// will, forwards it with the channel's client certificate, verifies the peer's
// receipt against the channel's trust, and stores request and receipt in its own
// vault before answering. A retry with the same reference is safe: the peer answers
// the same receipt, and the local vault holds each object once.
func (s *Server) outbound(w http.ResponseWriter, r *http.Request) {
	st := s.current.Load()
	c := s.identify(st, r)
	if !c.officer {
		s.refuse(w, r, "unknown", &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonNotAnOfficer,
			Error: "the outbound API is for this State's officers: a client certificate from its CA with the officer identity"}})
		return
	}
	ch := st.channels[r.PathValue("channel")]
	if ch == nil {
		s.refuse(w, r, officersKey, &refusal{http.StatusNotFound, wire.Refusal{Reason: wire.ReasonUnknownChannel,
			Error: "no channel of that name"}})
		return
	}
	if ch.providerMode {
		s.refuse(w, r, officersKey, &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonProviderMode,
			Error: "this is a service provider's gateway: it answers the authorities' orders and sends none"}})
		return
	}
	// One slot set per channel: a slow peer holds back requests to itself only.
	release, ok := s.acquire(officersKey + "/" + ch.Name)
	if !ok {
		s.refuse(w, r, officersKey, &refusal{http.StatusTooManyRequests, wire.Refusal{Reason: wire.ReasonTooManyRequests,
			Error: fmt.Sprintf("more than %d outbound requests in flight", s.PerPeerConcurrency)}})
		return
	}
	defer release()
	if ch.Suspended {
		s.refuse(w, r, officersKey, &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonChannelSuspended,
			Error: "the channel is suspended: no request passes"}})
		return
	}
	body, f := readBody(w, r)
	if f != nil {
		s.refuse(w, r, officersKey, f)
		return
	}
	req, fields, err := requests.Parse(body, s.Now())
	if err != nil {
		s.refuse(w, r, officersKey, malformed([]requests.FieldError{{Path: "", Message: err.Error()}}))
		return
	}
	if len(fields) > 0 {
		s.refuse(w, r, officersKey, malformed(fields))
		return
	}
	if st.vault == nil {
		s.refuse(w, r, officersKey, &refusal{http.StatusServiceUnavailable, wire.Refusal{Reason: wire.ReasonVaultUnavailable,
			Error: "the request and its receipt could not be stored: " + st.vaultError}})
		return
	}

	sent, err := ch.client.Submit(r.Context(), req.Canonical, req.Reference, string(req.Type), s.Now)
	var refused *peer.Error
	switch {
	case errors.Is(err, peer.ErrPeerUnavailable):
		s.refuse(w, r, officersKey, &refusal{http.StatusBadGateway, wire.Refusal{Reason: wire.ReasonPeerUnavailable,
			Error: fmt.Sprintf("%s could not take the request; retry with the same reference: %v", ch.Peer(), err)}})
		return
	case errors.As(err, &refused):
		f := relayed(ch, refused, "the request")
		f.body.Reason = wire.ReasonPeerRefused // whatever the peer's: the request was not taken
		s.refuse(w, r, officersKey, f)
		return
	case errors.Is(err, peer.ErrReceiptInvalid):
		s.Log.Error(err, "a peer's receipt did not verify", "channel", ch.Name)
		s.refuse(w, r, officersKey, &refusal{http.StatusBadGateway, wire.Refusal{Reason: wire.ReasonReceiptInvalid, Error: err.Error()}})
		return
	case err != nil:
		s.refuse(w, r, officersKey, &refusal{http.StatusBadGateway, wire.Refusal{Reason: wire.ReasonPeerUnavailable,
			Error: fmt.Sprintf("%s could not be reached: %v", ch.Peer(), err)}})
		return
	}

	// Once the peer has acknowledged, keeping the request and its receipt here
	// finishes even if the officer's client goes away.
	keepCtx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	if f := s.keepSent(keepCtx, st, ch, c.identity, req, sent); f != nil {
		s.refuse(w, r, officersKey, f)
		return
	}
	s.metrics.sent.WithLabelValues(ch.Peer(), string(req.Type)).Inc()
	s.Log.Info("request sent", "peer", ch.Peer(), "type", req.Type, "requestId", sent.Accepted.RequestID, "new", sent.New)
	status := http.StatusOK
	if sent.New {
		status = http.StatusCreated
	}
	writeJSON(w, status, wire.Accepted{RequestID: sent.Accepted.RequestID, Receipt: sent.Accepted.Receipt, Verified: true})
}

// keepSent stores an outbound request (actor: the officer) and the peer's receipt
// in the State's own vault, each once under exclusive cases named after this
// gateway's own id of the request (never the peer's, which the peer chooses).
func (s *Server) keepSent(ctx context.Context, st *state, ch *channel, officer vault.Identity, req *requests.Request, sent *peer.Submitted) *refusal {
	d := direction{name: "outbound", from: st.cfg.Self(), to: ch.Peer()}
	caseRef := caseOf(d, ch.Peer(), requestID(d, req.Reference))
	keep := retainUntil(s.Now(), ch.RetentionDays)
	objects := []struct {
		caseRef string
		body    []byte
		actor   *vault.Identity
	}{
		{caseRef, req.Canonical, &officer},
		{path.Join(caseRef, "receipt"), []byte(sent.Accepted.Receipt), nil},
	}
	for _, o := range objects {
		m := vault.Metadata{
			CaseReference: o.caseRef, LegalBasis: ch.LegalBasis,
			AuthorisationReference: accessReference(o.caseRef), AuthorisationExpiry: caseFileAccess(keep), RetentionUntil: keep,
			Exclusive: true, OwnerOnly: true, OnBehalfOf: o.actor,
		}
		_, err := s.ingest(ctx, st, m, o.body)
		if vaultclient.IsStatus(err, http.StatusConflict) {
			// Held before: acknowledged only if it is this very content (a retry).
			err = s.holdsUnder(ctx, st, o.caseRef, o.body)
		}
		if err != nil {
			s.Log.Error(err, "an outbound request the peer accepted could not be stored", "peer", ch.Peer(), "requestId", sent.Accepted.RequestID)
			return &refusal{http.StatusServiceUnavailable, wire.Refusal{Reason: wire.ReasonVaultUnavailable,
				Error: fmt.Sprintf("%s accepted the request (id %s), but it could not be stored here; retry with the same reference, the peer answers the same receipt",
					ch.Peer(), sent.Accepted.RequestID)}}
		}
	}
	return nil
}

// holdsUnder checks that the vault holds exactly body under caseRef.
func (s *Server) holdsUnder(ctx context.Context, st *state, caseRef string, body []byte) error {
	held, err := st.vault.ObjectsByCase(ctx, caseRef)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	want := vault.Digest("sha256:" + hex.EncodeToString(sum[:]))
	for _, o := range held {
		if o.Digest == want {
			return nil
		}
	}
	return fmt.Errorf("case %s holds other content", caseRef)
}
