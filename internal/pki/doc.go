/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

// Package pki holds the certificate logic of the operator: creating and
// renewing a FocalPoint's CA, issuing leaf certificates from it, reading and
// validating the key pairs stored in Secrets, building trust bundles, and
// deciding — as pure functions of their inputs — whether a CA or a leaf must be
// kept, issued, renewed or replaced.
//
// Nothing here reads the clock: every function that depends on time takes a
// now parameter, so reconcilers can pass their injected clock and tests can
// run years of rotation in milliseconds. Nothing here talks to Kubernetes:
// Secret contents are passed as map[string][]byte (the type of Secret.Data)
// under the keys [TLSCertKey], [TLSPrivateKeyKey] and [CACertKey].
//
// Conventions enforced throughout:
//   - Private keys are written as PKCS#8 ("PRIVATE KEY") PEM blocks.
//   - Subject key identifiers are computed with RFC 7093 method 1: the
//     leftmost 160 bits of the SHA-256 hash of the subjectPublicKey BIT
//     STRING. A renewed CA keeps the identifier of the certificate it renews.
//   - Serial numbers are 128 random bits.
//   - NotBefore is backdated by [ClockSkewAllowance] so peers whose clocks lag
//     accept a certificate issued a moment ago.
//   - A leaf never outlives the CA certificate that signed it.
//   - Fingerprints and key identifiers are reported as uppercase,
//     colon-separated hex and serials as uppercase hex (the forms printed by
//     `openssl x509 -noout -fingerprint -sha256 -serial`), so auditors can
//     compare status fields with openssl output directly.
//   - Errors name the Secret data key and the problem, and never contain key
//     material or PEM text.
package pki
