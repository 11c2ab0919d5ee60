package receipt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/transparency-dev/merkle/proof"

	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// Custody is the vault's proof that the request was recorded.
type Custody struct {
	// Sequence is the custody entry's number (Merkle leaf Sequence-1).
	Sequence uint64 `json:"sequence"`
	// Entry is the exact custody log line, without its newline: the Merkle
	// leaf data.
	Entry []byte `json:"entry"`
	// Checkpoint is the vault's signed checkpoint (C2SP signed note) covering
	// the entry.
	Checkpoint string `json:"checkpoint"`
	// VerifierKey is the vault's checkpoint verifier key ("name+hash+key").
	VerifierKey string `json:"verifierKey"`
	// InclusionProof is the RFC 6962 audit path from the entry to the
	// checkpoint's root.
	InclusionProof [][]byte `json:"inclusionProof"`
}

// Receipt is what a gateway signs when it has accepted a request and the
// request is durable in its vault.
type Receipt struct {
	RequestID string `json:"requestId"`
	// Reference is the sender's reference; optional.
	Reference string `json:"reference"`
	// Type is the request type.
	Type string `json:"type"`
	// Channel is "<From>-<To>", e.g. "FR-VN".
	Channel string `json:"channel"`
	// From and To are the ISO 3166-1 alpha-2 codes of sender and receiver.
	From string `json:"from"`
	To   string `json:"to"`
	// Received is when the receiving gateway accepted the request.
	Received time.Time `json:"received"`
	// Digest is "sha256:<hex>" of the request's RFC 8785 canonical JSON: the
	// content address under which the vault holds the request.
	Digest  string  `json:"digest"`
	Custody Custody `json:"custody"`
}

// Bounds on what a receipt may carry; a compact JWS is bounded as a whole by
// MaxCompactBytes before any of this is looked at.
const (
	maxIDBytes          = 256
	maxTypeBytes        = 128
	maxCheckpointBytes  = 16 << 10
	maxVerifierKeyBytes = 1 << 10
	// maxProofHashes is an audit path for a log of 2^64 entries.
	maxProofHashes = 64
	proofHashBytes = 32
)

// Signer signs receipts and trust bundles with a gateway's serving key.
// It is immutable; build a new one when the serving certificate is renewed.
type Signer struct {
	key crypto.Signer
	alg jose.SignatureAlgorithm
	// x5c is the chain as the x5c header carries it: standard base64 DER.
	x5c []string
}

// NewSigner checks that key is an ECDSA P-256 or P-384 key, that it is the
// key of chain[0] (the serving certificate), that the serving certificate may
// be used for TLS server authentication, and that each certificate of chain
// is signed by the next. The national CA may end the chain or be left out.
func NewSigner(key crypto.Signer, chain []*x509.Certificate) (*Signer, error) {
	if key == nil {
		return nil, errors.New("receipt signer: no serving key")
	}
	alg, err := algorithmFor(key.Public())
	if err != nil {
		return nil, fmt.Errorf("receipt signer: serving %w", err)
	}
	if len(chain) == 0 {
		return nil, errors.New("receipt signer: no certificate chain (the serving certificate first)")
	}
	if len(chain) > maxChainCertificates {
		return nil, fmt.Errorf("receipt signer: chain has %d certificates; at most %d are accepted", len(chain), maxChainCertificates)
	}
	if slices.Contains(chain, nil) {
		return nil, errors.New("receipt signer: chain contains a nil certificate")
	}
	leaf := chain[0]
	leafKey, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || !leafKey.Equal(key.Public()) {
		return nil, fmt.Errorf("receipt signer: the serving key is not the key of chain[0], certificate %s", describe(leaf))
	}
	if len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return nil, fmt.Errorf("receipt signer: certificate %s is not a serving certificate (no serverAuth extended key usage); peers would refuse its signatures", describe(leaf))
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, fmt.Errorf("receipt signer: certificate %s lacks the digitalSignature key usage; peers would refuse its signatures", describe(leaf))
	}
	x5c := make([]string, len(chain))
	for i, c := range chain {
		if i+1 < len(chain) {
			if err := c.CheckSignatureFrom(chain[i+1]); err != nil {
				return nil, fmt.Errorf("receipt signer: chain[%d] %s is not signed by chain[%d] %s (the chain must go leaf first, each certificate followed by its issuer): %w",
					i, describe(c), i+1, describe(chain[i+1]), err)
			}
		}
		x5c[i] = base64.StdEncoding.EncodeToString(c.Raw)
	}
	return &Signer{key: key, alg: alg, x5c: x5c}, nil
}

// Sign returns r as a compact JWS of type TypeReceipt. It refuses a receipt
// that Verify would refuse for its content, custody proof included, so a
// gateway never hands out a receipt that does not prove anything.
func (s *Signer) Sign(r Receipt) (string, error) {
	if err := checkReceipt(r); err != nil {
		return "", receiptError(r, err)
	}
	payload, err := json.Marshal(r)
	if err != nil {
		return "", receiptError(r, fmt.Errorf("encoding: %w", err))
	}
	compact, err := s.sign(payload, TypeReceipt)
	if err != nil {
		return "", receiptError(r, err)
	}
	return compact, nil
}

// Verify checks a compact receipt and returns it with the certificate that
// signed it:
//   - the JWS is of type TypeReceipt, signed with ES256 or ES384 (never
//     none, HS*, RS* or PS*) matching the signing key's curve;
//   - the x5c chain verifies to roots at now as a serving certificate
//     (serverAuth), and, if expectedServerName is not empty, the signing
//     certificate is valid for that DNS name;
//   - the payload decodes strictly (unknown or repeated fields refused);
//   - the custody proof holds: the checkpoint opens with VerifierKey, Entry
//     is entry Sequence of the checkpoint's tree by InclusionProof, and the
//     entry records an ingest of object Digest.
//
// The caller still checks what only it knows: that To is the peer it sent
// to, From is itself, and Reference and Digest are its request's.
func Verify(compact string, roots *x509.CertPool, expectedServerName string, now time.Time) (*Receipt, *x509.Certificate, error) {
	payload, leaf, err := verifyJWS(compact, TypeReceipt, roots, expectedServerName, now)
	if err != nil {
		return nil, nil, fmt.Errorf("receipt: %w", err)
	}
	var r Receipt
	if err := decodeStrict(payload, &r); err != nil {
		return nil, nil, fmt.Errorf("receipt payload: %w", err)
	}
	if err := checkReceipt(r); err != nil {
		return nil, nil, receiptError(r, err)
	}
	// A receipt dated in the future would move the deadline its sender counts
	// from; the two gateways' clocks differ by minutes, not more.
	if r.Received.After(now.Add(maxIssuedAhead)) {
		return nil, nil, receiptError(r, fmt.Errorf("received: %s is more than %s after now (%s)",
			r.Received.UTC().Format(time.RFC3339), maxIssuedAhead, now.UTC().Format(time.RFC3339)))
	}
	return &r, leaf, nil
}

// receiptError names the receipt's request, if it has an id, in err.
func receiptError(r Receipt, err error) error {
	if r.RequestID == "" {
		return fmt.Errorf("receipt: %w", err)
	}
	return fmt.Errorf("receipt for request %q: %w", truncate(r.RequestID), err)
}

// checkReceipt checks a receipt's fields and its custody proof.
func checkReceipt(r Receipt) error {
	if err := checkText("requestId", r.RequestID, maxIDBytes, true); err != nil {
		return err
	}
	if err := checkText("reference", r.Reference, maxIDBytes, false); err != nil {
		return err
	}
	if err := checkText("type", r.Type, maxTypeBytes, true); err != nil {
		return err
	}
	if err := CheckParty("from", r.From); err != nil {
		return err
	}
	if err := CheckParty("to", r.To); err != nil {
		return err
	}
	if want := r.From + "-" + r.To; r.Channel != want {
		return fmt.Errorf("channel: %q is not %q (from-to)", truncate(r.Channel), want)
	}
	if r.Received.IsZero() {
		return errors.New("received: is missing")
	}
	if _, err := vault.ParseDigest(r.Digest); err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	return checkCustody(r.Custody, r.Digest)
}

// checkCustody checks that c proves the vault recorded an ingest of digest.
func checkCustody(c Custody, digest string) error {
	switch {
	case c.Sequence == 0:
		return errors.New("custody.sequence: is missing (custody entries count from 1)")
	case len(c.Entry) == 0:
		return errors.New("custody.entry: is missing")
	case len(c.Entry) >= vault.MaxEntryBytes:
		return fmt.Errorf("custody.entry: %d bytes is over the vault's %d-byte entry limit", len(c.Entry), vault.MaxEntryBytes)
	case c.Checkpoint == "":
		return errors.New("custody.checkpoint: is missing")
	case len(c.Checkpoint) > maxCheckpointBytes:
		return fmt.Errorf("custody.checkpoint: %d bytes is over the %d-byte limit", len(c.Checkpoint), maxCheckpointBytes)
	case c.VerifierKey == "":
		return errors.New("custody.verifierKey: is missing")
	case len(c.VerifierKey) > maxVerifierKeyBytes:
		return fmt.Errorf("custody.verifierKey: %d bytes is over the %d-byte limit", len(c.VerifierKey), maxVerifierKeyBytes)
	case len(c.InclusionProof) > maxProofHashes:
		return fmt.Errorf("custody.inclusionProof: %d hashes; an audit path has at most %d", len(c.InclusionProof), maxProofHashes)
	}
	for i, h := range c.InclusionProof {
		if len(h) != proofHashBytes {
			return fmt.Errorf("custody.inclusionProof[%d]: %d bytes, not a %d-byte SHA-256 hash", i, len(h), proofHashBytes)
		}
	}
	checkpoint, err := vault.OpenCheckpoint([]byte(c.Checkpoint), c.VerifierKey)
	if err != nil {
		return fmt.Errorf("custody.checkpoint does not open with custody.verifierKey: %w", err)
	}
	if err := vault.VerifyInclusion(checkpoint, c.Sequence, c.Entry, c.InclusionProof); err != nil {
		if errors.As(err, new(proof.RootMismatchError)) {
			// Its message is both roots in hex over four lines; which root
			// the path led to tells the reader nothing.
			err = errors.New("the audit path leads to another root")
		}
		return fmt.Errorf("custody.inclusionProof does not prove custody.entry is entry %d of the checkpoint's %d entries: %w",
			c.Sequence, checkpoint.Size, err)
	}
	entry, err := vault.DecodeEntry(c.Entry)
	if err != nil {
		return fmt.Errorf("custody.entry is not a custody log entry: %w", err)
	}
	if entry.Seq != c.Sequence {
		return fmt.Errorf("custody.entry is entry %d, not custody.sequence %d", entry.Seq, c.Sequence)
	}
	if entry.Action != vault.ActionIngest {
		return fmt.Errorf("custody entry %d records %q, not an ingest", entry.Seq, truncate(string(entry.Action)))
	}
	if string(entry.Object) != digest {
		return fmt.Errorf("custody entry %d records the ingest of object %s, not of the request %s", entry.Seq, entry.Object, digest)
	}
	return nil
}

// checkText bounds a text field and refuses control characters and invalid
// UTF-8, which would otherwise reach logs and user interfaces verbatim.
func checkText(field, s string, maxBytes int, required bool) error {
	if s == "" {
		if required {
			return fmt.Errorf("%s: is missing", field)
		}
		return nil
	}
	if len(s) > maxBytes {
		return fmt.Errorf("%s: %d bytes is over the %d-byte limit", field, len(s), maxBytes)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s: is not valid UTF-8", field)
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return fmt.Errorf("%s: contains the control character %U", field, c)
		}
	}
	return nil
}

// checkCountry accepts the shape of an ISO 3166-1 alpha-2 code; the API's
// schema holds the list of assigned codes.
func checkCountry(field, c string) error {
	if IsCountry(c) {
		return nil
	}
	return fmt.Errorf("%s: %q is not an ISO 3166-1 alpha-2 code (two capital letters, e.g. \"KE\")", field, truncate(c))
}

// IsCountry reports whether p has the shape of an ISO 3166-1 alpha-2 code.
func IsCountry(p string) bool {
	return len(p) == 2 && 'A' <= p[0] && p[0] <= 'Z' && 'A' <= p[1] && p[1] <= 'Z'
}

// IsProvider reports whether p has the shape of a service provider's
// identifier: a lower-case DNS label of 3 to 63 characters. The two shapes
// never overlap, so a provider cannot pass for a State.
func IsProvider(p string) bool {
	if len(p) < 3 || len(p) > 63 || p[0] == '-' || p[len(p)-1] == '-' {
		return false
	}
	for i := 0; i < len(p); i++ {
		lower, digit := 'a' <= p[i] && p[i] <= 'z', '0' <= p[i] && p[i] <= '9'
		if !lower && !digit && p[i] != '-' {
			return false
		}
	}
	return true
}

// CheckParty accepts a party to a request: a State by its alpha-2 code or a
// service provider by its identifier.
func CheckParty(field, p string) error {
	if IsCountry(p) || IsProvider(p) {
		return nil
	}
	return fmt.Errorf("%s: %q is neither an ISO 3166-1 alpha-2 code (two capital letters, e.g. \"KE\") nor a service provider's identifier (a lower-case DNS label of 3 to 63 characters, e.g. \"example-mail\")", field, truncate(p))
}

// Peek decodes a receipt's payload without verifying its signature or chain. It is
// for a gateway reading back receipts it signed and stored in its own vault, whose
// custody log vouches for them; a receipt from anyone else goes through Verify.
func Peek(compact string) (*Receipt, error) {
	payload, err := compactPayload(compact)
	if err != nil {
		return nil, err
	}
	var r Receipt
	if err := decodeStrict(payload, &r); err != nil {
		return nil, fmt.Errorf("receipt payload: %w", err)
	}
	return &r, nil
}

// compactPayload is the payload of a compact JWS, unverified.
func compactPayload(compact string) ([]byte, error) {
	if len(compact) > MaxCompactBytes {
		return nil, fmt.Errorf("%d bytes is over the %d-byte limit", len(compact), MaxCompactBytes)
	}
	segments := strings.Split(compact, ".")
	if len(segments) != 3 {
		return nil, fmt.Errorf("not a compact JWS: %d dot-separated segments, expected 3", len(segments))
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(segments[1])
	if err != nil {
		return nil, errors.New("not a compact JWS: the payload is not canonical base64url")
	}
	return payload, nil
}
