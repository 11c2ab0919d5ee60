/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

package pki

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

// t0 is the fixed "now" of the tests; nothing here reads the wall clock.
var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func testCASpec() CASpec {
	return CASpec{CommonName: "cybercoop KE national CA", Organization: "Kenya National Computer Incident Response Team", Country: "KE"}
}

func testLeafSpec() LeafSpec {
	return LeafSpec{
		CommonName: "gateway",
		DNSNames:   []string{"gateway.ke.svc", "gateway.ke.svc.cluster.local"},
		URIs:       []string{"spiffe://cybercoop.io/ns/ke/sa/gateway"},
		Usages:     []Usage{UsageServer},
	}
}

func mustCA(t testing.TB, spec CASpec, now time.Time) *KeyPair {
	t.Helper()
	ca, err := CreateCA(spec, now)
	if err != nil {
		t.Fatalf("CreateCA: %v", err)
	}
	return ca
}

func mustLeaf(t testing.TB, ca *KeyPair, spec LeafSpec, now time.Time) *IssuedLeaf {
	t.Helper()
	leaf, err := IssueLeaf(ca, spec, now)
	if err != nil {
		t.Fatalf("IssueLeaf: %v", err)
	}
	return leaf
}

func mustSecretData(t testing.TB, kp *KeyPair, bundle *TrustBundle) map[string][]byte {
	t.Helper()
	data, err := kp.SecretData(bundle)
	if err != nil {
		t.Fatalf("SecretData: %v", err)
	}
	return data
}

// forgedCA returns a CA with the same subject and subject key ID as real but
// another key: leaves it signs carry the right issuer and AKI, so only the
// signature check tells them apart.
func forgedCA(t testing.TB, real *KeyPair, now time.Time) *KeyPair {
	t.Helper()
	key, err := GenerateKey(ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := caTemplate(now, DefaultCADuration)
	tmpl.SerialNumber = real.Certificate.SerialNumber
	tmpl.RawSubject = real.Certificate.RawSubject
	tmpl.SubjectKeyId = real.Certificate.SubjectKeyId
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &KeyPair{Certificate: cert, PrivateKey: key}
}

// nonCACert returns a self-signed certificate without CA rights.
func nonCACert(t testing.TB, now time.Time) *KeyPair {
	t.Helper()
	key, err := GenerateKey(ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := newSerialNumber()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "not a CA", Country: []string{"KE"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * day),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &KeyPair{Certificate: cert, PrivateKey: key}
}

var base64Run = regexp.MustCompile(`[A-Za-z0-9+/=]{16,}`)

// leakedSecret returns a fragment of data that msg repeats, if any: PEM
// markers, or any run of 16+ base64 characters that also occurs in data.
func leakedSecret(msg string, data []byte) string {
	if strings.Contains(msg, "-----") {
		return "-----"
	}
	for _, run := range base64Run.FindAllString(msg, -1) {
		if strings.Contains(string(data), run) {
			return run
		}
	}
	return ""
}

// checkDataError asserts that err is a *DataError for key with problem p,
// whose message starts with the key name and leaks none of data's values.
func checkDataError(t *testing.T, err error, key string, p Problem, data map[string][]byte) {
	t.Helper()
	var de *DataError
	if !errors.As(err, &de) {
		t.Fatalf("error = %v (%T), want *DataError", err, err)
	}
	if de.Key != key || de.Problem != p {
		t.Errorf("error = {Key: %q, Problem: %s} (%v), want {Key: %q, Problem: %s}", de.Key, de.Problem, err, key, p)
	}
	if !strings.HasPrefix(err.Error(), key+": ") {
		t.Errorf("error %q does not start with the data key %q", err, key)
	}
	for k, v := range data {
		if leak := leakedSecret(err.Error(), v); leak != "" {
			t.Errorf("error %q repeats %q from %s", err, leak, k)
		}
	}
}

func truncate(b []byte, n int) []byte { return append([]byte(nil), b[:n]...) }

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
