// Package receipt signs and verifies the two documents one State's gateway
// hands another: the receipt for an accepted request, which carries the
// vault's proof that the request was recorded, and the State's trust bundle,
// which lets a peer learn a new CA during a CA key replacement.
//
// Both are compact JWS (RFC 7515) signed by the gateway's serving key: ES256
// for a P-256 key, ES384 for a P-384 key, nothing else. The protected header
// holds exactly alg, typ and x5c (the serving certificate chain, leaf first),
// and the typ tells the two documents apart, so neither is ever accepted as
// the other.
package receipt

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
)

const (
	// TypeReceipt is the typ header of a receipt.
	TypeReceipt = "cybercoop-receipt+jws"
	// TypeTrustBundle is the typ header of a signed trust bundle.
	TypeTrustBundle = "cybercoop-trust-bundle+jws"

	// MaxCompactBytes bounds a compact JWS; longer input is refused before
	// it is decoded.
	MaxCompactBytes = 1 << 20
	// maxChainCertificates bounds the x5c header: leaf, intermediates, and
	// perhaps the national CA.
	maxChainCertificates = 8
)

// algorithms are the only signature algorithms either document is ever
// signed or accepted with. Listing them is what makes "none", HS256 signed
// with the public key as secret, and RS*/PS* fail before any key is used.
var algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384}

// algorithmFor returns the JWS algorithm for an ECDSA public key, by curve.
func algorithmFor(pub crypto.PublicKey) (jose.SignatureAlgorithm, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return "", fmt.Errorf("key is %s, not ECDSA (P-256 or P-384)", keyKind(pub))
	}
	switch k.Curve {
	case elliptic.P256():
		return jose.ES256, nil
	case elliptic.P384():
		return jose.ES384, nil
	}
	return "", fmt.Errorf("key is ECDSA on %s, not P-256 or P-384", k.Curve.Params().Name)
}

func keyKind(pub crypto.PublicKey) string {
	switch pub.(type) {
	case nil:
		return "missing"
	case *ecdsa.PublicKey:
		return "ECDSA"
	}
	// The type name says what kind of key it is without printing any of it.
	return fmt.Sprintf("a %T", pub)
}

// protectedHeader is the whole protected header either document may carry.
type protectedHeader struct {
	Alg string   `json:"alg"`
	Typ string   `json:"typ"`
	X5c []string `json:"x5c"`
}

// sign signs payload as a compact JWS of type typ.
func (s *Signer) sign(payload []byte, typ string) (string, error) {
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("x5c", s.x5c)
	js, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: cryptosigner.Opaque(s.key)}, opts)
	if err != nil {
		return "", fmt.Errorf("preparing the %s signature: %w", s.alg, err)
	}
	obj, err := js.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("signing with the serving key (%s): %w", s.alg, err)
	}
	return obj.CompactSerialize()
}

// verifyJWS checks everything about a compact JWS of type typ except what its
// payload means, and returns the payload and the signing leaf certificate.
func verifyJWS(compact, typ string, roots *x509.CertPool, serverName string, now time.Time) ([]byte, *x509.Certificate, error) {
	if len(compact) > MaxCompactBytes {
		return nil, nil, fmt.Errorf("%d bytes is over the %d-byte limit", len(compact), MaxCompactBytes)
	}
	if roots == nil {
		// A nil pool would make x509 trust the system roots.
		return nil, nil, errors.New("no trusted CAs given (roots is nil)")
	}
	if now.IsZero() {
		return nil, nil, errors.New("no verification time given (now is zero)")
	}
	segments := strings.Split(compact, ".")
	if len(segments) != 3 {
		return nil, nil, fmt.Errorf("not a compact JWS: %d dot-separated segments, expected 3", len(segments))
	}
	for i, seg := range segments {
		// Go's base64 decoders skip newlines and accept non-zero padding
		// bits; a signed document has one spelling only.
		if !isBase64URL(seg) {
			return nil, nil, fmt.Errorf("not a compact JWS: segment %d holds characters outside base64url", i+1)
		}
		if _, err := base64.RawURLEncoding.Strict().DecodeString(seg); err != nil {
			return nil, nil, fmt.Errorf("not a compact JWS: segment %d is not canonical base64url without padding", i+1)
		}
	}
	hdr, err := parseProtectedHeader(segments[0])
	if err != nil {
		return nil, nil, err
	}
	if hdr.Typ != typ {
		return nil, nil, fmt.Errorf("typ is %q, expected %q", truncate(hdr.Typ), typ)
	}

	jws, err := jose.ParseSignedCompact(compact, algorithms)
	if err != nil {
		// go-jose's messages can quote the input; ours do not.
		return nil, nil, errors.New("not a well-formed compact JWS (base64url segments, JSON header)")
	}
	sig := jws.Signatures[0]
	if sig.Protected.Algorithm != hdr.Alg || sig.Protected.ExtraHeaders[jose.HeaderType] != hdr.Typ {
		return nil, nil, errors.New("protected header reads differently to two JSON parsers")
	}

	chains, err := sig.Protected.Certificates(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("certificate chain (x5c) does not verify to the trusted CAs as a serving certificate at %s: %w",
			now.UTC().Format(time.RFC3339), err)
	}
	leaf := chains[0][0]
	leafAlg, err := algorithmFor(leaf.PublicKey)
	if err != nil {
		return nil, leaf, fmt.Errorf("signing certificate %s: %w", describe(leaf), err)
	}
	if string(leafAlg) != hdr.Alg {
		return nil, leaf, fmt.Errorf("alg %s does not match the signing certificate's key, which signs with %s", hdr.Alg, leafAlg)
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, leaf, fmt.Errorf("signing certificate %s lacks the digitalSignature key usage", describe(leaf))
	}
	if serverName != "" {
		if err := leaf.VerifyHostname(serverName); err != nil {
			return nil, leaf, fmt.Errorf("signing certificate %s is not valid for server name %q: %w", describe(leaf), serverName, err)
		}
	}
	payload, err := jws.Verify(leaf.PublicKey)
	if err != nil {
		return nil, leaf, fmt.Errorf("signature does not verify with the key of signing certificate %s", describe(leaf))
	}
	return payload, leaf, nil
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// parseProtectedHeader decodes the header segment strictly: only the
// parameters we sign (so no crit, b64, jwk, jku, x5u, kid), each once.
func parseProtectedHeader(segment string) (protectedHeader, error) {
	raw, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		return protectedHeader{}, errors.New("protected header is not base64url without padding")
	}
	var hdr protectedHeader
	if err := decodeStrict(raw, &hdr); err != nil {
		return protectedHeader{}, fmt.Errorf("protected header: %w", err)
	}
	alg := jose.SignatureAlgorithm(hdr.Alg)
	if alg != jose.ES256 && alg != jose.ES384 {
		return protectedHeader{}, fmt.Errorf("alg %q is refused: only ES256 and ES384 are accepted", truncate(hdr.Alg))
	}
	if len(hdr.X5c) == 0 {
		return protectedHeader{}, errors.New("protected header has no x5c certificate chain")
	}
	if len(hdr.X5c) > maxChainCertificates {
		return protectedHeader{}, fmt.Errorf("x5c has %d certificates; at most %d are accepted", len(hdr.X5c), maxChainCertificates)
	}
	return hdr, nil
}

// decodeStrict decodes one JSON value into v: no unknown fields, no member
// named twice (encoding/json keeps the last, other parsers the first, and a
// signed document must read the same to every verifier), nothing after it.
// Its errors never quote more than a short piece of the input.
func decodeStrict(data []byte, v any) error {
	if err := checkNoDuplicateMembers(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not the expected JSON: %s", truncate(err.Error()))
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data follows the JSON value")
	}
	return nil
}

func checkNoDuplicateMembers(data []byte) error {
	type container struct {
		object    bool
		members   map[string]bool
		expectKey bool
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []*container
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("not valid JSON: %s", truncate(err.Error()))
		}
		var top *container
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if name, ok := tok.(string); ok && top != nil && top.object && top.expectKey {
			if top.members[name] {
				return fmt.Errorf("member %q appears twice in one object", truncate(name))
			}
			top.members[name] = true
			top.expectKey = false
			continue
		}
		// Any other token is a value (or ends one); the enclosing object's
		// next token is a member name.
		if top != nil && top.object {
			top.expectKey = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &container{object: true, members: map[string]bool{}, expectKey: true})
		case json.Delim('['):
			stack = append(stack, &container{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].expectKey = true
			}
		}
	}
}

// describe names a certificate in errors: subject and serial, nothing secret.
func describe(c *x509.Certificate) string {
	return fmt.Sprintf("%q (serial %s)", truncate(c.Subject.String()), truncate(c.SerialNumber.Text(16)))
}

// truncate bounds a string from input before it goes into an error message.
func truncate(s string) string {
	const max = 120
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
