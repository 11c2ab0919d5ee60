/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

package pki

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"
)

func TestDecideLeaf(t *testing.T) {
	ca := mustCA(t, testCASpec(), t0)
	spec := testLeafSpec()
	issued := mustLeaf(t, ca, spec, t0)
	bundle, _ := NewTrustBundle(ca.Certificate)
	data := mustSecretData(t, &issued.KeyPair, bundle)
	current, err := ParseLeafSecret(data)
	if err != nil {
		t.Fatal(err)
	}
	parseErr := func(d map[string][]byte) error {
		_, err := ParseLeafSecret(d)
		if err == nil {
			t.Fatal("expected a parse error")
		}
		return err
	}
	otherKey, _ := mustLeaf(t, ca, spec, t0).PrivateKeyPEM()
	mismatched := maps.Clone(data)
	mismatched[TLSPrivateKeyKey] = otherKey
	truncated := maps.Clone(data)
	truncated[TLSCertKey] = truncate(data[TLSCertKey], 200)

	otherCA := mustCA(t, testCASpec(), t0)
	fromOtherCA := mustLeaf(t, otherCA, spec, t0)
	fromForgedCA := mustLeaf(t, forgedCA(t, ca, t0), spec, t0)
	renewedCA, _ := RenewCA(ca, 0, t0.Add(day))

	renewal := RenewalTime(issued.Certificate.NotBefore, issued.Certificate.NotAfter, 0) // ≈ t0+60d
	withSpec := func(f func(*LeafSpec)) LeafSpec {
		s := testLeafSpec()
		f(&s)
		return s
	}
	soon := t0.Add(day)

	for _, tc := range []struct {
		name      string
		in        LeafInput
		now       time.Time
		action    LeafAction
		reason    Reason
		message   string    // substring of Message
		nextCheck time.Time // checked when action is Keep
	}{
		{"nothing stored", LeafInput{}, soon, LeafIssue, ReasonMissing, "no leaf certificate", time.Time{}},
		{"Secret without data", LeafInput{ParseErr: parseErr(nil)}, soon, LeafIssue, ReasonMissing, "no leaf certificate", time.Time{}},
		{"truncated PEM", LeafInput{ParseErr: parseErr(truncated)}, soon, LeafIssue, ReasonInvalid, "tls.crt: ", time.Time{}},
		{"key of another leaf", LeafInput{ParseErr: parseErr(mismatched)}, soon, LeafIssue, ReasonKeyMismatch, "tls.key: private key does not match", time.Time{}},
		{"key swapped after parsing", LeafInput{Current: &LeafSecret{KeyPair: KeyPair{Certificate: issued.Certificate, PrivateKey: otherCA.PrivateKey}}}, soon, LeafIssue, ReasonKeyMismatch, "does not match", time.Time{}},
		{"leaf from another CA", LeafInput{Current: &LeafSecret{KeyPair: fromOtherCA.KeyPair}}, soon, LeafIssue, ReasonNotSignedByCurrentCA, "authority key ID", time.Time{}},
		{"leaf from a forged CA with the same name and key ID", LeafInput{Current: &LeafSecret{KeyPair: fromForgedCA.KeyPair}}, soon, LeafIssue, ReasonNotSignedByCurrentCA, "signature does not verify", time.Time{}},
		{"CA renewed with the same key", LeafInput{Current: current, CA: renewedCA.Certificate}, soon, LeafKeep, ReasonUpToDate, "valid until", renewal},
		{"expired", LeafInput{Current: current}, issued.Certificate.NotAfter, LeafIssue, ReasonExpired, "expired at", time.Time{}},
		{"not yet valid", LeafInput{Current: current}, issued.Certificate.NotBefore.Add(-time.Second), LeafIssue, ReasonInvalid, "not valid until", time.Time{}},
		{"DNS name added", LeafInput{Current: current, Spec: withSpec(func(s *LeafSpec) { s.DNSNames = append(s.DNSNames, "gateway.example.org") })}, soon, LeafIssue, ReasonNamesChanged, "dnsNames:", time.Time{}},
		{"DNS name removed", LeafInput{Current: current, Spec: withSpec(func(s *LeafSpec) { s.DNSNames = s.DNSNames[:1] })}, soon, LeafIssue, ReasonNamesChanged, "dnsNames:", time.Time{}},
		{"DNS names reordered and recased", LeafInput{Current: current, Spec: withSpec(func(s *LeafSpec) {
			s.DNSNames = []string{"GATEWAY.ke.svc.cluster.local", "gateway.ke.svc", "gateway.ke.svc"}
		})}, soon, LeafKeep, ReasonUpToDate, "", renewal},
		{"URI changed", LeafInput{Current: current, Spec: withSpec(func(s *LeafSpec) { s.URIs = []string{"spiffe://cybercoop.io/ns/ke/sa/vault"} })}, soon, LeafIssue, ReasonNamesChanged, "uris:", time.Time{}},
		{"common name changed", LeafInput{Current: current, Spec: withSpec(func(s *LeafSpec) { s.CommonName = "gateway-2" })}, soon, LeafIssue, ReasonNamesChanged, "commonName:", time.Time{}},
		{"country changed", LeafInput{Current: current, Spec: withSpec(func(s *LeafSpec) { s.Country = "GH" })}, soon, LeafIssue, ReasonNamesChanged, "country:", time.Time{}},
		{"country spelled out as the CA's", LeafInput{Current: current, Spec: withSpec(func(s *LeafSpec) { s.Country = "KE" })}, soon, LeafKeep, ReasonUpToDate, "", renewal},
		{"client usage added", LeafInput{Current: current, Spec: withSpec(func(s *LeafSpec) { s.Usages = []Usage{UsageServer, UsageClient} })}, soon, LeafIssue, ReasonUsageChanged, "usages: the leaf allows [Server], the spec wants [Server Client]", time.Time{}},
		{"usage switched", LeafInput{Current: current, Spec: withSpec(func(s *LeafSpec) { s.Usages = []Usage{UsageClient} })}, soon, LeafIssue, ReasonUsageChanged, "usages:", time.Time{}},
		{"algorithm changed", LeafInput{Current: current, Spec: withSpec(func(s *LeafSpec) { s.KeyAlgorithm = ECDSAP384 })}, soon, LeafIssue, ReasonAlgorithmChanged, "the leaf has ECDSAP256, the spec wants ECDSAP384", time.Time{}},
		{"algorithm spelled out as the default", LeafInput{Current: current, Spec: withSpec(func(s *LeafSpec) { s.KeyAlgorithm = ECDSAP256 })}, soon, LeafKeep, ReasonUpToDate, "", renewal},
		{"duration changed applies at renewal", LeafInput{Current: current, Spec: withSpec(func(s *LeafSpec) { s.Duration = 30 * day })}, soon, LeafKeep, ReasonUpToDate, "", renewal},
		{"force-renew token changed", LeafInput{Current: current, ForceRenewToken: "2026-11-23", IssuedForceRenewToken: "2026-01-01"}, soon, LeafIssue, ReasonForceRenew, `"2026-11-23"`, time.Time{}},
		{"force-renew token first set", LeafInput{Current: current, ForceRenewToken: "now"}, soon, LeafIssue, ReasonForceRenew, "", time.Time{}},
		{"force-renew token unchanged", LeafInput{Current: current, ForceRenewToken: "a", IssuedForceRenewToken: "a"}, soon, LeafKeep, ReasonUpToDate, "", renewal},
		{"force-renew token cleared", LeafInput{Current: current, IssuedForceRenewToken: "a"}, soon, LeafKeep, ReasonUpToDate, "", renewal},
		{"just before renewal time", LeafInput{Current: current}, renewal.Add(-time.Nanosecond), LeafKeep, ReasonUpToDate, "", renewal},
		{"at renewal time", LeafInput{Current: current}, renewal, LeafIssue, ReasonRenewalDue, "renewal was due at", time.Time{}},
		{"renewBefore moves renewal later", LeafInput{Current: current, Spec: withSpec(func(s *LeafSpec) { s.RenewBefore = 10 * day })}, renewal, LeafKeep, ReasonUpToDate, "", issued.Certificate.NotAfter.Add(-10 * day)},
		{"renewBefore reached", LeafInput{Current: current, Spec: withSpec(func(s *LeafSpec) { s.RenewBefore = 10 * day })}, issued.Certificate.NotAfter.Add(-10 * day), LeafIssue, ReasonRenewalDue, "", time.Time{}},
		{"up to date", LeafInput{Current: current}, soon, LeafKeep, ReasonUpToDate, "will be renewed at", renewal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if in.CA == nil {
				in.CA = ca.Certificate
			}
			if in.Spec.CommonName == "" {
				in.Spec = spec
			}
			d, err := DecideLeaf(in, tc.now)
			if err != nil {
				t.Fatalf("DecideLeaf: %v", err)
			}
			if d.Action != tc.action || d.Reason != tc.reason {
				t.Fatalf("decision = %s/%s (%s), want %s/%s", d.Action, d.Reason, d.Message, tc.action, tc.reason)
			}
			if !strings.Contains(d.Message, tc.message) || d.Message == "" {
				t.Errorf("message %q does not contain %q", d.Message, tc.message)
			}
			if !d.NextCheck.Equal(tc.nextCheck) {
				t.Errorf("NextCheck = %s, want %s", d.NextCheck, tc.nextCheck)
			}
			for k, v := range data {
				if leak := leakedSecret(d.Message, v); leak != "" {
					t.Errorf("message repeats %q from %s", leak, k)
				}
			}
		})
	}

	t.Run("input errors", func(t *testing.T) {
		if _, err := DecideLeaf(LeafInput{Current: current, Spec: spec}, soon); err == nil {
			t.Error("no error without a CA")
		}
		bad := spec
		bad.Usages = nil
		if _, err := DecideLeaf(LeafInput{Current: current, CA: ca.Certificate, Spec: bad}, soon); err == nil || !strings.Contains(err.Error(), "usages") {
			t.Errorf("invalid spec gave %v", err)
		}
	})
}

func TestDecideCA(t *testing.T) {
	spec := testCASpec()
	ca := mustCA(t, spec, t0)
	other := mustCA(t, spec, t0)
	good := mustSecretData(t, ca, nil)
	otherKey, _ := other.PrivateKeyPEM()
	parseErr := func(d map[string][]byte) error {
		_, err := ParseCASecret(d)
		if err == nil {
			t.Fatal("expected a parse error")
		}
		return err
	}
	certOnly := map[string][]byte{TLSCertKey: good[TLSCertKey]}
	keyOnly := map[string][]byte{TLSPrivateKeyKey: good[TLSPrivateKeyKey]}
	wrongKey := map[string][]byte{TLSCertKey: good[TLSCertKey], TLSPrivateKeyKey: otherKey}
	garbledKey := map[string][]byte{TLSCertKey: good[TLSCertKey], TLSPrivateKeyKey: truncate(good[TLSPrivateKeyKey], 90)}
	truncatedCert := map[string][]byte{TLSCertKey: truncate(good[TLSCertKey], 250), TLSPrivateKeyKey: good[TLSPrivateKeyKey]}
	notCA := mustSecretData(t, nonCACert(t, t0), nil)

	renewal := ca.Certificate.NotAfter.Add(-DefaultCARenewBefore)
	soon := t0.Add(day)
	p384 := spec
	p384.KeyAlgorithm = ECDSAP384
	longRenewBefore := spec
	longRenewBefore.RenewBefore = 10 * DefaultCADuration

	for _, tc := range []struct {
		name      string
		in        CAInput
		now       time.Time
		action    CAAction
		reason    Reason
		message   string
		nextCheck time.Time
	}{
		{"no CA at all", CAInput{}, soon, CACreate, ReasonMissing, "no CA exists", time.Time{}},
		{"empty Secret", CAInput{ParseErr: parseErr(nil)}, soon, CACreate, ReasonMissing, "", time.Time{}},
		{"key missing", CAInput{ParseErr: parseErr(certOnly)}, soon, CAKeyLost, ReasonKeyMissing, "tls.key: no data", time.Time{}},
		{"key of another CA", CAInput{ParseErr: parseErr(wrongKey)}, soon, CAKeyLost, ReasonKeyMismatch, "tls.key: private key does not match the certificate in tls.crt", time.Time{}},
		{"key truncated", CAInput{ParseErr: parseErr(garbledKey)}, soon, CAKeyLost, ReasonKeyInvalid, "tls.key:", time.Time{}},
		{"certificate truncated", CAInput{ParseErr: parseErr(truncatedCert)}, soon, CAKeyLost, ReasonInvalid, "tls.crt:", time.Time{}},
		{"certificate missing, key present", CAInput{ParseErr: parseErr(keyOnly)}, soon, CAKeyLost, ReasonInvalid, "tls.crt: no data", time.Time{}},
		{"certificate is not a CA", CAInput{ParseErr: parseErr(notCA)}, soon, CAKeyLost, ReasonInvalid, "not a CA certificate", time.Time{}},
		{"not a CA after parsing", CAInput{Current: nonCACert(t, t0)}, soon, CAKeyLost, ReasonInvalid, "not a CA certificate", time.Time{}},
		{"key swapped after parsing", CAInput{Current: &KeyPair{Certificate: ca.Certificate, PrivateKey: other.PrivateKey}}, soon, CAKeyLost, ReasonKeyMismatch, "does not match", time.Time{}},
		{"key lost, replacement approved", CAInput{ParseErr: parseErr(wrongKey), ForceReplaceToken: "approved"}, soon, CAReplaceKey, ReasonForceReplace, "replacing the unusable CA", time.Time{}},
		{"key lost, approval already used", CAInput{ParseErr: parseErr(wrongKey), ForceReplaceToken: "a", RecordedForceReplaceToken: "a"}, soon, CAKeyLost, ReasonKeyMismatch, "", time.Time{}},
		{"up to date", CAInput{Current: ca}, soon, CAKeep, ReasonUpToDate, "will be renewed at", renewal},
		{"just before renewal", CAInput{Current: ca}, renewal.Add(-time.Nanosecond), CAKeep, ReasonUpToDate, "", renewal},
		{"renewal due keeps the key", CAInput{Current: ca}, renewal, CARenewKeepKey, ReasonRenewalDue, "renewal was due", time.Time{}},
		{"renewal due, explicit RenewCertificate", CAInput{Current: ca, Policy: PolicyRenewCertificate}, renewal, CARenewKeepKey, ReasonRenewalDue, "", time.Time{}},
		{"renewal due, ReplaceKey policy", CAInput{Current: ca, Policy: PolicyReplaceKey}, renewal, CAReplaceKey, ReasonRenewalDue, "", time.Time{}},
		{"expired keeps the key", CAInput{Current: ca}, ca.Certificate.NotAfter, CARenewKeepKey, ReasonExpired, "expired at", time.Time{}},
		{"expired, ReplaceKey policy", CAInput{Current: ca, Policy: PolicyReplaceKey}, ca.Certificate.NotAfter.Add(day), CAReplaceKey, ReasonExpired, "", time.Time{}},
		{"not yet valid is re-signed", CAInput{Current: ca}, t0.Add(-time.Hour), CARenewKeepKey, ReasonInvalid, "not valid until", time.Time{}},
		{"algorithm changed", CAInput{Current: ca, Spec: p384}, soon, CAReplaceKey, ReasonAlgorithmChanged, "the CA has ECDSAP256, the spec wants ECDSAP384", time.Time{}},
		{"force-replace token set", CAInput{Current: ca, ForceReplaceToken: "rotate-1"}, soon, CAReplaceKey, ReasonForceReplace, `"rotate-1"`, time.Time{}},
		{"force-replace token recorded", CAInput{Current: ca, ForceReplaceToken: "rotate-1", RecordedForceReplaceToken: "rotate-1"}, soon, CAKeep, ReasonUpToDate, "", renewal},
		{"force-replace token cleared", CAInput{Current: ca, RecordedForceReplaceToken: "rotate-1"}, soon, CAKeep, ReasonUpToDate, "", renewal},
		{"renewBefore longer than lifetime falls back to two thirds", CAInput{Current: ca, Spec: longRenewBefore}, soon, CAKeep, ReasonUpToDate, "",
			RenewalTime(ca.Certificate.NotBefore, ca.Certificate.NotAfter, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if in.Spec.CommonName == "" {
				in.Spec = spec
			}
			d, err := DecideCA(in, tc.now)
			if err != nil {
				t.Fatalf("DecideCA: %v", err)
			}
			if d.Action != tc.action || d.Reason != tc.reason {
				t.Fatalf("decision = %s/%s (%s), want %s/%s", d.Action, d.Reason, d.Message, tc.action, tc.reason)
			}
			if d.Message == "" || !strings.Contains(d.Message, tc.message) {
				t.Errorf("message %q does not contain %q", d.Message, tc.message)
			}
			if !d.NextCheck.Equal(tc.nextCheck) {
				t.Errorf("NextCheck = %s, want %s", d.NextCheck, tc.nextCheck)
			}
			if d.Action == CAKeyLost && !strings.Contains(d.Message, "no new CA is created automatically") {
				t.Errorf("KeyLost message does not tell the caller to hold back: %q", d.Message)
			}
			for k, v := range good {
				if leak := leakedSecret(d.Message, v); leak != "" {
					t.Errorf("message repeats %q from %s", leak, k)
				}
			}
		})
	}

	t.Run("input errors", func(t *testing.T) {
		if _, err := DecideCA(CAInput{Current: ca, Spec: spec, Policy: "Rotate"}, soon); err == nil || !strings.Contains(err.Error(), "rotationPolicy") {
			t.Errorf("unknown policy gave %v", err)
		}
		if _, err := DecideCA(CAInput{Current: ca}, soon); err == nil || !strings.Contains(err.Error(), "commonName") {
			t.Errorf("invalid spec gave %v", err)
		}
		if _, err := DecideCA(CAInput{ParseErr: errors.New("boom"), Spec: spec}, soon); err != nil {
			t.Errorf("a foreign parse error is a decision, not an input error: %v", err)
		}
	})
}
