package receipt

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
)

// TypeStatusUpdate is the JWS type of a status update.
const TypeStatusUpdate = "cybercoop-status-update+jws"

// StatusUpdate is what the requested side's gateway signs when a request moves
// through its lifecycle: the transition, and the proof that its vault recorded
// it (the transition document's ingest, by its canonical digest). The sender's
// gateway verifies it and keeps it, like a receipt.
type StatusUpdate struct {
	RequestID string `json:"requestId"`
	Reference string `json:"reference"`
	Type      string `json:"type"`
	// Channel, From and To are the request's, as in its receipt: From sent it.
	Channel    string           `json:"channel"`
	From       string           `json:"from"`
	To         string           `json:"to"`
	Transition cases.Transition `json:"transition"`
	// Digest is "sha256:<hex>" of the transition's canonical JSON, the object
	// the custody entry records.
	Digest  string  `json:"digest"`
	Custody Custody `json:"custody"`
}

// SignUpdate returns u as a compact JWS of type TypeStatusUpdate, refusing what
// VerifyUpdate would refuse.
func (s *Signer) SignUpdate(u StatusUpdate) (string, error) {
	if err := checkUpdate(u); err != nil {
		return "", updateError(u, err)
	}
	payload, err := json.Marshal(u)
	if err != nil {
		return "", updateError(u, err)
	}
	compact, err := s.sign(payload, TypeStatusUpdate)
	if err != nil {
		return "", updateError(u, err)
	}
	return compact, nil
}

// VerifyUpdate checks a compact status update as Verify checks a receipt (type,
// algorithm, chain to roots as a serving certificate for expectedServerName,
// strict payload) and that the transition is valid on its own, is the
// request's, and is the object whose ingest the custody proof shows. The
// caller checks that it follows the transitions it holds.
func VerifyUpdate(compact string, roots *x509.CertPool, expectedServerName string, now time.Time) (*StatusUpdate, *x509.Certificate, error) {
	payload, leaf, err := verifyJWS(compact, TypeStatusUpdate, roots, expectedServerName, now)
	if err != nil {
		return nil, nil, fmt.Errorf("status update: %w", err)
	}
	var u StatusUpdate
	if err := decodeStrict(payload, &u); err != nil {
		return nil, nil, fmt.Errorf("status update payload: %w", err)
	}
	if err := checkUpdate(u); err != nil {
		return nil, nil, updateError(u, err)
	}
	if u.Transition.Time.After(now.Add(maxIssuedAhead)) {
		return nil, nil, updateError(u, fmt.Errorf("transition.time: %s is more than %s after now (%s)",
			u.Transition.Time.UTC().Format(time.RFC3339), maxIssuedAhead, now.UTC().Format(time.RFC3339)))
	}
	return &u, leaf, nil
}

// PeekUpdate decodes a status update without verifying it: for a gateway reading
// back updates from its own vault.
func PeekUpdate(compact string) (*StatusUpdate, error) {
	payload, err := compactPayload(compact)
	if err != nil {
		return nil, err
	}
	var u StatusUpdate
	if err := decodeStrict(payload, &u); err != nil {
		return nil, fmt.Errorf("status update payload: %w", err)
	}
	return &u, nil
}

func checkUpdate(u StatusUpdate) error {
	if err := checkReceipt(Receipt{RequestID: u.RequestID, Reference: u.Reference, Type: u.Type, Channel: u.Channel,
		From: u.From, To: u.To, Received: u.Transition.Time, Digest: u.Digest, Custody: u.Custody}); err != nil {
		return err
	}
	if u.Transition.RequestID != u.RequestID {
		return fmt.Errorf("transition.requestId: %q is not the update's request %q", truncate(u.Transition.RequestID), u.RequestID)
	}
	if err := u.Transition.Check(); err != nil {
		return fmt.Errorf("transition: %w", err)
	}
	canonical, err := u.Transition.Canonical()
	if err != nil {
		return fmt.Errorf("transition: %w", err)
	}
	sum := sha256.Sum256(canonical)
	if want := "sha256:" + hex.EncodeToString(sum[:]); u.Digest != want {
		return fmt.Errorf("digest: %s is not the digest of the transition (%s)", u.Digest, want)
	}
	return nil
}

func updateError(u StatusUpdate, err error) error {
	if u.RequestID == "" {
		return fmt.Errorf("status update: %w", err)
	}
	return fmt.Errorf("status update %d of request %s: %w", u.Transition.Sequence, truncate(u.RequestID), err)
}
