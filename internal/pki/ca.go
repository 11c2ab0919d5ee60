/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"time"
)

const (
	// DefaultCADuration is the lifetime of a CA certificate when the spec
	// leaves it unset: five years.
	DefaultCADuration = 5 * 365 * 24 * time.Hour
	// DefaultCARenewBefore is how long before expiry a CA certificate is
	// renewed when the spec leaves it unset: 180 days, so a failed renewal
	// leaves months, not hours, to notice.
	DefaultCARenewBefore = 180 * 24 * time.Hour
	// DefaultLeafDuration is the lifetime of a leaf certificate when the spec
	// leaves it unset: 90 days. Leaves are renewed at two thirds of their
	// lifetime unless renewBefore says otherwise.
	DefaultLeafDuration = 90 * 24 * time.Hour
	// MinimumDuration is the shortest lifetime accepted for any certificate;
	// shorter lifetimes would make the operator re-issue in a tight loop.
	MinimumDuration = time.Hour
	// ClockSkewAllowance is how far NotBefore is backdated, so peers whose
	// clocks lag behind the operator's accept a certificate issued just now.
	ClockSkewAllowance = 5 * time.Minute
)

// KeyPair is a certificate and the private key for its public key.
type KeyPair struct {
	Certificate *x509.Certificate
	PrivateKey  crypto.Signer
}

// CertificatePEM returns the certificate as one PEM "CERTIFICATE" block.
func (kp *KeyPair) CertificatePEM() []byte {
	return EncodeCertificatesPEM(kp.Certificate)
}

// PrivateKeyPEM returns the private key as a PKCS#8 "PRIVATE KEY" block.
func (kp *KeyPair) PrivateKeyPEM() ([]byte, error) {
	return EncodePrivateKeyPEM(kp.PrivateKey)
}

// SecretData returns the key pair as Secret data: tls.crt and tls.key, plus
// ca.crt holding the trust bundle when bundle is not nil.
func (kp *KeyPair) SecretData(bundle *TrustBundle) (map[string][]byte, error) {
	key, err := kp.PrivateKeyPEM()
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{TLSCertKey: kp.CertificatePEM(), TLSPrivateKeyKey: key}
	if bundle != nil {
		data[CACertKey] = bundle.PEM()
	}
	return data, nil
}

// CASpec is the desired state of a FocalPoint's CA.
type CASpec struct {
	// CommonName is the CA's subject CN, e.g. "cybercoop KE national CA".
	CommonName string
	// Organization is the subject O, e.g. the designated authority. Optional.
	Organization string
	// Country is the ISO 3166-1 alpha-2 code of the State Party (subject C).
	Country string
	// KeyAlgorithm defaults to DefaultKeyAlgorithm.
	KeyAlgorithm KeyAlgorithm
	// Duration is the certificate lifetime; zero means DefaultCADuration.
	// A change takes effect at the next renewal.
	Duration time.Duration
	// RenewBefore is how long before expiry the certificate is renewed; zero
	// means DefaultCARenewBefore. A value not shorter than the certificate's
	// lifetime falls back to renewing at two thirds of the lifetime.
	RenewBefore time.Duration
}

// Validate reports every problem with the spec, each naming its field.
func (s CASpec) Validate() error {
	var errs []error
	errs = append(errs, validateCommonName(s.CommonName))
	if s.Country == "" {
		errs = append(errs, errors.New("country: must be set to the ISO 3166-1 alpha-2 code of the State Party, e.g. \"KE\""))
	} else {
		errs = append(errs, validateCountry(s.Country))
	}
	if len(s.Organization) > 64 {
		errs = append(errs, fmt.Errorf("organization: %d characters is longer than the X.509 limit of 64", len(s.Organization)))
	}
	errs = append(errs, s.KeyAlgorithm.Validate(), validateDurations(s.Duration, s.RenewBefore))
	return errors.Join(errs...)
}

func (s CASpec) duration() time.Duration {
	if s.Duration == 0 {
		return DefaultCADuration
	}
	return s.Duration
}

// EffectiveRenewBefore is RenewBefore with its default applied.
func (s CASpec) EffectiveRenewBefore() time.Duration {
	if s.RenewBefore == 0 {
		return DefaultCARenewBefore
	}
	return s.RenewBefore
}

// CreateCA creates a new self-signed CA with a fresh key. The CA may sign
// leaves but no intermediate CAs (path length zero).
func CreateCA(spec CASpec, now time.Time) (*KeyPair, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("invalid CA spec: %w", err)
	}
	key, err := GenerateKey(spec.KeyAlgorithm)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	subject := pkix.Name{CommonName: spec.CommonName, Country: []string{spec.Country}}
	if spec.Organization != "" {
		subject.Organization = []string{spec.Organization}
	}
	tmpl := caTemplate(now, spec.duration())
	tmpl.Subject = subject
	tmpl.SubjectKeyId = ski
	return selfSign(tmpl, key)
}

// RenewCA issues a new certificate for an existing CA: same key, same subject
// (byte for byte), same subject key identifier, new serial and validity.
// Leaves signed before the renewal therefore verify against the renewed
// certificate, and nothing else in the cluster has to change. duration zero
// means DefaultCADuration.
func RenewCA(current *KeyPair, duration time.Duration, now time.Time) (*KeyPair, error) {
	if current == nil || current.Certificate == nil || current.PrivateKey == nil {
		return nil, errors.New("renewing CA: no current CA key pair")
	}
	old := current.Certificate
	if !isCA(old) {
		return nil, errors.New("renewing CA: the current certificate is not a CA certificate")
	}
	if !publicKeysEqual(old.PublicKey, current.PrivateKey.Public()) {
		return nil, errors.New("renewing CA: the CA private key does not match the CA certificate")
	}
	if err := validateDurations(duration, 0); err != nil {
		return nil, fmt.Errorf("renewing CA: %w", err)
	}
	if duration == 0 {
		duration = DefaultCADuration
	}
	tmpl := caTemplate(now, duration)
	// RawSubject makes the new certificate's subject and issuer the exact
	// bytes of the old subject, which leaves name as their issuer.
	tmpl.RawSubject = old.RawSubject
	tmpl.SubjectKeyId = old.SubjectKeyId
	if len(tmpl.SubjectKeyId) == 0 {
		ski, err := subjectKeyID(old.PublicKey)
		if err != nil {
			return nil, err
		}
		tmpl.SubjectKeyId = ski
	}
	return selfSign(tmpl, current.PrivateKey)
}

func caTemplate(now time.Time, duration time.Duration) *x509.Certificate {
	return &x509.Certificate{
		NotBefore:             now.Add(-ClockSkewAllowance).UTC(),
		NotAfter:              now.Add(duration).UTC(),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
}

func selfSign(tmpl *x509.Certificate, key crypto.Signer) (*KeyPair, error) {
	serial, err := newSerialNumber()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("signing CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing new CA certificate: %w", err)
	}
	return &KeyPair{Certificate: cert, PrivateKey: key}, nil
}

// isCA reports whether cert may sign certificates.
func isCA(cert *x509.Certificate) bool {
	return cert.BasicConstraintsValid && cert.IsCA && cert.KeyUsage&x509.KeyUsageCertSign != 0
}

func validateCommonName(cn string) error {
	switch {
	case cn == "":
		return errors.New("commonName: must not be empty")
	case len(cn) > 64:
		return fmt.Errorf("commonName: %d characters is longer than the X.509 limit of 64", len(cn))
	}
	return nil
}

// validateCountry accepts the shape of an ISO 3166-1 alpha-2 code; whether
// the code is assigned is left to the API schema.
func validateCountry(c string) error {
	if len(c) == 2 && 'A' <= c[0] && c[0] <= 'Z' && 'A' <= c[1] && c[1] <= 'Z' {
		return nil
	}
	return fmt.Errorf("country: %q is not an ISO 3166-1 alpha-2 code (two capital letters, e.g. \"KE\")", c)
}

func validateDurations(duration, renewBefore time.Duration) error {
	var errs []error
	if duration < 0 || (duration > 0 && duration < MinimumDuration) {
		errs = append(errs, fmt.Errorf("duration: %s is shorter than the minimum %s", duration, MinimumDuration))
	}
	if renewBefore < 0 {
		errs = append(errs, fmt.Errorf("renewBefore: %s must not be negative", renewBefore))
	}
	return errors.Join(errs...)
}
