/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"maps"
	"strings"
	"testing"
)

func TestPEMRoundTrip(t *testing.T) {
	ca := mustCA(t, testCASpec(), t0)
	leaf := mustLeaf(t, ca, testLeafSpec(), t0)

	chain := EncodeCertificatesPEM(leaf.Certificate, ca.Certificate)
	certs, err := ParseCertificatesPEM(chain)
	if err != nil {
		t.Fatalf("ParseCertificatesPEM: %v", err)
	}
	if len(certs) != 2 || !certs[0].Equal(leaf.Certificate) || !certs[1].Equal(ca.Certificate) {
		t.Error("chain did not round-trip in order")
	}
	withPreamble := append([]byte("subject=CN = gateway\nissuer=CN = cybercoop KE national CA\n"), chain...)
	if _, err := ParseCertificatesPEM(withPreamble); err != nil {
		t.Errorf("explanatory text before the first block rejected: %v", err)
	}

	keyPEM, err := leaf.PrivateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if block, _ := pem.Decode(keyPEM); block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("private key is not a PKCS#8 PRIVATE KEY block")
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		t.Fatalf("ParsePrivateKeyPEM: %v", err)
	}
	if !publicKeysEqual(key.Public(), leaf.Certificate.PublicKey) {
		t.Error("key did not round-trip")
	}
	// Keys brought from elsewhere in legacy encodings are read too.
	sec1, err := x509.MarshalECPrivateKey(leaf.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})); err != nil {
		t.Errorf("SEC 1 key rejected: %v", err)
	}
}

// TestParseLeafSecret covers the ways a leaf Secret is found damaged or
// tampered with. Each error must name the data key and problem and must not
// repeat any of the Secret's content.
func TestParseLeafSecret(t *testing.T) {
	ca := mustCA(t, testCASpec(), t0)
	leaf := mustLeaf(t, ca, testLeafSpec(), t0)
	other := mustLeaf(t, ca, testLeafSpec(), t0)
	bundle, _ := NewTrustBundle(ca.Certificate)
	good := mustSecretData(t, &leaf.KeyPair, bundle)
	otherKey, _ := other.PrivateKeyPEM()
	nonCA := nonCACert(t, t0)

	with := func(key string, value []byte) map[string][]byte {
		d := maps.Clone(good)
		if value == nil {
			delete(d, key)
		} else {
			d[key] = value
		}
		return d
	}
	crt, key := good[TLSCertKey], good[TLSPrivateKeyKey]
	garbledKey := bytes.Replace(key, key[40:48], []byte("!!!!!!!!"), 1)
	keyBlock, _ := pem.Decode(key)
	// Well-formed PEM around broken DER.
	truncatedDER := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyBlock.Bytes[:len(keyBlock.Bytes)-7]})
	encryptedKey := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0x00}})
	headerKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{1}})

	for _, tc := range []struct {
		name    string
		data    map[string][]byte
		key     string
		problem Problem
	}{
		{"nil data", nil, TLSCertKey, ProblemNoData},
		{"only ca.crt", map[string][]byte{CACertKey: good[CACertKey]}, TLSCertKey, ProblemNoData},
		{"whitespace only", map[string][]byte{TLSCertKey: []byte(" \n"), TLSPrivateKeyKey: []byte("\n")}, TLSCertKey, ProblemNoData},
		{"certificate missing", with(TLSCertKey, nil), TLSCertKey, ProblemMissing},
		{"key missing", with(TLSPrivateKeyKey, nil), TLSPrivateKeyKey, ProblemMissing},
		{"certificate truncated", with(TLSCertKey, truncate(crt, len(crt)/2)), TLSCertKey, ProblemMalformed},
		{"certificate truncated before END", with(TLSCertKey, truncate(crt, len(crt)-10)), TLSCertKey, ProblemMalformed},
		{"chain with truncated second block", with(TLSCertKey, append(append([]byte(nil), crt...), truncate(good[CACertKey], 100)...)), TLSCertKey, ProblemMalformed},
		{"garbage after certificate", with(TLSCertKey, append(append([]byte(nil), crt...), "trailing"...)), TLSCertKey, ProblemMalformed},
		{"certificate is DER", with(TLSCertKey, leaf.Certificate.Raw), TLSCertKey, ProblemMalformed},
		{"key where certificate belongs", with(TLSCertKey, key), TLSCertKey, ProblemWrongType},
		{"certificate DER corrupted", with(TLSCertKey, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Certificate.Raw[:200]})), TLSCertKey, ProblemMalformed},
		{"CA key pair as leaf", mustSecretData(t, ca, bundle), TLSCertKey, ProblemNotLeaf},
		{"key truncated", with(TLSPrivateKeyKey, truncate(key, len(key)/2)), TLSPrivateKeyKey, ProblemMalformed},
		{"key garbled base64", with(TLSPrivateKeyKey, garbledKey), TLSPrivateKeyKey, ProblemMalformed},
		{"key DER truncated", with(TLSPrivateKeyKey, truncatedDER), TLSPrivateKeyKey, ProblemMalformed},
		{"certificate where key belongs", with(TLSPrivateKeyKey, crt), TLSPrivateKeyKey, ProblemWrongType},
		{"two keys", with(TLSPrivateKeyKey, append(append([]byte(nil), key...), otherKey...)), TLSPrivateKeyKey, ProblemMalformed},
		{"encrypted key", with(TLSPrivateKeyKey, encryptedKey), TLSPrivateKeyKey, ProblemUnsupported},
		{"PEM headers on key", with(TLSPrivateKeyKey, headerKey), TLSPrivateKeyKey, ProblemUnsupported},
		{"key of another leaf", with(TLSPrivateKeyKey, otherKey), TLSPrivateKeyKey, ProblemKeyMismatch},
		{"non-CA certificate in ca.crt", with(CACertKey, nonCA.CertificatePEM()), CACertKey, ProblemNotCA},
		{"ca.crt truncated", with(CACertKey, truncate(good[CACertKey], 80)), CACertKey, ProblemMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLeafSecret(tc.data)
			if err == nil {
				t.Fatalf("ParseLeafSecret succeeded: %+v", got)
			}
			if got != nil {
				t.Error("a result was returned with the error")
			}
			checkDataError(t, err, tc.key, tc.problem, tc.data)
		})
	}

	t.Run("valid", func(t *testing.T) {
		s, err := ParseLeafSecret(good)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Certificate.Equal(leaf.Certificate) || len(s.Chain) != 0 || len(s.CACertificates) != 1 {
			t.Errorf("parsed %+v", s)
		}
	})
	t.Run("mismatch message", func(t *testing.T) {
		_, err := ParseLeafSecret(with(TLSPrivateKeyKey, otherKey))
		if want := "tls.key: private key does not match the certificate in tls.crt"; err == nil || err.Error() != want {
			t.Errorf("error = %v, want %q", err, want)
		}
	})
}

func TestParseCASecret(t *testing.T) {
	ca := mustCA(t, testCASpec(), t0)
	other := mustCA(t, testCASpec(), t0)
	good := mustSecretData(t, ca, nil)
	otherKey, _ := other.PrivateKeyPEM()
	notCA := mustSecretData(t, nonCACert(t, t0), nil)
	leaf := mustLeaf(t, ca, testLeafSpec(), t0)

	for _, tc := range []struct {
		name    string
		data    map[string][]byte
		key     string
		problem Problem
	}{
		{"nothing", map[string][]byte{}, TLSCertKey, ProblemNoData},
		{"key missing", map[string][]byte{TLSCertKey: good[TLSCertKey]}, TLSPrivateKeyKey, ProblemMissing},
		{"key of another CA", map[string][]byte{TLSCertKey: good[TLSCertKey], TLSPrivateKeyKey: otherKey}, TLSPrivateKeyKey, ProblemKeyMismatch},
		{"key truncated", map[string][]byte{TLSCertKey: good[TLSCertKey], TLSPrivateKeyKey: truncate(good[TLSPrivateKeyKey], 60)}, TLSPrivateKeyKey, ProblemMalformed},
		{"certificate truncated", map[string][]byte{TLSCertKey: truncate(good[TLSCertKey], 300), TLSPrivateKeyKey: good[TLSPrivateKeyKey]}, TLSCertKey, ProblemMalformed},
		{"certificate is not a CA", notCA, TLSCertKey, ProblemNotCA},
		{"leaf as CA", mustSecretData(t, &leaf.KeyPair, nil), TLSCertKey, ProblemNotCA},
		{"two certificates", map[string][]byte{TLSCertKey: EncodeCertificatesPEM(ca.Certificate, other.Certificate), TLSPrivateKeyKey: good[TLSPrivateKeyKey]}, TLSCertKey, ProblemMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCASecret(tc.data)
			if err == nil {
				t.Fatal("ParseCASecret succeeded")
			}
			checkDataError(t, err, tc.key, tc.problem, tc.data)
		})
	}
	got, err := ParseCASecret(good)
	if err != nil || !got.Certificate.Equal(ca.Certificate) {
		t.Fatalf("ParseCASecret(valid) = %v, %v", got, err)
	}
	// ca.crt is the bundle's business, not the CA's.
	withBadBundle := maps.Clone(good)
	withBadBundle[CACertKey] = []byte("garbage")
	if _, err := ParseCASecret(withBadBundle); err != nil {
		t.Errorf("a damaged ca.crt made the CA unusable: %v", err)
	}
	if _, err := ParsePrivateKeyPEM(good[TLSCertKey]); err == nil || !strings.Contains(err.Error(), `"CERTIFICATE" block`) {
		t.Errorf("ParsePrivateKeyPEM(certificate) = %v, want a wrong block type error", err)
	}
}
