package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/requests"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
	"github.com/cybercoop/cybercoop-operator/internal/vaultclient"
)

// submit is POST /v1/requests: a peer State's request over its channel.
func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	st := s.current.Load()
	c := s.identify(st, r)
	if c.channel == nil {
		reason := "no channel is for this client certificate; the peer API is for peer States"
		if c.ambiguous {
			reason = "several channels trust this client certificate's CA; the operator reports the conflict"
		}
		s.refuse(w, r, "unknown", &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonNoChannel, Error: reason}})
		return
	}
	ch := c.channel
	release, ok := s.acquire(ch.Peer())
	if !ok {
		s.refuse(w, r, ch.Peer(), &refusal{http.StatusTooManyRequests, wire.Refusal{Reason: wire.ReasonTooManyRequests,
			Error: fmt.Sprintf("more than %d requests from %s in flight; retry with the same reference", s.PerPeerConcurrency, ch.Peer())}})
		return
	}
	defer release()
	if ch.Suspended {
		s.refuse(w, r, ch.Peer(), &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonChannelSuspended,
			Error: "the channel is suspended: no request passes"}})
		return
	}
	if ch.Provider != "" {
		// The channel's request types are what this side sends the provider;
		// a provider answers orders and sends none.
		s.refuse(w, r, ch.Peer(), &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonProviderMode,
			Error: "a service provider answers orders over this channel; it sends no request"}})
		return
	}
	body, f := readBody(w, r)
	if f != nil {
		s.refuse(w, r, ch.Peer(), f)
		return
	}
	// A type the channel does not permit is refused before the document is
	// checked, so a peer learns nothing of a schema it may not use.
	t := peekType(body)
	if ch.providerMode && t != "" && slices.Contains(requests.Types, requests.Type(t)) && !providerReceives(t) {
		s.refuse(w, r, ch.Peer(), &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonProviderMode,
			Error: fmt.Sprintf("this is a service provider's gateway: it receives Preservation, TrafficDataDisclosure, StoredDataAccess, SubscriberInformation and ContentRemoval orders, not %s requests", t)}})
		return
	}
	if t != "" && slices.Contains(requests.Types, requests.Type(t)) && !ch.permits(t) {
		s.refuse(w, r, ch.Peer(), &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonRequestTypeNotPermitted,
			Error: fmt.Sprintf("the channel with %s does not permit %s requests; it permits %s", ch.Peer(), t, strings.Join(ch.RequestTypes, ", "))}})
		return
	}
	req, fields, err := requests.Parse(body, s.Now())
	if err != nil {
		s.refuse(w, r, ch.Peer(), malformed([]requests.FieldError{{Path: "", Message: err.Error()}}))
		return
	}
	if len(fields) > 0 {
		s.refuse(w, r, ch.Peer(), malformed(fields))
		return
	}
	if !ch.permits(string(req.Type)) { // as parsed, whatever the first look saw
		s.refuse(w, r, ch.Peer(), &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonRequestTypeNotPermitted,
			Error: fmt.Sprintf("the channel with %s does not permit %s requests", ch.Peer(), req.Type)}})
		return
	}
	if st.vault == nil {
		s.refuse(w, r, ch.Peer(), &refusal{http.StatusServiceUnavailable, wire.Refusal{Reason: wire.ReasonVaultUnavailable,
			Error: "the request cannot be made durable now; nothing was acknowledged; retry with the same reference"}})
		return
	}
	// Once the whole body is read, recording it and its receipt finishes even if the
	// client goes away: a retry then finds the receipt.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	acc, created, f := s.record(ctx, st, ch.Peer(), direction{name: "inbound", from: ch.Peer(), to: st.cfg.Self()}, ch.LegalBasis, ch.RetentionDays, c.identity, req)
	if f != nil {
		s.refuse(w, r, ch.Peer(), f)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.metrics.accepted.WithLabelValues(ch.Peer(), string(req.Type)).Inc()
	s.Log.Info("request accepted", "peer", ch.Peer(), "type", req.Type, "requestId", acc.RequestID, "new", created)
	writeJSON(w, status, acc)
}

// holdsRecords says whether a request's records (the request, its receipt, its
// transitions) are held under their cases when they are recorded: a
// preservation's are, and a mutual legal assistance request's, which may keep a
// preservation's data held past its period. No timer expires them while the
// preservation or an assistance request referring to it is open: the hold is
// released by a person with the vault's release role, when the case view says
// it is no longer held.
func holdsRecords(requestType string) bool {
	return requestType == string(requests.Preservation) || requestType == string(requests.MutualLegalAssistance)
}

// peekType reads the document's "type" member without validating anything else.
func peekType(body []byte) string {
	var head struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &head) != nil {
		return ""
	}
	return head.Type
}

// direction says which way a request went and whose log it is in.
type direction struct {
	name     string // "inbound" or "outbound"
	from, to string
}

// requestID is derived from the sender's country and reference, so every replica of
// the gateway names a request alike and a retry finds its first attempt.
func requestID(d direction, reference string) string {
	sum := sha256.Sum256([]byte(d.name + "\x00" + d.from + "\x00" + d.to + "\x00" + reference))
	return "rq-" + hex.EncodeToString(sum[:16])
}

// providerID is the identifier a provider-mode gateway publishes, "" for a State's.
func providerID(cfg *Config) string {
	if cfg.Provider == nil {
		return ""
	}
	return cfg.Provider.ID
}

func caseOf(d direction, peer, id string) string {
	return path.Join(d.name, peer, id)
}

func digestOf(req *requests.Request) vault.Digest {
	return vault.Digest("sha256:" + hex.EncodeToString(req.Digest[:]))
}

// record makes a request durable in the vault and returns its receipt: the request
// document (canonical JSON) under an exclusive case named after the request id, the
// custody entry naming the sender's certificate as actor, then the signed receipt
// under the case's "receipt" child. A retry with the same reference and content
// finds both and answers the same receipt; other content under the same reference
// is a conflict. Only a receipt stored in the vault is ever returned.
//
// The first attempt, by far the most common, is recorded without listing the case
// first: it declares the case new, and the vault refuses it (409) if the case
// names anything already, this very request included; only then is the case
// listed, to tell a retry from a reused reference.
func (s *Server) record(ctx context.Context, st *state, peer string, d direction, legalBasis string, retentionDays int32,
	actor vault.Identity, req *requests.Request) (wire.Accepted, bool, *refusal) {
	id := requestID(d, req.Reference)
	caseRef := caseOf(d, peer, id)
	keep := retainUntil(s.Now(), retentionDays)
	m := vault.Metadata{
		CaseReference: caseRef, LegalBasis: legalBasis,
		AuthorisationReference: accessReference(caseRef), AuthorisationExpiry: caseFileAccess(keep), RetentionUntil: keep,
		Exclusive: true, OwnerOnly: true, OnBehalfOf: &actor,
		// A preservation's request is held under its case: the vault expires
		// nothing held, whatever its retention says, until a releaser lets go.
		Hold: holdsRecords(string(req.Type)),
	}
	res, err := s.ingestNew(ctx, st, m, req.Canonical)
	switch {
	case err == nil:
		// Whoever stores the receipt first answers 201 (a concurrent retry gets
		// that receipt and 200); whether the vault held the same content for
		// another case does not count, so 201 tells a peer nothing of another's.
		return s.receiptFor(ctx, st, d, id, caseRef, req, res)
	case !vaultclient.IsStatus(err, http.StatusConflict):
		return wire.Accepted{}, false, s.vaultRefusal(err)
	}
	// The reference was recorded before: a retry, or another replica a moment ago.
	held, err := st.vault.ObjectsByCase(ctx, caseRef)
	if err != nil || len(held) == 0 {
		return wire.Accepted{}, false, s.vaultRefusal(fmt.Errorf("the reference is taken but its request cannot be listed: %w", err))
	}
	if held[0].Digest != digestOf(req) {
		return wire.Accepted{}, false, &refusal{http.StatusConflict, wire.Refusal{Reason: wire.ReasonReferenceReused,
			Error: "the reference was used before for a request with other content; use a new reference"}}
	}
	compact, err := s.storedReceipt(ctx, st, caseRef)
	if err != nil {
		return wire.Accepted{}, false, s.vaultRefusal(err)
	}
	if compact != "" {
		return wire.Accepted{RequestID: id, Receipt: compact}, false, nil
	}
	// The request was recorded but the gateway stopped before its receipt was: record
	// it again (the vault attaches the duplicate to the same object, in a custody
	// entry of its own) and issue the receipt on that entry.
	res, err = s.ingest(ctx, st, m, req.Canonical)
	if err != nil {
		return wire.Accepted{}, false, s.vaultRefusal(err)
	}
	// Whoever stores the receipt first answers 201, here too: a concurrent copy that
	// found the request before its receipt was stored may be that one, and the
	// copy that recorded the request then finds this receipt and answers 200.
	return s.receiptFor(ctx, st, d, id, caseRef, req, res)
}

// receiptFor signs the receipt of an ingest and stores it; if another replica (or a
// concurrent retry) stored one first, that one is answered and stored is false.
func (s *Server) receiptFor(ctx context.Context, st *state, d direction, id, caseRef string, req *requests.Request, res vault.IngestResult) (acc wire.Accepted, stored bool, f *refusal) {
	verifierKey, err := st.vaultVerifierKey(ctx)
	if err != nil {
		return wire.Accepted{}, false, s.vaultRefusal(err)
	}
	cp, err := vault.OpenCheckpoint([]byte(res.Checkpoint), verifierKey)
	if err != nil {
		return wire.Accepted{}, false, s.vaultRefusal(fmt.Errorf("the vault's checkpoint: %w", err))
	}
	proof, err := inclusionOf(ctx, st, res, cp.Size)
	if err != nil {
		return wire.Accepted{}, false, s.vaultRefusal(err)
	}
	var entry vault.Entry
	if err := json.Unmarshal(res.Entry, &entry); err != nil {
		return wire.Accepted{}, false, s.vaultRefusal(fmt.Errorf("the vault's custody entry: %w", err))
	}
	if err := vault.VerifyInclusion(cp, res.Sequence, res.Entry, proof); err != nil {
		return wire.Accepted{}, false, s.vaultRefusal(fmt.Errorf("the vault's inclusion proof: %w", err))
	}
	rc := receipt.Receipt{
		RequestID: id, Reference: req.Reference, Type: string(req.Type),
		Channel: d.from + "-" + d.to, From: d.from, To: d.to,
		Received: entry.Time, Digest: string(digestOf(req)),
		Custody: receipt.Custody{
			Sequence: res.Sequence, Entry: res.Entry, Checkpoint: res.Checkpoint,
			VerifierKey: verifierKey, InclusionProof: proof,
		},
	}
	compact, err := st.signer.Sign(rc)
	if err != nil {
		s.Log.Error(err, "signing a receipt")
		return wire.Accepted{}, false, &refusal{http.StatusInternalServerError, wire.Refusal{Reason: wire.ReasonVaultUnavailable,
			Error: "the receipt could not be signed; nothing was acknowledged"}}
	}
	receiptCase := path.Join(caseRef, "receipt")
	keep := res.RetentionUntil
	m := vault.Metadata{
		CaseReference: receiptCase, LegalBasis: entry.LegalBasis,
		AuthorisationReference: accessReference(receiptCase), AuthorisationExpiry: caseFileAccess(keep), RetentionUntil: keep,
		Exclusive: true, OwnerOnly: true, Hold: holdsRecords(string(req.Type)),
	}
	_, err = s.ingest(ctx, st, m, []byte(compact))
	if vaultclient.IsStatus(err, http.StatusConflict) {
		prior, rerr := s.storedReceipt(ctx, st, caseRef)
		if rerr != nil || prior == "" {
			return wire.Accepted{}, false, s.vaultRefusal(errors.Join(err, rerr))
		}
		return wire.Accepted{RequestID: id, Receipt: prior}, false, nil
	}
	if err != nil {
		return wire.Accepted{}, false, s.vaultRefusal(err)
	}
	s.receipts.put(path.Join(caseRef, "receipt"), compact)
	return wire.Accepted{RequestID: id, Receipt: compact}, true, nil
}

// inclusionOf is the inclusion proof of res's entry in the log of size entries its
// checkpoint commits to: the one the vault sent with the result, else (an older
// vault, or a proof of no hashes) asked for. Its caller verifies it either way.
func inclusionOf(ctx context.Context, st *state, res vault.IngestResult, size uint64) ([][]byte, error) {
	if len(res.InclusionProof) > 0 {
		return res.InclusionProof, nil
	}
	return st.vault.Inclusion(ctx, res.Sequence, size)
}

// storedReceipt reads the receipt stored under a request's case; "" when none is.
// A stored receipt never changes, so it is kept in memory once read (readCase): a
// sender that polls its request's state does not grow the custody log with reads.
func (s *Server) storedReceipt(ctx context.Context, st *state, caseRef string) (string, error) {
	return s.readCase(ctx, st, liveLocator(st), path.Join(caseRef, "receipt"))
}

// vaultRefusal answers a vault failure: the detail (internal addresses, TLS
// errors) goes to the log, not to the caller.
func (s *Server) vaultRefusal(err error) *refusal {
	s.Log.Error(err, "the vault failed a request")
	return &refusal{http.StatusServiceUnavailable, wire.Refusal{Reason: wire.ReasonVaultUnavailable,
		Error: "the request could not be made durable, nothing was acknowledged; retry with the same reference"}}
}

// requestState is GET /v1/requests/{id}: a sender reads the state of one of its
// own requests. Another sender's id is not found, exactly like an unknown one.
func (s *Server) requestState(w http.ResponseWriter, r *http.Request) {
	st := s.current.Load()
	c := s.identify(st, r)
	if c.channel == nil {
		s.refuse(w, r, "unknown", &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonNoChannel, Error: "no channel is for this client certificate"}})
		return
	}
	if st.vault == nil {
		s.refuse(w, r, c.channel.Peer(), &refusal{http.StatusServiceUnavailable, wire.Refusal{Reason: wire.ReasonVaultUnavailable, Error: st.vaultError}})
		return
	}
	id := r.PathValue("id")
	notFound := &refusal{http.StatusNotFound, wire.Refusal{Reason: wire.ReasonNotFound, Error: "no request of that id from this sender"}}
	if !validRequestID(id) {
		s.refuse(w, r, c.channel.Peer(), notFound)
		return
	}
	release, ok := s.acquire(c.channel.Peer())
	if !ok {
		s.refuse(w, r, c.channel.Peer(), &refusal{http.StatusTooManyRequests, wire.Refusal{Reason: wire.ReasonTooManyRequests,
			Error: fmt.Sprintf("more than %d requests from %s in flight", s.PerPeerConcurrency, c.channel.Peer())}})
		return
	}
	defer release()
	d := direction{name: "inbound", from: c.channel.Peer(), to: st.cfg.Self()}
	caseRef := caseOf(d, c.channel.Peer(), id)
	compact, err := s.storedReceipt(r.Context(), st, caseRef)
	if err != nil {
		s.refuse(w, r, c.channel.Peer(), s.vaultRefusal(err))
		return
	}
	if compact == "" {
		s.refuse(w, r, c.channel.Peer(), notFound)
		return
	}
	// The receipt was signed here and is read back from the vault, whose custody log
	// vouches for it; it is not re-verified, since its chain may have expired or its
	// CA been replaced since.
	rc, err := receipt.Peek(compact)
	if err != nil {
		s.Log.Error(err, "a stored receipt cannot be read", "requestId", id)
		s.refuse(w, r, c.channel.Peer(), s.vaultRefusal(errors.New("the stored receipt cannot be read")))
		return
	}
	h, updates, err := s.inboundHistory(r.Context(), st, liveLocator(st), caseRef, rc, true)
	if err != nil {
		s.refuse(w, r, c.channel.Peer(), s.vaultRefusal(err))
		return
	}
	writeJSON(w, http.StatusOK, wire.RequestState{
		RequestID: id, Type: rc.Type, Reference: rc.Reference, Received: rc.Received,
		State: h.State(), Receipt: compact, Updates: updates,
	})
}

func validRequestID(id string) bool {
	if len(id) != 35 || !strings.HasPrefix(id, "rq-") {
		return false
	}
	_, err := hex.DecodeString(id[3:])
	return err == nil
}

func trustBundleOf(st *state, now time.Time) receipt.TrustBundle {
	return receipt.TrustBundle{Country: st.cfg.Country, Provider: providerID(st.cfg), Bundle: string(st.ownTrustPEM), Issued: now.UTC()}
}

// vaultIngests bounds the gateway's ingests in flight, below the vault's own bound
// (8 by default), so that a burst of requests waits its turn here instead of being
// refused by the vault.
const vaultIngests = 6

// ingest records one object, waiting for one of the gateway's ingest slots.
func (s *Server) ingest(ctx context.Context, st *state, m vault.Metadata, body []byte) (vault.IngestResult, error) {
	return s.withVaultSlot(ctx, func() (vault.IngestResult, error) { return st.vault.Ingest(ctx, m, body) })
}

// ingestNew is ingest declaring the case new: the vault answers 409 if
// m.CaseReference names an object already (vaultclient.IngestNew).
func (s *Server) ingestNew(ctx context.Context, st *state, m vault.Metadata, body []byte) (vault.IngestResult, error) {
	return s.withVaultSlot(ctx, func() (vault.IngestResult, error) { return st.vault.IngestNew(ctx, m, body) })
}

func (s *Server) withVaultSlot(ctx context.Context, ingest func() (vault.IngestResult, error)) (vault.IngestResult, error) {
	select {
	case s.vaultSlots <- struct{}{}:
	case <-ctx.Done():
		return vault.IngestResult{}, ctx.Err()
	}
	defer func() { <-s.vaultSlots }()
	return ingest()
}

// accessReference is the authorisation reference a stored request or receipt is read
// with. The vault admits a reader by it, so it must not be guessable from the case;
// the gateway finds it again in its own listing of the case, which shows the
// references only to the client that ingested (or relayed) under them.
func accessReference(caseRef string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return caseRef + "/access-" + hex.EncodeToString(b[:])
}

// receiptCache holds receipts read back or stored, by request case; bounded, since
// each is a few kilobytes.
type receiptCache struct {
	mu      sync.Mutex
	entries map[string]string
}

const receiptCacheSize = 4096

func (c *receiptCache) get(caseRef string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.entries[caseRef]
	return v, ok
}

func (c *receiptCache) put(caseRef, compact string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]string{}
	}
	if len(c.entries) >= receiptCacheSize {
		for k := range c.entries { // evict one at random: any is as good as another
			delete(c.entries, k)
			break
		}
	}
	c.entries[caseRef] = compact
}
