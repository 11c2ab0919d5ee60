/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"strings"
	"time"
)

// CertificateFacts are the facts about a certificate that status reports and
// auditors compare with openssl output.
type CertificateFacts struct {
	NotBefore time.Time
	NotAfter  time.Time
	// RenewalTime is when the operator will renew the certificate.
	RenewalTime time.Time
	// SerialNumber is uppercase hex with an even number of digits, as
	// `openssl x509 -noout -serial` prints it.
	SerialNumber string
	// SHA256Fingerprint is the SHA-256 of the DER certificate, uppercase
	// colon-separated hex, as `openssl x509 -noout -fingerprint -sha256`
	// prints it.
	SHA256Fingerprint string
	// SubjectKeyID and AuthorityKeyID are uppercase colon-separated hex;
	// empty when the certificate lacks the extension.
	SubjectKeyID   string
	AuthorityKeyID string
}

// FactsOf returns the facts of cert, its renewal time computed by
// RenewalTime from renewBefore: pass LeafSpec.RenewBefore for a leaf and
// CASpec.EffectiveRenewBefore() for a CA, so status shows the time the
// decisions act on.
func FactsOf(cert *x509.Certificate, renewBefore time.Duration) CertificateFacts {
	fp := sha256.Sum256(cert.Raw)
	serial := strings.ToUpper(cert.SerialNumber.Text(16))
	if len(serial)%2 == 1 {
		serial = "0" + serial
	}
	return CertificateFacts{
		NotBefore:         cert.NotBefore,
		NotAfter:          cert.NotAfter,
		RenewalTime:       RenewalTime(cert.NotBefore, cert.NotAfter, renewBefore),
		SerialNumber:      serial,
		SHA256Fingerprint: colonHex(fp[:]),
		SubjectKeyID:      colonHex(cert.SubjectKeyId),
		AuthorityKeyID:    colonHex(cert.AuthorityKeyId),
	}
}

// RenewalTime is when a certificate valid from notBefore to notAfter is
// renewed: notAfter − renewBefore when renewBefore is positive and shorter
// than the lifetime, otherwise notBefore + 2/3 of the lifetime. Lifetime is
// what the certificate says, including the clock-skew backdating.
func RenewalTime(notBefore, notAfter time.Time, renewBefore time.Duration) time.Time {
	lifetime := notAfter.Sub(notBefore)
	if renewBefore > 0 && renewBefore < lifetime {
		return notAfter.Add(-renewBefore)
	}
	// Whole seconds, like the certificate's own times: status stores seconds, and a
	// renewal time with a fraction would differ from its stored form at every
	// reconcile, which would then write status each time.
	return notBefore.Add(lifetime - lifetime/3).Truncate(time.Second)
}

func colonHex(b []byte) string {
	const digits = "0123456789ABCDEF"
	if len(b) == 0 {
		return ""
	}
	out := make([]byte, 0, 3*len(b)-1)
	for i, v := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, digits[v>>4], digits[v&0x0f])
	}
	return string(out)
}
