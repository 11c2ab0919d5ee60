/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// Keys of the Secret data this package reads and writes; the same names as
// the kubernetes.io/tls Secret type and the cert-manager convention.
const (
	// TLSCertKey holds the certificate: a leaf (optionally followed by its
	// chain) in a leaf Secret, the CA certificate in a CA Secret.
	TLSCertKey = "tls.crt"
	// TLSPrivateKeyKey holds the private key for the certificate in tls.crt.
	TLSPrivateKeyKey = "tls.key"
	// CACertKey holds the trust bundle: the CA certificates to trust.
	CACertKey = "ca.crt"
)

const (
	pemTypeCertificate = "CERTIFICATE"
	pemTypePrivateKey  = "PRIVATE KEY"
)

// Problem classifies what is wrong with Secret data, so callers can branch
// on it without parsing messages.
type Problem string

const (
	// ProblemNoData: neither tls.crt nor tls.key holds anything — there is no
	// key pair at all, as for a Secret that does not exist yet.
	ProblemNoData Problem = "NoData"
	// ProblemMissing: this key holds nothing while the other one does.
	ProblemMissing Problem = "Missing"
	// ProblemMalformed: the data is not well-formed PEM or DER — truncated,
	// garbled, or not PEM at all.
	ProblemMalformed Problem = "Malformed"
	// ProblemWrongType: a PEM block of the wrong type, e.g. a certificate
	// where a private key belongs.
	ProblemWrongType Problem = "WrongType"
	// ProblemUnsupported: well-formed but not usable here, e.g. an encrypted
	// private key.
	ProblemUnsupported Problem = "Unsupported"
	// ProblemKeyMismatch: the private key is not the key of the certificate.
	ProblemKeyMismatch Problem = "KeyMismatch"
	// ProblemNotCA: a certificate that must be a CA certificate is not one.
	ProblemNotCA Problem = "NotCA"
	// ProblemNotLeaf: a CA certificate where a leaf certificate belongs.
	ProblemNotLeaf Problem = "NotLeaf"
)

// DataError describes a problem with one item of Secret data. Its message
// names the data key and the problem and never contains key material or PEM
// text, so it is safe for logs, events and status.
type DataError struct {
	// Key is the Secret data key, e.g. "tls.key"; empty when the data did not
	// come from a Secret.
	Key     string
	Problem Problem
	// Detail is the human description, without the key name.
	Detail string
}

func (e *DataError) Error() string {
	if e.Key == "" {
		return e.Detail
	}
	return e.Key + ": " + e.Detail
}

func dataErr(p Problem, format string, args ...any) *DataError {
	return &DataError{Problem: p, Detail: fmt.Sprintf(format, args...)}
}

func (e *DataError) forKey(key string) *DataError {
	e.Key = key
	return e
}

// EncodeCertificatesPEM encodes certificates as consecutive "CERTIFICATE"
// blocks, in the order given.
func EncodeCertificatesPEM(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: pemTypeCertificate, Bytes: c.Raw}) // writes to a bytes.Buffer do not fail
	}
	return buf.Bytes()
}

// EncodePrivateKeyPEM encodes a private key as a PKCS#8 "PRIVATE KEY" block.
func EncodePrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key as PKCS#8: unsupported key type %T", key)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemTypePrivateKey, Bytes: der}), nil
}

// ParseCertificatesPEM parses one or more "CERTIFICATE" blocks. Text before
// the first block is ignored (as openssl and crypto/tls do); a block that does
// not decode, a truncated last block, trailing garbage or a block of another
// type is an error of type *DataError.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	certs, derr := parseCertificates(data)
	if derr != nil {
		return nil, derr
	}
	return certs, nil
}

// ParsePrivateKeyPEM parses exactly one private key block: PKCS#8
// ("PRIVATE KEY", what this package writes) or, for keys brought from
// elsewhere, SEC 1 ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY").
// Errors are of type *DataError and never echo the key.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	key, derr := parsePrivateKey(data)
	if derr != nil {
		return nil, derr
	}
	return key, nil
}

// decodePEM decodes every PEM block in data and fails on anything that looks
// like a block but does not decode (pem.Decode silently skips those).
func decodePEM(data []byte) ([]*pem.Block, *DataError) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, dataErr(ProblemMissing, "no data")
	}
	var blocks []*pem.Block
	rest := data
	for {
		block, r := pem.Decode(rest)
		if block == nil {
			break
		}
		blocks = append(blocks, block)
		rest = r
	}
	if len(blocks) == 0 {
		if bytes.Contains(data, []byte("-----BEGIN ")) {
			return nil, dataErr(ProblemMalformed, "PEM block is truncated or garbled")
		}
		return nil, dataErr(ProblemMalformed, "no PEM block found (expected PEM text, not DER or doubly base64-encoded data)")
	}
	if begun := bytes.Count(data, []byte("-----BEGIN ")); begun != len(blocks) {
		return nil, dataErr(ProblemMalformed, "%d of %d PEM blocks are truncated or garbled", begun-len(blocks), begun)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, dataErr(ProblemMalformed, "unexpected data after the last PEM block (truncated or garbled)")
	}
	for i, b := range blocks {
		if len(b.Headers) != 0 {
			return nil, dataErr(ProblemUnsupported, "PEM block %d has headers; encrypted PEM is not supported", i+1)
		}
	}
	return blocks, nil
}

// blockTypeName names a PEM block type for a message. Only well-known types
// are quoted, so arbitrary input never reaches an error message.
func blockTypeName(t string) string {
	switch t {
	case "CERTIFICATE", "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
		"PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST", "X509 CRL", "EC PARAMETERS":
		return fmt.Sprintf("a %q block", t)
	}
	return "a block of an unknown type"
}

func parseCertificates(data []byte) ([]*x509.Certificate, *DataError) {
	blocks, derr := decodePEM(data)
	if derr != nil {
		return nil, derr
	}
	certs := make([]*x509.Certificate, 0, len(blocks))
	for i, b := range blocks {
		if b.Type != pemTypeCertificate {
			return nil, dataErr(ProblemWrongType, "PEM block %d is %s, expected %q", i+1, blockTypeName(b.Type), pemTypeCertificate)
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			// Certificates are public; the parser's reason helps the reader.
			return nil, dataErr(ProblemMalformed, "certificate %d does not parse: %v", i+1, err)
		}
		certs = append(certs, cert)
	}
	return certs, nil
}

func parsePrivateKey(data []byte) (crypto.Signer, *DataError) {
	blocks, derr := decodePEM(data)
	if derr != nil {
		return nil, derr
	}
	if len(blocks) != 1 {
		return nil, dataErr(ProblemMalformed, "holds %d PEM blocks, expected exactly one private key", len(blocks))
	}
	b := blocks[0]
	// The parsers' own errors are not passed on: they describe the
	// structure of the key, and nothing about a key belongs in a message.
	var (
		key    any
		err    error
		format string
	)
	switch b.Type {
	case pemTypePrivateKey:
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		format = "PKCS#8"
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
		format = "SEC 1 EC"
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		format = "PKCS#1 RSA"
	case "ENCRYPTED PRIVATE KEY":
		return nil, dataErr(ProblemUnsupported, "the private key is encrypted; store it unencrypted (PKCS#8 \"PRIVATE KEY\")")
	default:
		return nil, dataErr(ProblemWrongType, "PEM block is %s, expected %q", blockTypeName(b.Type), pemTypePrivateKey)
	}
	if err != nil {
		return nil, dataErr(ProblemMalformed, "the %s private key does not parse (truncated or garbled)", format)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, dataErr(ProblemUnsupported, "private key of type %T cannot sign certificates", key)
}

// LeafSecret is the parsed content of a leaf certificate's Secret.
type LeafSecret struct {
	// KeyPair holds the leaf (first certificate of tls.crt) and tls.key.
	KeyPair
	// Chain holds any certificates that followed the leaf in tls.crt.
	Chain []*x509.Certificate
	// CACertificates holds ca.crt, if present.
	CACertificates []*x509.Certificate
}

// ParseLeafSecret parses and validates a leaf Secret's data: tls.crt must
// start with a non-CA certificate, tls.key must be its private key, and ca.crt
// (optional) must hold only CA certificates. The first problem found is
// returned as a *DataError naming the data key; a nil or empty map gives
// ProblemNoData.
func ParseLeafSecret(data map[string][]byte) (*LeafSecret, error) {
	certs, key, derr := parseKeyPairData(data)
	if derr != nil {
		return nil, derr
	}
	if isCA(certs[0]) || certs[0].IsCA {
		return nil, dataErr(ProblemNotLeaf, "the first certificate (CN=%q) is a CA certificate, expected a leaf", certs[0].Subject.CommonName).forKey(TLSCertKey)
	}
	s := &LeafSecret{KeyPair: KeyPair{Certificate: certs[0], PrivateKey: key}, Chain: certs[1:]}
	if len(data[CACertKey]) != 0 {
		cas, derr := parseCACertificates(data[CACertKey])
		if derr != nil {
			return nil, derr.forKey(CACertKey)
		}
		s.CACertificates = cas
	}
	return s, nil
}

// ParseCASecret parses and validates a CA Secret's data: tls.crt must hold
// exactly one CA certificate and tls.key its private key. The first problem
// found is returned as a *DataError naming the data key; a nil or empty map
// gives ProblemNoData. ca.crt is not read: the trust bundle is checked with
// ParseTrustBundle, so a damaged bundle never makes a sound CA look lost.
func ParseCASecret(data map[string][]byte) (*KeyPair, error) {
	certs, key, derr := parseKeyPairData(data)
	if derr != nil {
		return nil, derr
	}
	if len(certs) != 1 {
		return nil, dataErr(ProblemMalformed, "holds %d certificates, a CA Secret holds exactly one", len(certs)).forKey(TLSCertKey)
	}
	if !isCA(certs[0]) {
		return nil, dataErr(ProblemNotCA, "the certificate (CN=%q) is not a CA certificate (needs basic constraints CA:TRUE and key usage certSign)", certs[0].Subject.CommonName).forKey(TLSCertKey)
	}
	return &KeyPair{Certificate: certs[0], PrivateKey: key}, nil
}

// parseKeyPairData parses tls.crt and tls.key and checks that they belong
// together. The certificate is checked first, so a Secret with a good
// certificate and a bad key reports the key.
func parseKeyPairData(data map[string][]byte) ([]*x509.Certificate, crypto.Signer, *DataError) {
	crt, key := data[TLSCertKey], data[TLSPrivateKeyKey]
	if len(bytes.TrimSpace(crt)) == 0 && len(bytes.TrimSpace(key)) == 0 {
		return nil, nil, dataErr(ProblemNoData, "no certificate and no private key").forKey(TLSCertKey)
	}
	certs, derr := parseCertificates(crt)
	if derr != nil {
		return nil, nil, derr.forKey(TLSCertKey)
	}
	signer, derr := parsePrivateKey(key)
	if derr != nil {
		return nil, nil, derr.forKey(TLSPrivateKeyKey)
	}
	if !publicKeysEqual(certs[0].PublicKey, signer.Public()) {
		return nil, nil, dataErr(ProblemKeyMismatch, "private key does not match the certificate in %s", TLSCertKey).forKey(TLSPrivateKeyKey)
	}
	return certs, signer, nil
}

func parseCACertificates(data []byte) ([]*x509.Certificate, *DataError) {
	certs, derr := parseCertificates(data)
	if derr != nil {
		return nil, derr
	}
	for i, c := range certs {
		if !isCA(c) {
			return nil, dataErr(ProblemNotCA, "certificate %d (CN=%q) is not a CA certificate", i+1, c.Subject.CommonName)
		}
	}
	return certs, nil
}
