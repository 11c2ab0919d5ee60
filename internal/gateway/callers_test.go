package gateway

import (
	"crypto/x509"
	"testing"
	"time"
)

// TestCallerCacheHoldsWithinValidity: who a chain is, once decided, is
// remembered for that chain while every certificate it depends on is valid,
// and decided again outside that span or for another chain.
func TestCallerCacheHoldsWithinValidity(t *testing.T) {
	t0 := time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)
	ca := &x509.Certificate{Raw: []byte("CA"), NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(48 * time.Hour)}
	leaf := &x509.Certificate{Raw: []byte("leaf"), NotBefore: t0, NotAfter: t0.Add(24 * time.Hour)}
	other := &x509.Certificate{Raw: []byte("other leaf"), NotBefore: t0, NotAfter: t0.Add(24 * time.Hour)}
	c := newCallerCache([]*x509.Certificate{ca})
	decided := 0
	decide := func() caller { decided++; return caller{officer: true} }
	for _, step := range []struct {
		chain []*x509.Certificate
		at    time.Time
		want  int // decisions made so far
	}{
		{[]*x509.Certificate{leaf}, t0.Add(time.Minute), 1},
		{[]*x509.Certificate{leaf}, t0.Add(time.Hour), 1},
		{[]*x509.Certificate{other}, t0.Add(time.Hour), 2},
		{[]*x509.Certificate{leaf, other}, t0.Add(time.Hour), 3},
		{[]*x509.Certificate{leaf}, t0.Add(-time.Minute), 4},   // before the leaf is valid
		{[]*x509.Certificate{leaf}, t0.Add(25 * time.Hour), 5}, // after it expired
		{[]*x509.Certificate{leaf}, t0.Add(2 * time.Hour), 5},
	} {
		if got := c.lookup(step.chain, step.at, decide); !got.officer || decided != step.want {
			t.Fatalf("at %s: %d decisions; want %d", step.at, decided, step.want)
		}
	}

	// A CA that expires first bounds what is remembered.
	short := newCallerCache([]*x509.Certificate{{Raw: []byte("CA"), NotBefore: t0, NotAfter: t0.Add(time.Hour)}})
	decided = 0
	short.lookup([]*x509.Certificate{leaf}, t0.Add(time.Minute), decide)
	short.lookup([]*x509.Certificate{leaf}, t0.Add(2*time.Hour), decide)
	if decided != 2 {
		t.Fatalf("%d decisions across the CA's expiry; want 2", decided)
	}
	var none *callerCache
	none.lookup([]*x509.Certificate{leaf}, t0, decide)
	none.lookup([]*x509.Certificate{leaf}, t0, decide)
	if decided != 4 {
		t.Fatalf("a nil cache remembered a decision")
	}
}
