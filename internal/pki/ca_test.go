/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

package pki

import (
	"bytes"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestKeyAlgorithms(t *testing.T) {
	for _, alg := range []KeyAlgorithm{"", ECDSAP256, ECDSAP384, RSA3072} {
		t.Run(string(alg.OrDefault())+"/"+string(alg), func(t *testing.T) {
			if alg == "" && alg.OrDefault() != ECDSAP256 {
				t.Fatalf("default algorithm = %s, want %s", alg.OrDefault(), ECDSAP256)
			}
			if alg == RSA3072 && testing.Short() {
				t.Skip("RSA key generation is slow")
			}
			spec := testCASpec()
			spec.KeyAlgorithm = alg
			ca := mustCA(t, spec, t0)
			if got, err := KeyAlgorithmOf(ca.Certificate.PublicKey); err != nil || got != alg.OrDefault() {
				t.Errorf("CA key algorithm = %s, %v; want %s", got, err, alg.OrDefault())
			}
			leafSpec := testLeafSpec()
			leafSpec.KeyAlgorithm = alg
			leaf := mustLeaf(t, ca, leafSpec, t0)
			if got, err := KeyAlgorithmOf(leaf.Certificate.PublicKey); err != nil || got != alg.OrDefault() {
				t.Errorf("leaf key algorithm = %s, %v; want %s", got, err, alg.OrDefault())
			}
			bundle, err := NewTrustBundle(ca.Certificate)
			if err != nil {
				t.Fatal(err)
			}
			if err := bundle.Verify(leaf.Certificate, UsageServer, t0); err != nil {
				t.Errorf("leaf does not verify: %v", err)
			}
			// The stored form parses back to the same key pair.
			parsed, err := ParseLeafSecret(mustSecretData(t, &leaf.KeyPair, bundle))
			if err != nil {
				t.Fatalf("ParseLeafSecret: %v", err)
			}
			if !publicKeysEqual(parsed.PrivateKey.Public(), leaf.Certificate.PublicKey) {
				t.Error("parsed key differs from issued key")
			}
			d, err := DecideLeaf(LeafInput{Current: parsed, CA: ca.Certificate, Spec: leafSpec}, t0)
			if err != nil || d.Action != LeafKeep {
				t.Errorf("DecideLeaf on a fresh leaf = %+v, %v; want Keep", d, err)
			}
			cad, err := DecideCA(CAInput{Current: ca, Spec: spec}, t0)
			if err != nil || cad.Action != CAKeep {
				t.Errorf("DecideCA on a fresh CA = %+v, %v; want Keep", cad, err)
			}
		})
	}
	if err := KeyAlgorithm("Ed25519").Validate(); err == nil || !strings.Contains(err.Error(), "keyAlgorithm") {
		t.Errorf("Validate(Ed25519) = %v, want an error naming keyAlgorithm", err)
	}
	if _, err := GenerateKey("DSA"); err == nil {
		t.Error("GenerateKey(DSA) succeeded")
	}
}

func TestCreateCA(t *testing.T) {
	spec := testCASpec()
	ca := mustCA(t, spec, t0)
	c := ca.Certificate
	if !c.IsCA || !c.BasicConstraintsValid || !c.MaxPathLenZero || c.MaxPathLen != 0 {
		t.Errorf("basic constraints: IsCA=%v valid=%v maxPathLen=%d zero=%v", c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("KeyUsage = %b, want certSign|cRLSign", c.KeyUsage)
	}
	wantSKI, _ := subjectKeyID(c.PublicKey)
	if !bytes.Equal(c.SubjectKeyId, wantSKI) || len(c.SubjectKeyId) != 20 {
		t.Errorf("SubjectKeyId = %x, want %x (RFC 7093 method 1)", c.SubjectKeyId, wantSKI)
	}
	if c.Subject.CommonName != spec.CommonName || c.Subject.Organization[0] != spec.Organization || c.Subject.Country[0] != "KE" {
		t.Errorf("subject = %s", c.Subject)
	}
	if !bytes.Equal(c.RawIssuer, c.RawSubject) {
		t.Error("CA is not self-issued")
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("CA is not self-signed: %v", err)
	}
	if want := t0.Add(-ClockSkewAllowance); !c.NotBefore.Equal(want) {
		t.Errorf("NotBefore = %s, want %s (backdated)", c.NotBefore, want)
	}
	if want := t0.Add(DefaultCADuration); !c.NotAfter.Equal(want) {
		t.Errorf("NotAfter = %s, want %s (5 years)", c.NotAfter, want)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %x is not a positive 128-bit number", c.SerialNumber)
	}
	other := mustCA(t, spec, t0)
	if other.Certificate.SerialNumber.Cmp(c.SerialNumber) == 0 {
		t.Error("two CAs got the same serial")
	}
}

func TestCASpecValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*CASpec)
		want   string // substring of the error; "" means valid
	}{
		{"valid", func(*CASpec) {}, ""},
		{"no common name", func(s *CASpec) { s.CommonName = "" }, "commonName: must not be empty"},
		{"long common name", func(s *CASpec) { s.CommonName = strings.Repeat("x", 65) }, "commonName: 65 characters"},
		{"no country", func(s *CASpec) { s.Country = "" }, "country: must be set"},
		{"lowercase country", func(s *CASpec) { s.Country = "ke" }, `country: "ke" is not an ISO 3166-1 alpha-2 code`},
		{"alpha-3 country", func(s *CASpec) { s.Country = "KEN" }, `country: "KEN"`},
		{"unknown algorithm", func(s *CASpec) { s.KeyAlgorithm = "RSA1024" }, `keyAlgorithm: "RSA1024" is not supported`},
		{"short duration", func(s *CASpec) { s.Duration = time.Minute }, "duration: 1m0s is shorter than the minimum 1h0m0s"},
		{"negative renewBefore", func(s *CASpec) { s.RenewBefore = -time.Hour }, "renewBefore: -1h0m0s must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := testCASpec()
			tc.modify(&spec)
			err := spec.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.want)
			}
			if _, err := CreateCA(spec, t0); err == nil {
				t.Error("CreateCA accepted an invalid spec")
			}
		})
	}
}

// TestRenewCAKeepsKey is the promise of PolicyRenewCertificate: leaves issued
// before the renewal verify against the renewed CA certificate alone.
func TestRenewCAKeepsKey(t *testing.T) {
	old := mustCA(t, testCASpec(), t0)
	renewedAt := t0.Add(DefaultCADuration - DefaultCARenewBefore)
	leafSpec := testLeafSpec()
	leafSpec.Usages = []Usage{UsageServer, UsageClient}
	leaf := mustLeaf(t, old, leafSpec, renewedAt.Add(-10*day))
	renewed, err := RenewCA(old, 0, renewedAt)
	if err != nil {
		t.Fatalf("RenewCA: %v", err)
	}
	o, r := old.Certificate, renewed.Certificate
	if renewed.PrivateKey != old.PrivateKey || !publicKeysEqual(o.PublicKey, r.PublicKey) {
		t.Error("renewal changed the key")
	}
	if !bytes.Equal(o.RawSubject, r.RawSubject) || !bytes.Equal(r.RawIssuer, r.RawSubject) {
		t.Error("renewal changed the subject or is not self-issued")
	}
	if !bytes.Equal(o.SubjectKeyId, r.SubjectKeyId) {
		t.Errorf("SubjectKeyId changed: %x → %x", o.SubjectKeyId, r.SubjectKeyId)
	}
	if o.SerialNumber.Cmp(r.SerialNumber) == 0 {
		t.Error("renewal kept the serial number")
	}
	if !r.NotBefore.Equal(renewedAt.Add(-ClockSkewAllowance)) || !r.NotAfter.Equal(renewedAt.Add(DefaultCADuration)) {
		t.Errorf("renewed validity = %s – %s", r.NotBefore, r.NotAfter)
	}
	if !isCA(r) {
		t.Error("renewed certificate is not a CA")
	}

	onlyRenewed, err := NewTrustBundle(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []Usage{UsageServer, UsageClient} {
		if err := onlyRenewed.Verify(leaf.Certificate, u, renewedAt); err != nil {
			t.Errorf("old leaf does not verify against the renewed CA for %s: %v", u, err)
		}
	}
	// Even after the old CA certificate expired.
	afterOldExpiry := o.NotAfter.Add(time.Hour)
	lateLeaf := mustLeaf(t, renewed, leafSpec, afterOldExpiry)
	if err := onlyRenewed.Verify(lateLeaf.Certificate, UsageServer, afterOldExpiry); err != nil {
		t.Errorf("leaf issued by the renewed CA does not verify: %v", err)
	}
	// The leaf decision agrees: a leaf of the old certificate is up to date
	// against the renewed one.
	d, err := DecideLeaf(LeafInput{Current: &LeafSecret{KeyPair: leaf.KeyPair}, CA: r, Spec: leafSpec}, renewedAt)
	if err != nil || d.Action != LeafKeep {
		t.Errorf("DecideLeaf against the renewed CA = %+v, %v; want Keep", d, err)
	}

	if _, err := RenewCA(&KeyPair{Certificate: o, PrivateKey: mustCA(t, testCASpec(), t0).PrivateKey}, 0, renewedAt); err == nil ||
		!strings.Contains(err.Error(), "does not match") {
		t.Errorf("RenewCA with a foreign key = %v, want a key mismatch error", err)
	}
	if _, err := RenewCA(nonCACert(t, t0), 0, t0); err == nil {
		t.Error("RenewCA renewed a certificate that is not a CA")
	}
	if _, err := RenewCA(nil, 0, t0); err == nil {
		t.Error("RenewCA(nil) succeeded")
	}
}
