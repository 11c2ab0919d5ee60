package gateway

import (
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

	"github.com/cybercoop/cybercoop-operator/internal/gateway/peer"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
	"github.com/cybercoop/cybercoop-operator/internal/vaultclient"
)

// Evidence shared for a joint investigation (article 48), in the vault of the
// State that holds it:
//
//	joint/<case>/evidence/<sha256 hex>          an item an officer marked for the case
//	joint/<case>/fetched/<peer>/<sha256 hex>    each fetch by a party, actor the party
//
// and in the vault of a party that fetched it:
//
//	joint/<case>/from/<peer>/<sha256 hex>       the item, actor the officer who fetched it
//
// Only the parties' channels are served, only until the end date; anyone else is
// told the case does not exist.

// jointCaseID is the shape of a case id (JointInvestigation spec.caseId).
var jointCaseID = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{1,62}[A-Z0-9]$`)

// maxJointEvidence bounds one shared item: documents, logs and exports, not
// disk images (which travel by the vault's export).
const maxJointEvidence = 32 << 20

// jointMinRetentionDays is how long after the end date a shared item is kept.
const jointMinRetentionDays = 60

func jointEvidenceCase(caseID, hexDigest string) string {
	return "joint/" + caseID + "/evidence/" + hexDigest
}

func jointFetchedCase(caseID, peer, hexDigest string) string {
	return "joint/" + caseID + "/fetched/" + peer + "/" + hexDigest
}

func jointFromCase(caseID, peer, hexDigest string) string {
	return "joint/" + caseID + "/from/" + peer + "/" + hexDigest
}

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

// jointRetention keeps an item 60 days past the end date (and at least the
// vault's minimum from now).
func jointRetention(now, end time.Time) time.Time {
	base := now
	if end.After(now) {
		base = end
	}
	return retainUntil(base, jointMinRetentionDays)
}

// shareEvidence is POST /v1/joint/{case}/evidence: an officer marks an item for a
// joint investigation. The body is the item; the answer names it by digest.
func (s *Server) shareEvidence(w http.ResponseWriter, r *http.Request) {
	st := s.current.Load()
	c, ok := s.officerOnly(w, r, st)
	if !ok {
		return
	}
	ji := st.joint[r.PathValue("case")]
	if ji == nil {
		s.refuse(w, r, officersKey, &refusal{http.StatusNotFound, wire.Refusal{Reason: wire.ReasonNotFound, Error: "no joint investigation of that case id"}})
		return
	}
	if !s.Now().Before(ji.EndDate) {
		s.refuse(w, r, officersKey, &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonJointInvestigationEnded,
			Error: fmt.Sprintf("the joint investigation ended at %s", ji.EndDate.UTC().Format(time.RFC3339))}})
		return
	}
	body, f := readBodyUpTo(w, r, maxJointEvidence)
	if f != nil {
		s.refuse(w, r, officersKey, f)
		return
	}
	if len(body) == 0 {
		s.refuse(w, r, officersKey, &refusal{http.StatusBadRequest, wire.Refusal{Reason: wire.ReasonMalformedRequest, Error: "the item is empty"}})
		return
	}
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])
	caseRef := jointEvidenceCase(ji.CaseID, digest)
	keep := jointRetention(s.Now(), ji.EndDate)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Minute)
	defer cancel()
	res, err := s.ingest(ctx, st, vault.Metadata{CaseReference: caseRef, LegalBasis: "UNCC art. 48; " + ji.Agreement,
		AuthorisationReference: accessReference(caseRef), AuthorisationExpiry: caseFileAccess(keep), RetentionUntil: keep,
		Exclusive: true, OwnerOnly: true, OnBehalfOf: &c.identity}, body)
	if err != nil && !vaultclient.IsStatus(err, http.StatusConflict) { // 409: the same item is shared already
		s.refuse(w, r, officersKey, s.vaultRefusal(err))
		return
	}
	s.Log.Info("evidence shared for a joint investigation", "case", ji.CaseID, "digest", "sha256:"+digest, "bytes", len(body), "new", err == nil)
	status := http.StatusOK
	if err == nil {
		status = http.StatusCreated
	}
	writeJSON(w, status, wire.JointItem{Digest: "sha256:" + digest, Size: int64(len(body)), Sequence: res.Sequence})
}

// jointFor resolves a party's call: the investigation, if the caller's channel
// is one of its parties; otherwise it is not found, like one that does not exist.
func (s *Server) jointFor(w http.ResponseWriter, r *http.Request, st *state) (*JointInvestigation, *channel, caller, bool) {
	c := s.identify(st, r)
	if c.channel == nil {
		s.refuse(w, r, "unknown", &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonNoChannel, Error: "no channel is for this client certificate"}})
		return nil, nil, c, false
	}
	ji := st.joint[r.PathValue("case")]
	// A provider is never a party (article 48 is between States), whatever the
	// channels file says.
	if ji == nil || !slices.Contains(ji.Parties, c.channel.Name) || c.channel.Provider != "" {
		s.refuse(w, r, c.channel.Peer(), &refusal{http.StatusNotFound, wire.Refusal{Reason: wire.ReasonNotFound, Error: "no joint investigation of that case id with this State"}})
		return nil, nil, c, false
	}
	if !s.Now().Before(ji.EndDate) {
		s.refuse(w, r, c.channel.Peer(), &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonJointInvestigationEnded,
			Error: fmt.Sprintf("the joint investigation ended at %s", ji.EndDate.UTC().Format(time.RFC3339))}})
		return nil, nil, c, false
	}
	if st.vault == nil {
		s.refuse(w, r, c.channel.Peer(), &refusal{http.StatusServiceUnavailable, wire.Refusal{Reason: wire.ReasonVaultUnavailable, Error: st.vaultError}})
		return nil, nil, c, false
	}
	return ji, c.channel, c, true
}

// jointItems lists the items shared for a case, from the vault's listing.
func (s *Server) jointItems(ctx context.Context, st *state, caseID string) ([]wire.JointItem, []vault.ObjectInfo, error) {
	objects, err := st.vault.Objects(ctx)
	if err != nil {
		return nil, nil, err
	}
	prefix := "joint/" + caseID + "/evidence/"
	items := []wire.JointItem{}
	for _, o := range objects {
		for _, ci := range o.Cases {
			if d, ok := strings.CutPrefix(ci.Metadata.CaseReference, prefix); ok && hexDigest.MatchString(d) {
				items = append(items, wire.JointItem{Digest: "sha256:" + d, Size: o.Size, Shared: o.IngestedAt})
			}
		}
	}
	slices.SortFunc(items, func(a, b wire.JointItem) int { return a.Shared.Compare(b.Shared) })
	return items, objects, nil
}

// listJoint is GET /v1/joint/{case}/evidence: a party lists what is shared.
func (s *Server) listJoint(w http.ResponseWriter, r *http.Request) {
	st := s.current.Load()
	ji, ch, _, ok := s.jointFor(w, r, st)
	if !ok {
		return
	}
	items, _, err := s.jointItems(r.Context(), st, ji.CaseID)
	if err != nil {
		s.refuse(w, r, ch.Peer(), s.vaultRefusal(err))
		return
	}
	writeJSON(w, http.StatusOK, wire.JointItems{CaseID: ji.CaseID, EndDate: ji.EndDate, Items: items})
}

// fetchJoint is GET /v1/joint/{case}/evidence/{digest}: a party fetches one item.
// The fetch is recorded first, with the party as actor; no byte leaves before.
func (s *Server) fetchJoint(w http.ResponseWriter, r *http.Request) {
	st := s.current.Load()
	ji, ch, c, ok := s.jointFor(w, r, st)
	if !ok {
		return
	}
	d := strings.TrimPrefix(r.PathValue("digest"), "sha256:")
	notFound := &refusal{http.StatusNotFound, wire.Refusal{Reason: wire.ReasonNotFound, Error: "no item of that digest is shared for the case"}}
	if !hexDigest.MatchString(d) {
		s.refuse(w, r, ch.Peer(), notFound)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Minute)
	defer cancel()
	caseRef := jointEvidenceCase(ji.CaseID, d)
	held, err := st.vault.ObjectsByCase(ctx, caseRef)
	if err != nil {
		s.refuse(w, r, ch.Peer(), s.vaultRefusal(err))
		return
	}
	if len(held) == 0 {
		s.refuse(w, r, ch.Peer(), notFound)
		return
	}
	access := accessOf(held[0], caseRef)
	record, _ := json.Marshal(map[string]string{"case": ji.CaseID, "item": "sha256:" + d, "party": ch.Peer(), "channel": ch.Name,
		"time": s.Now().UTC().Format(time.RFC3339Nano)})
	fetched := jointFetchedCase(ji.CaseID, ch.Peer(), d)
	keep := jointRetention(s.Now(), ji.EndDate)
	if _, err := s.ingest(ctx, st, vault.Metadata{CaseReference: fetched, LegalBasis: "UNCC art. 48; " + ji.Agreement,
		AuthorisationReference: accessReference(fetched), AuthorisationExpiry: caseFileAccess(keep), RetentionUntil: keep,
		OwnerOnly: true, OnBehalfOf: &c.identity}, record); err != nil {
		s.refuse(w, r, ch.Peer(), s.vaultRefusal(err))
		return
	}
	body, err := st.vault.Read(ctx, held[0].Digest, access, maxJointEvidence)
	if err != nil {
		s.refuse(w, r, ch.Peer(), s.vaultRefusal(err))
		return
	}
	s.Log.Info("a party fetched evidence shared for a joint investigation", "case", ji.CaseID, "peer", ch.Peer(), "digest", "sha256:"+d)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Digest", "sha-256="+d)
	_, _ = w.Write(body)
}

// fetchFromParty is GET /v1/outbound/{channel}/joint/{case}/evidence[/{digest}]:
// an officer lists what a party shares, or fetches an item, which is checked
// against its digest and kept in this State's vault before it is answered.
func (s *Server) fetchFromParty(w http.ResponseWriter, r *http.Request) {
	st := s.current.Load()
	c, ok := s.officerOnly(w, r, st)
	if !ok {
		return
	}
	ch := st.channels[r.PathValue("channel")]
	caseID := r.PathValue("case")
	if ch == nil || !jointCaseID.MatchString(caseID) {
		s.refuse(w, r, officersKey, &refusal{http.StatusNotFound, wire.Refusal{Reason: wire.ReasonUnknownChannel, Error: "no channel of that name, or no such case id"}})
		return
	}
	if ch.Provider != "" || ch.providerMode {
		s.refuse(w, r, officersKey, &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonProviderMode,
			Error: "joint investigations are between States (article 48): a service provider is no party"}})
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Minute)
	defer cancel()
	d := strings.TrimPrefix(r.PathValue("digest"), "sha256:")
	if d == "" {
		items, err := ch.client.JointItems(ctx, caseID)
		if err != nil {
			s.refuse(w, r, officersKey, peerRefusal(ch, err))
			return
		}
		writeJSON(w, http.StatusOK, items)
		return
	}
	if !hexDigest.MatchString(d) {
		s.refuse(w, r, officersKey, &refusal{http.StatusNotFound, wire.Refusal{Reason: wire.ReasonNotFound, Error: "an item is named by its sha256 digest"}})
		return
	}
	body, err := ch.client.JointItem(ctx, caseID, d, maxJointEvidence)
	if err != nil {
		s.refuse(w, r, officersKey, peerRefusal(ch, err))
		return
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != d {
		s.refuse(w, r, officersKey, &refusal{http.StatusBadGateway, wire.Refusal{Reason: wire.ReasonPeerUnavailable,
			Error: fmt.Sprintf("%s answered content that does not hash to the digest asked for", ch.Peer())}})
		return
	}
	caseRef := jointFromCase(caseID, ch.Peer(), d)
	keep := retainUntil(s.Now(), max(ch.RetentionDays, jointMinRetentionDays))
	_, err = s.ingest(ctx, st, vault.Metadata{CaseReference: caseRef, LegalBasis: "UNCC art. 48; joint investigation " + caseID + " with " + ch.Peer(),
		AuthorisationReference: accessReference(caseRef), AuthorisationExpiry: caseFileAccess(keep), RetentionUntil: keep,
		Exclusive: true, OwnerOnly: true, OnBehalfOf: &c.identity}, body)
	if err != nil && !vaultclient.IsStatus(err, http.StatusConflict) {
		s.refuse(w, r, officersKey, s.vaultRefusal(err))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

// peerRefusal answers an officer whose call to a peer failed.
func peerRefusal(ch *channel, err error) *refusal {
	var pe *peer.Error
	if errors.As(err, &pe) {
		return relayed(ch, pe, "")
	}
	return &refusal{http.StatusBadGateway, wire.Refusal{Reason: wire.ReasonPeerUnavailable, Error: fmt.Sprintf("%s could not be reached: %v", ch.Peer(), err)}}
}

// relayed is a peer's refusal as this gateway tells its officers: the peer's
// status if it is a client error (else 502), the peer's reason if it is one a
// gateway gives (else PeerRefused): a peer chooses neither this gateway's
// metric labels nor a success status. The peer's words go in Error, cut short.
func relayed(ch *channel, pe *peer.Error, what string) *refusal {
	status, reason := pe.Status, pe.Refusal.Reason
	if status < 400 || status > 499 {
		status = http.StatusBadGateway
	}
	if !slices.Contains(wire.Reasons, reason) {
		reason = wire.ReasonPeerRefused
	}
	msg := fmt.Sprintf("%s: %s", ch.Peer(), truncateText(pe.Refusal.Error, 512))
	if what != "" {
		msg = fmt.Sprintf("%s refused %s (%s): %s", ch.Peer(), what, truncateText(pe.Refusal.Reason, 64), truncateText(pe.Refusal.Error, 512))
	}
	return &refusal{status, wire.Refusal{Reason: reason, Error: msg, Fields: pe.Refusal.Fields}}
}
