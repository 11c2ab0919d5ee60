/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Usage is what a leaf certificate may be used for in TLS.
type Usage string

const (
	// UsageServer allows the leaf to authenticate a TLS server (extended key
	// usage serverAuth), e.g. the gateway and vault serving certificates.
	UsageServer Usage = "Server"
	// UsageClient allows the leaf to authenticate a TLS client (extended key
	// usage clientAuth), e.g. a channel's certificate towards a peer State.
	UsageClient Usage = "Client"
)

func (u Usage) extKeyUsage() (x509.ExtKeyUsage, bool) {
	switch u {
	case UsageServer:
		return x509.ExtKeyUsageServerAuth, true
	case UsageClient:
		return x509.ExtKeyUsageClientAuth, true
	}
	return 0, false
}

// LeafSpec is the desired state of a leaf certificate. The same value is given
// to IssueLeaf and to DecideLeaf, so what is issued is what is checked.
type LeafSpec struct {
	// CommonName is the subject CN.
	CommonName string
	// Organization is the subject O; empty means the CA's organization.
	Organization string
	// Country is the subject C (ISO 3166-1 alpha-2); empty means the CA's.
	Country string
	// DNSNames are the DNS subject alternative names, e.g.
	// "gateway.ke-focalpoint.svc". Compared case-insensitively, in any order.
	DNSNames []string
	// URIs are the URI subject alternative names, e.g. SPIFFE IDs.
	URIs []string
	// Usages must hold at least one of UsageServer and UsageClient.
	Usages []Usage
	// KeyAlgorithm defaults to DefaultKeyAlgorithm.
	KeyAlgorithm KeyAlgorithm
	// Duration is the certificate lifetime; zero means DefaultLeafDuration.
	// A change takes effect at the next renewal.
	Duration time.Duration
	// RenewBefore is how long before expiry the leaf is renewed; zero (or a
	// value not shorter than the lifetime) means at two thirds of the lifetime.
	RenewBefore time.Duration
}

// Validate reports every problem with the spec, each naming its field.
func (s LeafSpec) Validate() error {
	errs := []error{validateCommonName(s.CommonName)}
	if s.Country != "" {
		errs = append(errs, validateCountry(s.Country))
	}
	if len(s.Organization) > 64 {
		errs = append(errs, fmt.Errorf("organization: %d characters is longer than the X.509 limit of 64", len(s.Organization)))
	}
	for i, name := range s.DNSNames {
		errs = append(errs, validateDNSName(i, name))
	}
	for i, raw := range s.URIs {
		if _, err := parseURI(raw); err != nil {
			errs = append(errs, fmt.Errorf("uris[%d]: %w", i, err))
		}
	}
	if len(s.Usages) == 0 {
		errs = append(errs, fmt.Errorf("usages: must hold at least one of %s, %s", UsageServer, UsageClient))
	}
	for i, u := range s.Usages {
		if _, ok := u.extKeyUsage(); !ok {
			errs = append(errs, fmt.Errorf("usages[%d]: %q is not a usage (use %s or %s)", i, string(u), UsageServer, UsageClient))
		}
	}
	errs = append(errs, s.KeyAlgorithm.Validate(), validateDurations(s.Duration, s.RenewBefore))
	return errors.Join(errs...)
}

func (s LeafSpec) duration() time.Duration {
	if s.Duration == 0 {
		return DefaultLeafDuration
	}
	return s.Duration
}

// subject is the subject a leaf issued from ca for this spec carries.
func (s LeafSpec) subject(ca *x509.Certificate) pkix.Name {
	name := pkix.Name{CommonName: s.CommonName}
	if s.Organization != "" {
		name.Organization = []string{s.Organization}
	} else {
		name.Organization = slices.Clone(ca.Subject.Organization)
	}
	if s.Country != "" {
		name.Country = []string{s.Country}
	} else {
		name.Country = slices.Clone(ca.Subject.Country)
	}
	return name
}

// extKeyUsages returns the spec's usages as a sorted, de-duplicated list.
func (s LeafSpec) extKeyUsages() []x509.ExtKeyUsage {
	var ekus []x509.ExtKeyUsage
	for _, u := range s.Usages {
		if eku, ok := u.extKeyUsage(); ok {
			ekus = append(ekus, eku)
		}
	}
	slices.Sort(ekus)
	return slices.Compact(ekus)
}

// IssuedLeaf is a newly issued leaf certificate and its key.
type IssuedLeaf struct {
	KeyPair
	// Clamped is true when the requested lifetime would have outlived the CA
	// certificate, so NotAfter was cut to the CA's NotAfter. The leaf will be
	// renewed early; renewing the CA restores full-length leaves.
	Clamped bool
	// RequestedNotAfter is the NotAfter the spec asked for, before clamping.
	RequestedNotAfter time.Time
}

// IssueLeaf issues a leaf certificate with a fresh key from ca. The leaf's
// AuthorityKeyId is the CA's SubjectKeyId, its serial is random, and its
// validity is [now−ClockSkewAllowance, now+duration] clamped to the CA's.
func IssueLeaf(ca *KeyPair, spec LeafSpec, now time.Time) (*IssuedLeaf, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("invalid leaf spec: %w", err)
	}
	if err := checkSigningCA(ca, now); err != nil {
		return nil, err
	}
	key, err := GenerateKey(spec.KeyAlgorithm)
	if err != nil {
		return nil, fmt.Errorf("generating leaf key: %w", err)
	}
	return issueLeafWithKey(ca, spec, key, now)
}

// checkSigningCA refuses a CA that could only produce leaves nobody accepts.
func checkSigningCA(ca *KeyPair, now time.Time) error {
	if ca == nil || ca.Certificate == nil || ca.PrivateKey == nil {
		return errors.New("issuing leaf: no CA key pair")
	}
	c := ca.Certificate
	switch {
	case !isCA(c):
		return errors.New("issuing leaf: the CA certificate is not a CA certificate")
	case !publicKeysEqual(c.PublicKey, ca.PrivateKey.Public()):
		return errors.New("issuing leaf: the CA private key does not match the CA certificate")
	case !now.Before(c.NotAfter):
		return fmt.Errorf("issuing leaf: the CA certificate expired at %s; renew the CA first", c.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(c.NotBefore):
		return fmt.Errorf("issuing leaf: the CA certificate is not valid until %s", c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// issueLeafWithKey signs a leaf for an already generated key; spec and ca must
// have been checked.
func issueLeafWithKey(ca *KeyPair, spec LeafSpec, key crypto.Signer, now time.Time) (*IssuedLeaf, error) {
	caCert := ca.Certificate
	serial, err := newSerialNumber()
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	uris := make([]*url.URL, 0, len(spec.URIs))
	for _, raw := range spec.URIs {
		u, _ := parseURI(raw) // validated by spec.Validate
		uris = append(uris, u)
	}
	notBefore := now.Add(-ClockSkewAllowance)
	if notBefore.Before(caCert.NotBefore) {
		notBefore = caCert.NotBefore
	}
	requested := now.Add(spec.duration()).UTC()
	notAfter, clamped := requested, false
	if notAfter.After(caCert.NotAfter) {
		notAfter, clamped = caCert.NotAfter, true
	}
	keyUsage := x509.KeyUsageDigitalSignature
	if _, isRSA := key.Public().(*rsa.PublicKey); isRSA {
		keyUsage |= x509.KeyUsageKeyEncipherment // TLS 1.2 RSA key exchange
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               spec.subject(caCert),
		NotBefore:             notBefore.UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              keyUsage,
		ExtKeyUsage:           spec.extKeyUsages(),
		BasicConstraintsValid: true,
		DNSNames:              normalizeDNSNames(spec.DNSNames),
		URIs:                  uris,
		SubjectKeyId:          ski,
		AuthorityKeyId:        caCert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), ca.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("signing leaf certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing new leaf certificate: %w", err)
	}
	return &IssuedLeaf{
		KeyPair:           KeyPair{Certificate: cert, PrivateKey: key},
		Clamped:           clamped,
		RequestedNotAfter: requested,
	}, nil
}

// validateDNSName accepts RFC 1123 host names, lowercase or not, with an
// optional leading "*." wildcard label.
func validateDNSName(i int, name string) error {
	bad := func(why string) error {
		return fmt.Errorf("dnsNames[%d]: %q is not a DNS name: %s", i, name, why)
	}
	if name == "" {
		return fmt.Errorf("dnsNames[%d]: must not be empty", i)
	}
	if len(name) > 253 {
		return bad("longer than 253 characters")
	}
	for j, label := range strings.Split(strings.TrimPrefix(name, "*."), ".") {
		if label == "" {
			return bad("empty label")
		}
		if len(label) > 63 {
			return bad("label longer than 63 characters")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return bad("label starts or ends with '-'")
		}
		for _, r := range label {
			if !isLDH(r) {
				return bad(fmt.Sprintf("label %d holds %q (only letters, digits and '-')", j+1, r))
			}
		}
	}
	return nil
}

func parseURI(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URI", raw)
	}
	if u.Scheme == "" || (u.Host == "" && u.Opaque == "" && u.Path == "") {
		return nil, fmt.Errorf("%q is not an absolute URI (e.g. spiffe://cybercoop.io/ns/ke/sa/gateway)", raw)
	}
	return u, nil
}

// normalizeDNSNames lowercases, sorts and de-duplicates names, the form in
// which leaves are issued and compared.
func normalizeDNSNames(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, strings.ToLower(n))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// normalizeURIs returns the canonical string forms, sorted and de-duplicated.
func normalizeURIs(uris []string) []string {
	out := make([]string, 0, len(uris))
	for _, raw := range uris {
		if u, err := parseURI(raw); err == nil {
			raw = u.String()
		}
		out = append(out, raw)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// isLDH reports whether r may appear in a DNS label: an ASCII letter, digit
// or hyphen (RFC 1123 "LDH" rule).
func isLDH(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-'
}
