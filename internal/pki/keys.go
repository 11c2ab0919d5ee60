/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
)

// KeyAlgorithm names the algorithm and size of a key pair. The values are the
// strings used in the API, so a spec field can be converted directly.
type KeyAlgorithm string

const (
	// ECDSAP256 is ECDSA on NIST P-256 with SHA-256 signatures: the default,
	// compact and fast, and accepted by every TLS stack the services talk to.
	ECDSAP256 KeyAlgorithm = "ECDSAP256"
	// ECDSAP384 is ECDSA on NIST P-384 with SHA-384 signatures, for sites
	// whose policy asks for a 192-bit security level.
	ECDSAP384 KeyAlgorithm = "ECDSAP384"
	// RSA3072 is a 3072-bit RSA key with SHA-256 PKCS#1 v1.5 signatures, for
	// peers that cannot use ECDSA.
	RSA3072 KeyAlgorithm = "RSA3072"
)

// DefaultKeyAlgorithm is used wherever a spec leaves the algorithm empty.
const DefaultKeyAlgorithm = ECDSAP256

// OrDefault returns a, or DefaultKeyAlgorithm when a is empty.
func (a KeyAlgorithm) OrDefault() KeyAlgorithm {
	if a == "" {
		return DefaultKeyAlgorithm
	}
	return a
}

// Validate reports whether a (after defaulting) is one of the supported
// algorithms.
func (a KeyAlgorithm) Validate() error {
	switch a.OrDefault() {
	case ECDSAP256, ECDSAP384, RSA3072:
		return nil
	}
	return fmt.Errorf("keyAlgorithm: %q is not supported (use %s, %s or %s)", string(a), ECDSAP256, ECDSAP384, RSA3072)
}

// GenerateKey creates a new private key for a (after defaulting) from
// crypto/rand.
func GenerateKey(a KeyAlgorithm) (crypto.Signer, error) {
	switch a.OrDefault() {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	}
	return nil, a.Validate()
}

// KeyAlgorithmOf names the algorithm of a public key. Keys this package would
// not generate (RSA of another size, P-521, Ed25519, …) are reported as an
// error that describes them, so a decision can say what it found.
func KeyAlgorithmOf(pub crypto.PublicKey) (KeyAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return ECDSAP256, nil
		case elliptic.P384():
			return ECDSAP384, nil
		}
		return "", fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if k.N.BitLen() == 3072 {
			return RSA3072, nil
		}
		return "", fmt.Errorf("unsupported RSA key size %d bits", k.N.BitLen())
	case ed25519.PublicKey:
		return "", fmt.Errorf("unsupported key algorithm Ed25519")
	}
	return "", fmt.Errorf("unsupported public key type %T", pub)
}

// publicKeysEqual reports whether two public keys are the same key. All key
// types of the standard library implement Equal.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// subjectKeyID computes a subject key identifier by RFC 7093 method 1: the
// leftmost 160 bits of SHA-256 over the subjectPublicKey BIT STRING.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("decoding public key: %w", err)
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20], nil
}

// newSerialNumber returns a positive random 128-bit serial number. Random
// serials make certificates unpredictable (RFC 5280 allows up to 20 octets).
func newSerialNumber() (*big.Int, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	serial := new(big.Int).SetBytes(b[:])
	if serial.Sign() == 0 {
		serial.SetInt64(1) // zero is not a valid serial; odds 2^-128
	}
	return serial, nil
}
