package gateway

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"sync"
	"time"
)

// callerCache remembers who a client certificate chain is (identify): which
// channel's peer CAs verify it, whether it is an officer's or the operator's.
// Deciding that verifies the chain against each candidate's CAs, an ECDSA
// verification or more per request; a peer sends every request of a kept-alive
// connection, and its next connections, with the same chain.
//
// A decision holds for the state it was made with (the cache is part of it,
// and a reload builds a new one) and while the time is within the validity of
// every certificate it could depend on: the chain's, every CA of the state's
// channels and of its own trust bundle. Outside that window it is made again.
type callerCache struct {
	// caFrom and caUntil bound the validity of every CA the state holds.
	caFrom, caUntil time.Time

	mu      sync.Mutex
	callers map[[sha256.Size]byte]knownCaller
}

type knownCaller struct {
	caller
	from, until time.Time
}

// callerCacheSize bounds the chains remembered; when full the cache starts
// again empty.
const callerCacheSize = 1024

// newCallerCache is the cache of a state whose CAs are cas.
func newCallerCache(cas []*x509.Certificate) *callerCache {
	c := &callerCache{}
	c.caFrom, c.caUntil = validity(cas)
	return c
}

// validity is the span within which every certificate of certs is valid: the
// latest NotBefore and the earliest NotAfter.
func validity(certs []*x509.Certificate) (from, until time.Time) {
	for i, cert := range certs {
		if i == 0 || cert.NotBefore.After(from) {
			from = cert.NotBefore
		}
		if i == 0 || cert.NotAfter.Before(until) {
			until = cert.NotAfter
		}
	}
	return from, until
}

// lookup returns who the chain is at now, deciding it with decide unless a
// decision for the same chain holds at now. A nil cache decides every time.
func (c *callerCache) lookup(chain []*x509.Certificate, now time.Time, decide func() caller) caller {
	if c == nil {
		return decide()
	}
	h := sha256.New()
	for _, cert := range chain {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(cert.Raw))))
		h.Write(cert.Raw)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	c.mu.Lock()
	known, ok := c.callers[key]
	c.mu.Unlock()
	if ok && !now.Before(known.from) && !now.After(known.until) {
		return known.caller
	}
	decided := decide()
	from, until := validity(chain)
	if c.caFrom.After(from) {
		from = c.caFrom
	}
	if c.caUntil.Before(until) {
		until = c.caUntil
	}
	if !now.Before(from) && !now.After(until) {
		c.mu.Lock()
		if c.callers == nil || len(c.callers) >= callerCacheSize {
			c.callers = make(map[[sha256.Size]byte]knownCaller)
		}
		c.callers[key] = knownCaller{caller: decided, from: from, until: until}
		c.mu.Unlock()
	}
	return decided
}
