/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

package pki

import (
	"errors"
	"testing"
)

// fuzzSeeds returns Secret data shapes worth mutating: a valid leaf, a
// valid CA, and a few damaged ones.
func fuzzSeeds(f *testing.F) [][3][]byte {
	ca := mustCA(f, testCASpec(), t0)
	leaf := mustLeaf(f, ca, testLeafSpec(), t0)
	bundle, _ := NewTrustBundle(ca.Certificate)
	l := mustSecretData(f, &leaf.KeyPair, bundle)
	c := mustSecretData(f, ca, nil)
	return [][3][]byte{
		{l[TLSCertKey], l[TLSPrivateKeyKey], l[CACertKey]},
		{c[TLSCertKey], c[TLSPrivateKeyKey], nil},
		{l[TLSCertKey], c[TLSPrivateKeyKey], l[CACertKey]},
		{truncate(l[TLSCertKey], 300), truncate(l[TLSPrivateKeyKey], 100), truncate(l[CACertKey], 50)},
		{l[TLSPrivateKeyKey], l[TLSCertKey], l[TLSCertKey]},
		{nil, nil, nil},
		{[]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), []byte("x")},
	}
}

// FuzzParseSecretData feeds arbitrary Secret data to the leaf and CA Secret
// parsers and the bundle parser. They must not panic; a success must hold a
// key that matches its certificate; a failure must be a *DataError naming a
// data key, and a failure about tls.key must not repeat the key's text.
func FuzzParseSecretData(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, crt, key, caCrt []byte) {
		data := map[string][]byte{TLSCertKey: crt, TLSPrivateKeyKey: key, CACertKey: caCrt}
		check := func(what string, err error) {
			var de *DataError
			if !errors.As(err, &de) {
				t.Fatalf("%s: error %v is %T, want *DataError", what, err, err)
			}
			if de.Key != TLSCertKey && de.Key != TLSPrivateKeyKey && de.Key != CACertKey {
				t.Fatalf("%s: error %q names no data key", what, err)
			}
			if de.Key == TLSPrivateKeyKey {
				if leak := leakedSecret(err.Error(), key); leak != "" {
					t.Fatalf("%s: error %q repeats %q from tls.key", what, err, leak)
				}
			}
		}
		if s, err := ParseLeafSecret(data); err != nil {
			check("ParseLeafSecret", err)
		} else if !publicKeysEqual(s.Certificate.PublicKey, s.PrivateKey.Public()) || isCA(s.Certificate) {
			t.Fatal("ParseLeafSecret accepted a mismatched key or a CA certificate")
		}
		if kp, err := ParseCASecret(data); err != nil {
			check("ParseCASecret", err)
		} else if !publicKeysEqual(kp.Certificate.PublicKey, kp.PrivateKey.Public()) || !isCA(kp.Certificate) {
			t.Fatal("ParseCASecret accepted a mismatched key or a non-CA certificate")
		}
		if b, err := ParseTrustBundle(caCrt); err == nil {
			again, err := ParseTrustBundle(b.PEM())
			if err != nil || again.Len() != b.Len() {
				t.Fatalf("bundle did not round-trip: %v", err)
			}
		}
	})
}
