/*
Copyright 2026 The cybercoop-operator authors.

Licensed under the Apache License, Version 2.0.
*/

package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"
)

// BenchmarkIssuance compares issuing a P-256 leaf (key generation, signing,
// encoding and parsing) with one raw ECDSA P-256 signature, measured in the
// same run, so the ratio — not an absolute time — is what to read.
// Interleaved alternates both in one loop, so CPU contention from other work
// on the machine hits both sides alike, and reports signs per leaf.
func BenchmarkIssuance(b *testing.B) {
	ca := mustCA(b, testCASpec(), t0)
	spec := testLeafSpec()
	spec.Usages = []Usage{UsageServer, UsageClient}
	now := t0.Add(time.Hour)
	signer, err := GenerateKey(ECDSAP256)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("preservation request KE-2026-0042"))
	sign := func() {
		if _, err := signer.(*ecdsa.PrivateKey).Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
	issue := func() {
		if _, err := IssueLeaf(ca, spec, now); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("Leaf/ECDSAP256", func(b *testing.B) {
		for b.Loop() {
			issue()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "leaves/s")
	})
	b.Run("Sign/ECDSAP256", func(b *testing.B) {
		for b.Loop() {
			sign()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signs/s")
	})
	b.Run("Interleaved/ECDSAP256", func(b *testing.B) {
		var leafTime, signTime time.Duration
		for b.Loop() {
			start := time.Now()
			issue()
			mid := time.Now()
			sign()
			leafTime += mid.Sub(start)
			signTime += time.Since(mid)
		}
		leavesPerSec := float64(b.N) / leafTime.Seconds()
		signsPerSec := float64(b.N) / signTime.Seconds()
		b.ReportMetric(leavesPerSec, "leaves/s")
		b.ReportMetric(signsPerSec, "signs/s")
		b.ReportMetric(signsPerSec/leavesPerSec, "signs/leaf")
	})
}
