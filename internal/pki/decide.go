/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

package pki

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Reason says why a decision was taken. The values are CamelCase so they can
// be used as condition and event reasons as they are.
type Reason string

const (
	// ReasonMissing: there is no certificate (and no key) yet.
	ReasonMissing Reason = "Missing"
	// ReasonInvalid: the stored data is unusable — truncated or garbled PEM,
	// a wrong block type, a CA certificate where a leaf belongs (or the
	// reverse), or a certificate not yet valid.
	ReasonInvalid Reason = "Invalid"
	// ReasonKeyMismatch: the private key is not the certificate's key.
	ReasonKeyMismatch Reason = "KeyMismatch"
	// ReasonKeyMissing: a CA certificate is stored but its key is not.
	ReasonKeyMissing Reason = "KeyMissing"
	// ReasonKeyInvalid: a CA certificate is stored but its key is unusable.
	ReasonKeyInvalid Reason = "KeyInvalid"
	// ReasonNotSignedByCurrentCA: the leaf was not issued by the current CA
	// key: its AuthorityKeyId or issuer differs from the CA's, or its
	// signature does not verify with the CA's key.
	ReasonNotSignedByCurrentCA Reason = "NotSignedByCurrentCA"
	// ReasonNamesChanged: the subject, DNS names or URIs differ from the spec.
	ReasonNamesChanged Reason = "NamesChanged"
	// ReasonUsageChanged: the extended key usages differ from the spec.
	ReasonUsageChanged Reason = "UsageChanged"
	// ReasonAlgorithmChanged: the key algorithm differs from the spec.
	ReasonAlgorithmChanged Reason = "AlgorithmChanged"
	// ReasonExpired: the certificate's NotAfter has passed.
	ReasonExpired Reason = "Expired"
	// ReasonRenewalDue: the renewal time has passed.
	ReasonRenewalDue Reason = "RenewalDue"
	// ReasonForceRenew: the force-renew token differs from the one recorded
	// when the leaf was issued.
	ReasonForceRenew Reason = "ForceRenew"
	// ReasonForceReplace: the force-replace token differs from the one
	// recorded for the CA.
	ReasonForceReplace Reason = "ForceReplace"
	// ReasonUpToDate: nothing to do until NextCheck.
	ReasonUpToDate Reason = "UpToDate"
)

// LeafAction is what the caller must do with a leaf certificate.
type LeafAction string

const (
	// LeafKeep: keep the stored leaf; decide again at NextCheck.
	LeafKeep LeafAction = "Keep"
	// LeafIssue: issue a new leaf (new key) from the current CA with
	// IssueLeaf and store it, recording the force-renew token.
	LeafIssue LeafAction = "Issue"
)

// LeafInput is everything DecideLeaf looks at.
type LeafInput struct {
	// Current is the stored leaf as ParseLeafSecret returned it; nil when
	// there is none or it did not parse.
	Current *LeafSecret
	// ParseErr is the error ParseLeafSecret returned, if any.
	ParseErr error
	// CA is the certificate of the CA leaves must be issued by now. During a
	// key replacement that is the CA RotationStep.SignWithNewCA names.
	CA *x509.Certificate
	// Spec is the desired leaf.
	Spec LeafSpec
	// ForceRenewToken is the desired token (e.g. an annotation's value); a
	// non-empty value that differs from IssuedForceRenewToken forces a
	// re-issue. Clearing it never does.
	ForceRenewToken string
	// IssuedForceRenewToken is the token recorded when Current was issued.
	IssuedForceRenewToken string
}

// LeafDecision is the outcome of DecideLeaf.
type LeafDecision struct {
	Action LeafAction
	Reason Reason
	// Message names the problem for a person (condition message, event); it
	// never holds key material.
	Message string
	// NextCheck is the leaf's renewal time when Action is LeafKeep — the time
	// to requeue at. It is zero when Action is LeafIssue: the caller acts now
	// and decides again on the new leaf.
	NextCheck time.Time
}

// DecideLeaf decides whether the stored leaf can be kept or a new one must
// be issued. Checks run from the most to the least severe, and the first that
// fails gives the reason: missing or unusable data, key mismatch, not signed
// by the current CA, expired or not yet valid, names, usages, key algorithm,
// force-renew token, renewal time. A change of Duration alone does not
// re-issue; it applies at the next renewal. Decide (and if need be renew)
// the CA first: the CA given here is trusted to be usable. An error means the
// input itself is wrong (no CA, invalid spec), not the stored leaf.
func DecideLeaf(in LeafInput, now time.Time) (LeafDecision, error) {
	if in.CA == nil {
		return LeafDecision{}, errors.New("deciding leaf: no current CA certificate")
	}
	if err := in.Spec.Validate(); err != nil {
		return LeafDecision{}, fmt.Errorf("deciding leaf: invalid leaf spec: %w", err)
	}
	issue := func(r Reason, format string, args ...any) (LeafDecision, error) {
		return LeafDecision{Action: LeafIssue, Reason: r, Message: fmt.Sprintf(format, args...)}, nil
	}
	if in.Current == nil || in.Current.Certificate == nil {
		var de *DataError
		switch {
		case in.ParseErr == nil:
			return issue(ReasonMissing, "no leaf certificate is stored yet")
		case errors.As(in.ParseErr, &de) && de.Problem == ProblemNoData:
			return issue(ReasonMissing, "no leaf certificate is stored yet")
		case errors.As(in.ParseErr, &de) && de.Problem == ProblemKeyMismatch:
			return issue(ReasonKeyMismatch, "%v", in.ParseErr)
		}
		return issue(ReasonInvalid, "the stored leaf is unusable: %v", in.ParseErr)
	}
	leaf, ca := in.Current.Certificate, in.CA
	if in.Current.PrivateKey == nil || !publicKeysEqual(leaf.PublicKey, in.Current.PrivateKey.Public()) {
		return issue(ReasonKeyMismatch, "%s: private key does not match the certificate in %s", TLSPrivateKeyKey, TLSCertKey)
	}
	if !bytes.Equal(leaf.AuthorityKeyId, ca.SubjectKeyId) {
		return issue(ReasonNotSignedByCurrentCA, "the leaf's authority key ID %s is not the current CA's subject key ID %s",
			orNone(colonHex(leaf.AuthorityKeyId)), orNone(colonHex(ca.SubjectKeyId)))
	}
	if !bytes.Equal(leaf.RawIssuer, ca.RawSubject) {
		return issue(ReasonNotSignedByCurrentCA, "the leaf's issuer %q is not the current CA's subject %q", leaf.Issuer.String(), ca.Subject.String())
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		return issue(ReasonNotSignedByCurrentCA, "the leaf's signature does not verify with the current CA's key (issuer and key ID match: tampered or forged)")
	}
	if !now.Before(leaf.NotAfter) {
		return issue(ReasonExpired, "the leaf expired at %s", rfc3339(leaf.NotAfter))
	}
	if now.Before(leaf.NotBefore) {
		return issue(ReasonInvalid, "the leaf is not valid until %s", rfc3339(leaf.NotBefore))
	}
	if msg := namesDiff(leaf, in.Spec, ca); msg != "" {
		return issue(ReasonNamesChanged, "%s", msg)
	}
	if msg := usagesDiff(leaf, in.Spec); msg != "" {
		return issue(ReasonUsageChanged, "%s", msg)
	}
	if have, err := KeyAlgorithmOf(leaf.PublicKey); err != nil || have != in.Spec.KeyAlgorithm.OrDefault() {
		return issue(ReasonAlgorithmChanged, "keyAlgorithm: the leaf has %s, the spec wants %s", algorithmName(have, err), in.Spec.KeyAlgorithm.OrDefault())
	}
	if in.ForceRenewToken != "" && in.ForceRenewToken != in.IssuedForceRenewToken {
		return issue(ReasonForceRenew, "force-renew token %q differs from %q recorded at issuance", in.ForceRenewToken, in.IssuedForceRenewToken)
	}
	renewal := RenewalTime(leaf.NotBefore, leaf.NotAfter, in.Spec.RenewBefore)
	if !now.Before(renewal) {
		return issue(ReasonRenewalDue, "renewal was due at %s; the leaf expires at %s", rfc3339(renewal), rfc3339(leaf.NotAfter))
	}
	return LeafDecision{
		Action:    LeafKeep,
		Reason:    ReasonUpToDate,
		Message:   fmt.Sprintf("the leaf is valid until %s and will be renewed at %s", rfc3339(leaf.NotAfter), rfc3339(renewal)),
		NextCheck: renewal,
	}, nil
}

// namesDiff describes the first difference between the leaf's names and the
// spec's, or returns "".
func namesDiff(leaf *x509.Certificate, spec LeafSpec, ca *x509.Certificate) string {
	want := spec.subject(ca)
	switch {
	case leaf.Subject.CommonName != want.CommonName:
		return fmt.Sprintf("commonName: the leaf has %q, the spec wants %q", leaf.Subject.CommonName, want.CommonName)
	case !slices.Equal(leaf.Subject.Organization, want.Organization):
		return fmt.Sprintf("organization: the leaf has %q, the spec wants %q", leaf.Subject.Organization, want.Organization)
	case !slices.Equal(leaf.Subject.Country, want.Country):
		return fmt.Sprintf("country: the leaf has %q, the spec wants %q", leaf.Subject.Country, want.Country)
	}
	if have, want := normalizeDNSNames(leaf.DNSNames), normalizeDNSNames(spec.DNSNames); !slices.Equal(have, want) {
		return fmt.Sprintf("dnsNames: the leaf has %q, the spec wants %q", have, want)
	}
	haveURIs := make([]string, 0, len(leaf.URIs))
	for _, u := range leaf.URIs {
		haveURIs = append(haveURIs, u.String())
	}
	if have, want := normalizeURIs(haveURIs), normalizeURIs(spec.URIs); !slices.Equal(have, want) {
		return fmt.Sprintf("uris: the leaf has %q, the spec wants %q", have, want)
	}
	return ""
}

func usagesDiff(leaf *x509.Certificate, spec LeafSpec) string {
	have := slices.Clone(leaf.ExtKeyUsage)
	slices.Sort(have)
	have = slices.Compact(have)
	want := spec.extKeyUsages()
	if slices.Equal(have, want) && len(leaf.UnknownExtKeyUsage) == 0 {
		return ""
	}
	return fmt.Sprintf("usages: the leaf allows %s, the spec wants %s", usageNames(have, len(leaf.UnknownExtKeyUsage)), usageNames(want, 0))
}

func usageNames(ekus []x509.ExtKeyUsage, unknown int) string {
	var names []string
	for _, e := range ekus {
		switch e {
		case x509.ExtKeyUsageServerAuth:
			names = append(names, string(UsageServer))
		case x509.ExtKeyUsageClientAuth:
			names = append(names, string(UsageClient))
		default:
			unknown++
		}
	}
	if unknown > 0 {
		names = append(names, fmt.Sprintf("%d other", unknown))
	}
	if len(names) == 0 {
		return "[none]"
	}
	return "[" + strings.Join(names, " ") + "]"
}

// RotationPolicy says how a CA is renewed when its certificate is due.
type RotationPolicy string

const (
	// PolicyRenewCertificate (the default) re-signs the CA certificate with
	// the same key, so issued leaves stay valid and nothing else changes.
	PolicyRenewCertificate RotationPolicy = "RenewCertificate"
	// PolicyReplaceKey replaces the CA key through the phased rollout of
	// NextRotationStep.
	PolicyReplaceKey RotationPolicy = "ReplaceKey"
)

// CAAction is what the caller must do with the CA.
type CAAction string

const (
	// CAKeep: keep the CA; decide again at NextCheck.
	CAKeep CAAction = "Keep"
	// CACreate: there was no CA at all — create one with CreateCA.
	CACreate CAAction = "Create"
	// CARenewKeepKey: re-sign the CA certificate with RenewCA (same key) and
	// add the renewed certificate to the trust bundle.
	CARenewKeepKey CAAction = "RenewKeepKey"
	// CAReplaceKey: start (or continue) the key replacement rollout driven by
	// NextRotationStep; never swap the CA in one step.
	CAReplaceKey CAAction = "ReplaceKey"
	// CAKeyLost: a CA exists but its key pair cannot be used as stored (key
	// missing, garbled or mismatched, or certificate garbled or not a CA).
	// The caller must NOT create a new CA: that would silently break trust
	// for every consumer. It reports the problem and waits for a person to
	// restore the Secret or approve a replacement with the force-replace
	// token, after which the decision is CAReplaceKey.
	CAKeyLost CAAction = "KeyLost"
)

// CAInput is everything DecideCA looks at.
type CAInput struct {
	// Current is the stored CA as ParseCASecret returned it; nil when there
	// is none or it did not parse.
	Current *KeyPair
	// ParseErr is the error ParseCASecret returned, if any.
	ParseErr error
	// Spec is the desired CA; its algorithm and RenewBefore are compared.
	Spec CASpec
	// Policy defaults to PolicyRenewCertificate.
	Policy RotationPolicy
	// ForceReplaceToken is the desired token; a non-empty value that differs
	// from RecordedForceReplaceToken forces a key replacement. Clearing it
	// never does.
	ForceReplaceToken string
	// RecordedForceReplaceToken is the token recorded at the last creation
	// or replacement.
	RecordedForceReplaceToken string
}

// CADecision is the outcome of DecideCA.
type CADecision struct {
	Action  CAAction
	Reason  Reason
	Message string
	// NextCheck is the CA's renewal time when Action is CAKeep, and zero
	// otherwise (act now, or for CAKeyLost wait for a person).
	NextCheck time.Time
}

// DecideCA decides what to do with the CA. Create is returned only when there
// is no CA data at all; damaged CA data gives CAKeyLost. An algorithm change
// or a new force-replace token replaces the key whatever the policy; an
// expired or due certificate is renewed as the policy says; a certificate not
// yet valid is re-signed with its key. A change of Duration alone applies at
// the next renewal. Subject changes are not detected: the API keeps the CA
// subject immutable. An error means the input itself is wrong.
func DecideCA(in CAInput, now time.Time) (CADecision, error) {
	if err := in.Spec.Validate(); err != nil {
		return CADecision{}, fmt.Errorf("deciding CA: invalid CA spec: %w", err)
	}
	renew := CARenewKeepKey
	switch in.Policy {
	case "", PolicyRenewCertificate:
	case PolicyReplaceKey:
		renew = CAReplaceKey
	default:
		return CADecision{}, fmt.Errorf("deciding CA: rotationPolicy: %q is not a policy (use %s or %s)", string(in.Policy), PolicyRenewCertificate, PolicyReplaceKey)
	}
	forced := in.ForceReplaceToken != "" && in.ForceReplaceToken != in.RecordedForceReplaceToken
	decide := func(a CAAction, r Reason, format string, args ...any) (CADecision, error) {
		return CADecision{Action: a, Reason: r, Message: fmt.Sprintf(format, args...)}, nil
	}
	lost := func(r Reason, problem string) (CADecision, error) {
		if forced {
			return decide(CAReplaceKey, ReasonForceReplace, "replacing the unusable CA (%s) as approved by force-replace token %q", problem, in.ForceReplaceToken)
		}
		return decide(CAKeyLost, r, "%s; a CA exists but cannot be used, so no new CA is created automatically: restore the CA Secret from a backup, or approve a new CA key by setting the force-replace token (every leaf will then be re-issued)", problem)
	}

	if in.Current == nil || in.Current.Certificate == nil {
		var de *DataError
		if in.ParseErr == nil || (errors.As(in.ParseErr, &de) && de.Problem == ProblemNoData) {
			return decide(CACreate, ReasonMissing, "no CA exists yet")
		}
		reason := ReasonInvalid
		if de != nil {
			switch {
			case de.Problem == ProblemKeyMismatch:
				reason = ReasonKeyMismatch
			case de.Key == TLSPrivateKeyKey && de.Problem == ProblemMissing:
				reason = ReasonKeyMissing
			case de.Key == TLSPrivateKeyKey:
				reason = ReasonKeyInvalid
			}
		}
		return lost(reason, in.ParseErr.Error())
	}
	cert := in.Current.Certificate
	switch {
	case !isCA(cert):
		return lost(ReasonInvalid, fmt.Sprintf("%s: the certificate is not a CA certificate", TLSCertKey))
	case in.Current.PrivateKey == nil:
		return lost(ReasonKeyMissing, fmt.Sprintf("%s: no private key", TLSPrivateKeyKey))
	case !publicKeysEqual(cert.PublicKey, in.Current.PrivateKey.Public()):
		return lost(ReasonKeyMismatch, fmt.Sprintf("%s: private key does not match the certificate in %s", TLSPrivateKeyKey, TLSCertKey))
	}
	if forced {
		return decide(CAReplaceKey, ReasonForceReplace, "force-replace token %q differs from the recorded %q", in.ForceReplaceToken, in.RecordedForceReplaceToken)
	}
	if have, err := KeyAlgorithmOf(cert.PublicKey); err != nil || have != in.Spec.KeyAlgorithm.OrDefault() {
		return decide(CAReplaceKey, ReasonAlgorithmChanged, "keyAlgorithm: the CA has %s, the spec wants %s; a new key is needed", algorithmName(have, err), in.Spec.KeyAlgorithm.OrDefault())
	}
	if !now.Before(cert.NotAfter) {
		return decide(renew, ReasonExpired, "the CA certificate expired at %s", rfc3339(cert.NotAfter))
	}
	if now.Before(cert.NotBefore) {
		return decide(CARenewKeepKey, ReasonInvalid, "the CA certificate is not valid until %s; re-signing it with the same key", rfc3339(cert.NotBefore))
	}
	renewal := RenewalTime(cert.NotBefore, cert.NotAfter, in.Spec.EffectiveRenewBefore())
	if !now.Before(renewal) {
		return decide(renew, ReasonRenewalDue, "CA renewal was due at %s; the CA certificate expires at %s", rfc3339(renewal), rfc3339(cert.NotAfter))
	}
	return CADecision{
		Action:    CAKeep,
		Reason:    ReasonUpToDate,
		Message:   fmt.Sprintf("the CA certificate is valid until %s and will be renewed at %s", rfc3339(cert.NotAfter), rfc3339(renewal)),
		NextCheck: renewal,
	}, nil
}

func algorithmName(a KeyAlgorithm, err error) string {
	if err != nil {
		return err.Error()
	}
	return string(a)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
