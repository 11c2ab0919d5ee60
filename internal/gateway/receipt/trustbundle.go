package receipt

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// TrustBundle is what a gateway publishes at GET /v1/trust-bundle: its
// State's current trust bundle, signed with the gateway's serving key, so
// that a peer which already trusts the old CA learns the new one during a CA
// key replacement. A service provider's gateway publishes its own, naming the
// State it is established in and its identifier.
type TrustBundle struct {
	// Country is the publishing State, ISO 3166-1 alpha-2; for a service
	// provider, the State it is established in.
	Country string `json:"country"`
	// Provider is the publishing service provider's identifier; empty for a
	// State.
	Provider string `json:"provider,omitempty"`
	// Bundle is PEM: one or more CA certificates and nothing else.
	Bundle string `json:"bundle"`
	// Issued is when the bundle was signed; verifiers refuse old ones.
	Issued time.Time `json:"issued"`
}

const (
	// maxBundleCertificates bounds a trust bundle: during a key replacement
	// it holds the old and the new CA, perhaps with intermediates.
	maxBundleCertificates = 16
	// maxIssuedAhead is how far in the future a bundle's Issued may lie:
	// the two gateways' clocks are not the same clock.
	maxIssuedAhead = 5 * time.Minute
)

// SignTrustBundle returns b as a compact JWS of type TypeTrustBundle. It
// refuses a bundle that VerifyTrustBundle would refuse whatever the time:
// a country that is not an alpha-2 code, no issue time, or PEM that is not
// only CA certificates.
func (s *Signer) SignTrustBundle(b TrustBundle) (string, error) {
	if err := checkCountry("country", b.Country); err != nil {
		return "", fmt.Errorf("trust bundle: %w", err)
	}
	if b.Provider != "" && !IsProvider(b.Provider) {
		return "", fmt.Errorf("trust bundle: provider: %q is not a service provider's identifier (a lower-case DNS label of 3 to 63 characters)", truncate(b.Provider))
	}
	if b.Issued.IsZero() {
		return "", errors.New("trust bundle: issued: is missing")
	}
	if _, err := parseCABundle(b.Bundle); err != nil {
		return "", fmt.Errorf("trust bundle of %s: %w", b.Country, err)
	}
	payload, err := json.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("trust bundle of %s: encoding: %w", b.Country, err)
	}
	compact, err := s.sign(payload, TypeTrustBundle)
	if err != nil {
		return "", fmt.Errorf("trust bundle of %s: %w", b.Country, err)
	}
	return compact, nil
}

// VerifyTrustBundle verifies a signed trust bundle with roots (the CAs the
// channel already trusts) exactly as Verify does a receipt, but for type
// TypeTrustBundle. It then checks that the bundle is expectedParty's (a
// State's alpha-2 code, or a service provider's identifier), that
// it was issued no more than maxAge before now (an older one may be a
// replay that would undo a key replacement) and not more than a few minutes
// after, and that every certificate in it is a CA certificate (basic
// constraints CA, keyCertSign) valid at now. It returns the bundle and its
// certificates, in the bundle's order.
func VerifyTrustBundle(compact string, roots *x509.CertPool, expectedParty string, expectedServerName string, now time.Time, maxAge time.Duration) (*TrustBundle, []*x509.Certificate, error) {
	if err := CheckParty("expected party", expectedParty); err != nil {
		return nil, nil, fmt.Errorf("trust bundle: %w", err)
	}
	if maxAge <= 0 {
		return nil, nil, fmt.Errorf("trust bundle: maximum age %s is not positive", maxAge)
	}
	payload, _, err := verifyJWS(compact, TypeTrustBundle, roots, expectedServerName, now)
	if err != nil {
		return nil, nil, fmt.Errorf("trust bundle: %w", err)
	}
	var b TrustBundle
	if err := decodeStrict(payload, &b); err != nil {
		return nil, nil, fmt.Errorf("trust bundle payload: %w", err)
	}
	switch {
	case IsCountry(expectedParty) && b.Provider != "":
		return nil, nil, fmt.Errorf("trust bundle: published by the service provider %q, expected the State %s", truncate(b.Provider), expectedParty)
	case IsCountry(expectedParty) && b.Country != expectedParty:
		return nil, nil, fmt.Errorf("trust bundle: country is %q, expected %q", truncate(b.Country), expectedParty)
	case IsProvider(expectedParty) && b.Provider != expectedParty:
		return nil, nil, fmt.Errorf("trust bundle: provider is %q, expected %q", truncate(b.Provider), expectedParty)
	}
	switch {
	case b.Issued.IsZero():
		return nil, nil, fmt.Errorf("trust bundle of %s: issued: is missing", b.Country)
	case b.Issued.After(now.Add(maxIssuedAhead)):
		return nil, nil, fmt.Errorf("trust bundle of %s: issued %s, more than %s after now (%s)",
			b.Country, b.Issued.UTC().Format(time.RFC3339), maxIssuedAhead, now.UTC().Format(time.RFC3339))
	case now.Sub(b.Issued) > maxAge:
		return nil, nil, fmt.Errorf("trust bundle of %s: issued %s, more than %s before now (%s): stale or replayed",
			b.Country, b.Issued.UTC().Format(time.RFC3339), maxAge, now.UTC().Format(time.RFC3339))
	}
	certs, err := parseCABundle(b.Bundle)
	if err != nil {
		return nil, nil, fmt.Errorf("trust bundle of %s: %w", b.Country, err)
	}
	for i, c := range certs {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return nil, nil, fmt.Errorf("trust bundle of %s: certificate %d %s is valid from %s to %s, not at %s",
				b.Country, i, describe(c), c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
	}
	return &b, certs, nil
}

// parseCABundle parses PEM that holds CA certificates and nothing else: no
// other block types, no text between or around the blocks, no PEM headers.
func parseCABundle(bundle string) ([]*x509.Certificate, error) {
	rest := bytes.TrimSpace([]byte(bundle))
	if len(rest) == 0 {
		return nil, errors.New("bundle: is empty")
	}
	var certs []*x509.Certificate
	for len(rest) > 0 {
		if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			return nil, fmt.Errorf("bundle: text that is not a PEM block after certificate %d", len(certs))
		}
		block, after := pem.Decode(rest)
		// pem.Decode skips a malformed block to the next good one; a block
		// consumed with another BEGIN line in it is that case.
		if block == nil || bytes.Count(rest[:len(rest)-len(after)], []byte("-----BEGIN ")) != 1 {
			return nil, fmt.Errorf("bundle: PEM block %d is malformed", len(certs))
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("bundle: PEM block %d is %q, not CERTIFICATE", len(certs), truncate(block.Type))
		}
		if len(block.Headers) > 0 {
			return nil, fmt.Errorf("bundle: PEM block %d has headers; certificates have none", len(certs))
		}
		if len(certs) == maxBundleCertificates {
			return nil, fmt.Errorf("bundle: more than %d certificates", maxBundleCertificates)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("bundle: certificate %d does not parse: %s", len(certs), truncate(err.Error()))
		}
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, fmt.Errorf("bundle: certificate %d %s is not a CA certificate (basic constraints CA:TRUE)", len(certs), describe(c))
		}
		if c.KeyUsage&x509.KeyUsageCertSign == 0 {
			return nil, fmt.Errorf("bundle: certificate %d %s may not sign certificates (no keyCertSign key usage)", len(certs), describe(c))
		}
		certs = append(certs, c)
		rest = bytes.TrimSpace(after)
	}
	return certs, nil
}
