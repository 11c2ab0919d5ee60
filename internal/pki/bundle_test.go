/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

package pki

import (
	"bytes"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTrustBundle(t *testing.T) {
	a := mustCA(t, testCASpec(), t0)
	b := mustCA(t, testCASpec(), t0.Add(day))
	c := mustCA(t, testCASpec(), t0.Add(2*day))
	renewedA, err := RenewCA(a, 0, t0.Add(3*day))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("deterministic and de-duplicated", func(t *testing.T) {
		ref, err := NewTrustBundle(a.Certificate, b.Certificate, c.Certificate)
		if err != nil {
			t.Fatal(err)
		}
		for _, order := range [][]*x509.Certificate{
			{c.Certificate, b.Certificate, a.Certificate},
			{b.Certificate, a.Certificate, c.Certificate, a.Certificate, b.Certificate},
		} {
			got, err := NewTrustBundle(order...)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.PEM(), ref.PEM()) || got.Len() != 3 {
				t.Errorf("bundle from %d certificates differs (len %d)", len(order), got.Len())
			}
		}
		certs := ref.Certificates()
		if !certs[0].Equal(a.Certificate) || !certs[2].Equal(c.Certificate) {
			t.Error("bundle is not ordered oldest first")
		}
		parsed, err := ParseTrustBundle(ref.PEM())
		if err != nil || !bytes.Equal(parsed.PEM(), ref.PEM()) {
			t.Errorf("bundle did not round-trip: %v", err)
		}
	})

	t.Run("contains", func(t *testing.T) {
		bundle, _ := NewTrustBundle(a.Certificate, b.Certificate)
		for _, tc := range []struct {
			name string
			ca   *x509.Certificate
			want bool
		}{
			{"first", a.Certificate, true},
			{"second", b.Certificate, true},
			{"absent", c.Certificate, false},
			{"renewed certificate of a member", renewedA.Certificate, false},
			{"nil", nil, false},
		} {
			if got := bundle.Contains(tc.ca); got != tc.want {
				t.Errorf("Contains(%s) = %v, want %v", tc.name, got, tc.want)
			}
		}
	})

	t.Run("rejects non-CA certificates", func(t *testing.T) {
		leaf := mustLeaf(t, a, testLeafSpec(), t0)
		if _, err := NewTrustBundle(a.Certificate, leaf.Certificate); err == nil || !strings.Contains(err.Error(), "certificate 2") {
			t.Errorf("NewTrustBundle with a leaf = %v, want an error naming certificate 2", err)
		}
		_, err := ParseTrustBundle(EncodeCertificatesPEM(a.Certificate, leaf.Certificate))
		checkDataError(t, withKey(err, CACertKey), CACertKey, ProblemNotCA, nil)
		_, err = ParseTrustBundle(nil)
		checkDataError(t, withKey(err, CACertKey), CACertKey, ProblemMissing, nil)
	})

	t.Run("verify", func(t *testing.T) {
		serverSpec := testLeafSpec()
		clientSpec := testLeafSpec()
		clientSpec.Usages = []Usage{UsageClient}
		server := mustLeaf(t, a, serverSpec, t0).Certificate
		client := mustLeaf(t, b, clientSpec, t0.Add(day)).Certificate
		foreign := mustLeaf(t, c, serverSpec, t0.Add(2*day)).Certificate
		forged := mustLeaf(t, forgedCA(t, a, t0), serverSpec, t0).Certificate
		oldAndNew, _ := NewTrustBundle(a.Certificate, b.Certificate)
		onlyA, _ := NewTrustBundle(a.Certificate)
		now := t0.Add(10 * day)
		for _, tc := range []struct {
			name   string
			bundle *TrustBundle
			leaf   *x509.Certificate
			usage  Usage
			now    time.Time
			want   string // "" means it verifies
		}{
			{"server leaf of old CA in old+new bundle", oldAndNew, server, UsageServer, now, ""},
			{"client leaf of new CA in old+new bundle", oldAndNew, client, UsageClient, now, ""},
			{"server leaf used as client", oldAndNew, server, UsageClient, now, "incompatible key usage"},
			{"client leaf used as server", oldAndNew, client, UsageServer, now, "incompatible key usage"},
			{"leaf of another CA", oldAndNew, foreign, UsageServer, now, "unknown authority"},
			{"leaf of a forged CA with the same name and key ID", onlyA, forged, UsageServer, now, "unknown authority"},
			{"expired leaf", oldAndNew, server, UsageServer, server.NotAfter.Add(time.Second), "expired"},
			{"leaf before its NotBefore", oldAndNew, server, UsageServer, server.NotBefore.Add(-time.Second), "not yet valid"},
			{"unknown usage", oldAndNew, server, "Email", now, "not a usage"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.bundle.Verify(tc.leaf, tc.usage, tc.now)
				if tc.want == "" {
					if err != nil {
						t.Fatalf("Verify = %v", err)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Verify = %v, want error containing %q", err, tc.want)
				}
			})
		}
	})
}

// withKey sets the data key of a *DataError that came from a parser used
// outside a Secret, so checkDataError can check it.
func withKey(err error, key string) error {
	var de *DataError
	if errors.As(err, &de) {
		cp := *de
		cp.Key = key
		return &cp
	}
	return err
}
