/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

package pki

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"
)

// TrustBundle is a set of CA certificates that consumers trust, stored under
// ca.crt. During a CA key replacement it holds the old and the new CA.
//
// A bundle is de-duplicated by SHA-256 fingerprint and kept in a
// deterministic order (oldest NotBefore first, then by fingerprint), so the
// same set of CAs always encodes to the same bytes and a reconciler can
// compare before writing.
type TrustBundle struct {
	cas []*x509.Certificate
}

// NewTrustBundle builds a bundle from CA certificates given in any order,
// possibly repeated. Every certificate must be a CA certificate.
func NewTrustBundle(cas ...*x509.Certificate) (*TrustBundle, error) {
	seen := make(map[[sha256.Size]byte]bool, len(cas))
	b := &TrustBundle{}
	for i, c := range cas {
		if c == nil {
			return nil, fmt.Errorf("trust bundle: certificate %d is nil", i+1)
		}
		if !isCA(c) {
			return nil, fmt.Errorf("trust bundle: certificate %d (CN=%q) is not a CA certificate", i+1, c.Subject.CommonName)
		}
		fp := sha256.Sum256(c.Raw)
		if seen[fp] {
			continue
		}
		seen[fp] = true
		b.cas = append(b.cas, c)
	}
	slices.SortFunc(b.cas, func(x, y *x509.Certificate) int {
		if c := x.NotBefore.Compare(y.NotBefore); c != 0 {
			return c
		}
		fx, fy := sha256.Sum256(x.Raw), sha256.Sum256(y.Raw)
		return bytes.Compare(fx[:], fy[:])
	})
	return b, nil
}

// ParseTrustBundle parses PEM bundle data, as found under ca.crt. Empty data,
// malformed PEM or a certificate that is not a CA is a *DataError.
func ParseTrustBundle(data []byte) (*TrustBundle, error) {
	cas, derr := parseCACertificates(data)
	if derr != nil {
		return nil, derr
	}
	return NewTrustBundle(cas...)
}

// PEM encodes the bundle in its deterministic order.
func (b *TrustBundle) PEM() []byte {
	return EncodeCertificatesPEM(b.cas...)
}

// Certificates returns the bundle's CA certificates in bundle order. The
// slice is a copy; the certificates are shared.
func (b *TrustBundle) Certificates() []*x509.Certificate {
	return slices.Clone(b.cas)
}

// CertPool is the bundle as roots for a TLS client or server.
func (b *TrustBundle) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range b.cas {
		pool.AddCert(c)
	}
	return pool
}

// Len is the number of distinct CA certificates in the bundle.
func (b *TrustBundle) Len() int { return len(b.cas) }

// Contains reports whether the bundle holds exactly this CA certificate
// (same SHA-256 fingerprint). A renewed CA certificate is a different
// certificate, even though it has the same key.
func (b *TrustBundle) Contains(ca *x509.Certificate) bool {
	if ca == nil {
		return false
	}
	fp := sha256.Sum256(ca.Raw)
	return slices.ContainsFunc(b.cas, func(c *x509.Certificate) bool {
		return sha256.Sum256(c.Raw) == fp
	})
}

// Verify checks that leaf chains to a CA of the bundle at time now and may be
// used for usage (UsageServer checks serverAuth, UsageClient clientAuth).
func (b *TrustBundle) Verify(leaf *x509.Certificate, usage Usage, now time.Time) error {
	if leaf == nil {
		return errors.New("verifying leaf: no certificate")
	}
	eku, ok := usage.extKeyUsage()
	if !ok {
		return fmt.Errorf("verifying leaf: %q is not a usage (use %s or %s)", string(usage), UsageServer, UsageClient)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:       b.CertPool(),
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{eku},
	})
	if err != nil {
		return fmt.Errorf("verifying leaf CN=%q for %s use: %w", leaf.Subject.CommonName, usage, err)
	}
	return nil
}
