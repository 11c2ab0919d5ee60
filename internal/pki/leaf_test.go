/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

package pki

import (
	"bytes"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIssueLeaf(t *testing.T) {
	ca := mustCA(t, testCASpec(), t0)
	for _, tc := range []struct {
		name    string
		usages  []Usage
		wantEKU []x509.ExtKeyUsage
	}{
		{"server", []Usage{UsageServer}, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		{"client", []Usage{UsageClient}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		{"server and client", []Usage{UsageClient, UsageServer, UsageClient}, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := testLeafSpec()
			spec.Usages = tc.usages
			spec.DNSNames = []string{"Gateway.KE.svc", "gateway.ke.svc", "a.ke.svc"}
			leaf := mustLeaf(t, ca, spec, t0)
			c := leaf.Certificate
			if !slices.Equal(c.ExtKeyUsage, tc.wantEKU) {
				t.Errorf("ExtKeyUsage = %v, want %v", c.ExtKeyUsage, tc.wantEKU)
			}
			if c.IsCA || !c.BasicConstraintsValid {
				t.Error("leaf must carry basic constraints CA:FALSE")
			}
			if c.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("KeyUsage = %b, want digitalSignature", c.KeyUsage)
			}
			if want := []string{"a.ke.svc", "gateway.ke.svc"}; !slices.Equal(c.DNSNames, want) {
				t.Errorf("DNSNames = %q, want %q (lowercased, sorted, de-duplicated)", c.DNSNames, want)
			}
			if len(c.URIs) != 1 || c.URIs[0].String() != "spiffe://cybercoop.io/ns/ke/sa/gateway" {
				t.Errorf("URIs = %v", c.URIs)
			}
			if c.Subject.CommonName != "gateway" || !slices.Equal(c.Subject.Country, []string{"KE"}) ||
				!slices.Equal(c.Subject.Organization, ca.Certificate.Subject.Organization) {
				t.Errorf("subject = %s, want CN=gateway with the CA's O and C", c.Subject)
			}
			if !bytes.Equal(c.AuthorityKeyId, ca.Certificate.SubjectKeyId) {
				t.Errorf("AuthorityKeyId = %x, want the CA's SKI %x", c.AuthorityKeyId, ca.Certificate.SubjectKeyId)
			}
			if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
				t.Errorf("serial %x is not a positive 128-bit number", c.SerialNumber)
			}
			if !c.NotBefore.Equal(t0.Add(-ClockSkewAllowance)) || !c.NotAfter.Equal(t0.Add(DefaultLeafDuration)) {
				t.Errorf("validity = %s – %s, want 90 days from %s backdated", c.NotBefore, c.NotAfter, t0)
			}
			if leaf.Clamped {
				t.Error("Clamped set although the CA outlives the leaf")
			}
			if err := c.CheckSignatureFrom(ca.Certificate); err != nil {
				t.Errorf("leaf not signed by the CA: %v", err)
			}
		})
	}
	t.Run("own country and organization", func(t *testing.T) {
		spec := testLeafSpec()
		spec.Country, spec.Organization = "GH", "Cyber Security Authority"
		spec.Duration = 30 * day
		c := mustLeaf(t, ca, spec, t0).Certificate
		if !slices.Equal(c.Subject.Country, []string{"GH"}) || !slices.Equal(c.Subject.Organization, []string{"Cyber Security Authority"}) {
			t.Errorf("subject = %s", c.Subject)
		}
		if !c.NotAfter.Equal(t0.Add(30 * day)) {
			t.Errorf("NotAfter = %s, want 30 days", c.NotAfter)
		}
	})
	t.Run("serials differ", func(t *testing.T) {
		a, b := mustLeaf(t, ca, testLeafSpec(), t0), mustLeaf(t, ca, testLeafSpec(), t0)
		if a.Certificate.SerialNumber.Cmp(b.Certificate.SerialNumber) == 0 {
			t.Error("two leaves got the same serial")
		}
	})
}

func TestIssueLeafClampsToCA(t *testing.T) {
	spec := testCASpec()
	spec.Duration = 100 * day
	ca := mustCA(t, spec, t0)
	now := t0.Add(50 * day)
	leaf := mustLeaf(t, ca, testLeafSpec(), now)
	if !leaf.Clamped {
		t.Error("Clamped = false, want true")
	}
	if !leaf.Certificate.NotAfter.Equal(ca.Certificate.NotAfter) {
		t.Errorf("NotAfter = %s, want the CA's %s", leaf.Certificate.NotAfter, ca.Certificate.NotAfter)
	}
	if want := now.Add(DefaultLeafDuration); !leaf.RequestedNotAfter.Equal(want) {
		t.Errorf("RequestedNotAfter = %s, want %s", leaf.RequestedNotAfter, want)
	}
	// A leaf issued right after the CA was created starts no earlier than it.
	early := mustLeaf(t, ca, testLeafSpec(), t0.Add(-time.Minute))
	if early.Certificate.NotBefore.Before(ca.Certificate.NotBefore) {
		t.Errorf("leaf NotBefore %s precedes the CA's %s", early.Certificate.NotBefore, ca.Certificate.NotBefore)
	}
}

func TestIssueLeafRefuses(t *testing.T) {
	ca := mustCA(t, testCASpec(), t0)
	other := mustCA(t, testCASpec(), t0)
	for _, tc := range []struct {
		name string
		ca   *KeyPair
		spec func(*LeafSpec)
		now  time.Time
		want string
	}{
		{"no CA", nil, nil, t0, "no CA key pair"},
		{"CA key mismatch", &KeyPair{Certificate: ca.Certificate, PrivateKey: other.PrivateKey}, nil, t0, "CA private key does not match"},
		{"not a CA", nonCACert(t, t0), nil, t0, "not a CA certificate"},
		{"CA expired", ca, nil, ca.Certificate.NotAfter, "the CA certificate expired at"},
		{"CA not yet valid", ca, nil, t0.Add(-time.Hour), "not valid until"},
		{"no usages", ca, func(s *LeafSpec) { s.Usages = nil }, t0, "usages: must hold at least one"},
		{"unknown usage", ca, func(s *LeafSpec) { s.Usages = []Usage{"CodeSigning"} }, t0, `usages[0]: "CodeSigning" is not a usage`},
		{"bad DNS name", ca, func(s *LeafSpec) { s.DNSNames = []string{"ok.svc", "under_score.svc"} }, t0, `dnsNames[1]: "under_score.svc" is not a DNS name`},
		{"empty DNS label", ca, func(s *LeafSpec) { s.DNSNames = []string{"a..svc"} }, t0, "empty label"},
		{"relative URI", ca, func(s *LeafSpec) { s.URIs = []string{"gateway"} }, t0, `uris[0]: "gateway" is not an absolute URI`},
		{"bad country", ca, func(s *LeafSpec) { s.Country = "Kenya" }, t0, `country: "Kenya"`},
		{"no common name", ca, func(s *LeafSpec) { s.CommonName = "" }, t0, "commonName: must not be empty"},
		{"short duration", ca, func(s *LeafSpec) { s.Duration = time.Second }, t0, "duration: 1s is shorter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := testLeafSpec()
			if tc.spec != nil {
				tc.spec(&spec)
			}
			_, err := IssueLeaf(tc.ca, spec, tc.now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("IssueLeaf() = %v, want error containing %q", err, tc.want)
			}
		})
	}
	spec := testLeafSpec()
	spec.DNSNames = []string{"*.gateway.ke.svc", "xn--80ak6aa92e.ke"}
	if err := spec.Validate(); err != nil {
		t.Errorf("wildcard and punycode names rejected: %v", err)
	}
}

func TestRenewalTime(t *testing.T) {
	nb := t0
	for _, tc := range []struct {
		name        string
		lifetime    time.Duration
		renewBefore time.Duration
		want        time.Time
	}{
		{"default is two thirds", 90 * day, 0, nb.Add(60 * day)},
		{"renewBefore set", 90 * day, 10 * day, nb.Add(80 * day)},
		{"renewBefore just under lifetime", 90 * day, 90*day - time.Hour, nb.Add(time.Hour)},
		{"renewBefore equal to lifetime falls back", 90 * day, 90 * day, nb.Add(60 * day)},
		{"renewBefore longer than lifetime falls back", 30 * day, 45 * day, nb.Add(20 * day)},
		{"negative renewBefore ignored", 30 * day, -day, nb.Add(20 * day)},
		{"CA default", DefaultCADuration, DefaultCARenewBefore, nb.Add(DefaultCADuration - DefaultCARenewBefore)},
		// Whole seconds, earlier rather than later: status stores seconds, and a fraction
		// made every reconcile of such a certificate write status again.
		{"lifetime not divisible by three", 10 * time.Second, 0, nb.Add(6 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RenewalTime(nb, nb.Add(tc.lifetime), tc.renewBefore); !got.Equal(tc.want) {
				t.Errorf("RenewalTime = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestFactsOf(t *testing.T) {
	ca := mustCA(t, testCASpec(), t0)
	leaf := mustLeaf(t, ca, testLeafSpec(), t0).Certificate
	f := FactsOf(leaf, 0)
	if !f.NotBefore.Equal(leaf.NotBefore) || !f.NotAfter.Equal(leaf.NotAfter) {
		t.Errorf("validity = %s – %s", f.NotBefore, f.NotAfter)
	}
	if want := RenewalTime(leaf.NotBefore, leaf.NotAfter, 0); !f.RenewalTime.Equal(want) {
		t.Errorf("RenewalTime = %s, want %s", f.RenewalTime, want)
	}
	colonHex32 := `^[0-9A-F]{2}(:[0-9A-F]{2}){31}$`
	colonHex20 := `^[0-9A-F]{2}(:[0-9A-F]{2}){19}$`
	for _, c := range []struct{ field, value, pattern string }{
		{"SHA256Fingerprint", f.SHA256Fingerprint, colonHex32},
		{"SubjectKeyID", f.SubjectKeyID, colonHex20},
		{"AuthorityKeyID", f.AuthorityKeyID, colonHex20},
		{"SerialNumber", f.SerialNumber, `^([0-9A-F]{2})+$`},
	} {
		if !regexpMatch(c.pattern, c.value) {
			t.Errorf("%s = %q does not match %s", c.field, c.value, c.pattern)
		}
	}
	if f.AuthorityKeyID != FactsOf(ca.Certificate, 0).SubjectKeyID {
		t.Error("leaf AKI fact differs from the CA's SKI fact")
	}
	if !strings.EqualFold(strings.TrimLeft(f.SerialNumber, "0"), leaf.SerialNumber.Text(16)) {
		t.Errorf("SerialNumber = %s, want %x", f.SerialNumber, leaf.SerialNumber)
	}
	caFacts := FactsOf(ca.Certificate, testCASpec().EffectiveRenewBefore())
	if want := ca.Certificate.NotAfter.Add(-DefaultCARenewBefore); !caFacts.RenewalTime.Equal(want) {
		t.Errorf("CA RenewalTime = %s, want %s", caFacts.RenewalTime, want)
	}
	if got := colonHex([]byte{0x0a, 0xff, 0x00}); got != "0A:FF:00" {
		t.Errorf("colonHex = %q", got)
	}
}
