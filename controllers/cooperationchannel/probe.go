package cooperationchannel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/peer"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// probeBlock says why the peer is not probed at all: PeerReachable is Unknown with
// this reason and message.
type probeBlock struct {
	reason, message string
}

// probeOutcome is what one probe found.
type probeOutcome struct {
	at     time.Time
	probed *peer.Probed
	err    error
	// accepted is the fingerprint of this State's CA that issued the client
	// certificate the successful handshake used.
	accepted string
	// next is the fingerprint of the replacement CA this State publishes during a
	// key replacement, which the probe also presented a certificate from; empty when
	// there is none. nextErr is why the peer refused it; nil when it accepted it.
	next    string
	nextErr error
	// ownCAs are the fingerprints of this State's CAs in the FocalPoint's trust
	// bundle at the time of the probe.
	ownCAs []string
	// routine: the probe ran because its interval had passed, not because what it
	// depends on changed. A routine probe that finds what status reports leaves
	// status as it is.
	routine bool
}

// probeLog is when each channel's peer was last probed. It is kept in memory, not
// in status: a time that moves at every probe would make every channel's status
// change, and be written, every probe interval (Kubernetes moved node heartbeats
// out of NodeStatus for the same reason). The latest probe's time is the metric
// cybercoop_channel_last_probe_timestamp_seconds.
type probeLog struct {
	mu   sync.Mutex
	last map[types.NamespacedName]probeRecord
}

type probeRecord struct {
	uid types.UID
	at  time.Time
}

// lastProbe is when the channel was last probed by this process; false when never.
func (l *probeLog) lastProbe(cc *cybercoopv1alpha1.CooperationChannel) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.last[client.ObjectKeyFromObject(cc)]
	if !ok || r.uid != cc.UID {
		return time.Time{}, false
	}
	return r.at, true
}

func (l *probeLog) record(cc *cybercoopv1alpha1.CooperationChannel, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[types.NamespacedName]probeRecord{}
	}
	l.last[client.ObjectKeyFromObject(cc)] = probeRecord{uid: cc.UID, at: at}
}

func (l *probeLog) forget(key types.NamespacedName) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.last, key)
}

// restartedProbeTime is when a channel this process has not probed yet is taken
// to have been probed, when its status already reports a confirmed handshake for
// its current generation: one interval before the next time of its phase
// (probePhaseAfter), so that its next probe falls there. A restarted operator so
// spreads its first probes over one interval instead of probing every peer at
// once; a channel whose status is not settled is probed at once (the zero time).
func restartedProbeTime(cc *cybercoopv1alpha1.CooperationChannel, interval time.Duration, now time.Time) time.Time {
	cond := meta.FindStatusCondition(cc.Status.Conditions, cybercoopv1alpha1.ConditionPeerReachable)
	if cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != cybercoopv1alpha1.ReasonPeerHandshakeSucceeded ||
		cond.ObservedGeneration != cc.Generation || cc.Status.Peer == nil || cc.Status.Peer.HandshakeTime == nil || interval <= 0 {
		return time.Time{}
	}
	return probePhaseAfter(cc.UID, now, interval).Add(-interval)
}

// nextRoutineProbe is when the peer is probed next after a probe at last: at the
// first time of the channel's phase at least half an interval after last. Channels
// created together, or whose certificates were renewed together, were all probed
// at once; probed again one interval later, they would stay in step for ever, each
// interval a burst of handshakes from this operator to the peers (and, at a hub, of
// reconciles that delay every other). Here each goes to its own point of the
// interval within one interval and a half, and from then on probes exactly once an
// interval: the gaps average one interval, the first between half an interval and
// one and a half.
func nextRoutineProbe(uid types.UID, last time.Time, interval time.Duration) time.Time {
	return probePhaseAfter(uid, last.Add(interval/2), interval)
}

// probePhaseAfter is the first time after t that is the channel's phase of the
// interval: a point fixed by its UID, counted from the Unix epoch, so the same
// channel keeps it across restarts and channels spread evenly over the interval.
func probePhaseAfter(uid types.UID, t time.Time, interval time.Duration) time.Time {
	if interval <= 0 {
		return t
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(uid))
	n := int64(interval)
	phase := int64(h.Sum64() % uint64(n))
	d := ((phase-t.UnixNano()%n)%n + n) % n
	if d == 0 {
		d = n
	}
	return t.Add(time.Duration(d))
}

// probeInterval is spec.probe.interval, or the reconciler's default.
func (r *Reconciler) probeInterval(cc *cybercoopv1alpha1.CooperationChannel) time.Duration {
	if p := cc.Spec.Probe; p != nil && p.Interval != nil && p.Interval.Duration > 0 {
		return p.Interval.Duration
	}
	if r.ProbeInterval > 0 {
		return r.ProbeInterval
	}
	return defaultProbeInterval
}

// probeDue reports whether the peer is probed now: its next probe's time has come
// (zero: no probe known, so none is scheduled), or what the probe depends on changed
// since the last (the spec, the CAs trusted, the client certificate), so the result
// in status describes the current channel.
func probeDue(next time.Time, now time.Time, changed bool) bool {
	return changed || next.IsZero() || !now.Before(next)
}

// nextProbe is when the peer is probed next after a probe at last (zero: none
// known, so at once): at the channel's phase of the interval (nextRoutineProbe),
// or, while the peer is awaited, retryInterval after last.
func nextProbe(uid types.UID, last time.Time, interval time.Duration, awaited bool) time.Time {
	switch {
	case last.IsZero():
		return time.Time{}
	case awaited && retryInterval < interval:
		return last.Add(retryInterval)
	}
	return nextRoutineProbe(uid, last, interval)
}

// blocked is why the peer cannot be probed in this reconcile; nil when it can.
func (s *scope) blocked() *probeBlock {
	switch {
	case ptr.Deref(s.cc.Spec.Suspend, false):
		return &probeBlock{cybercoopv1alpha1.ReasonChannelSuspended, "spec.suspend is set: the peer is not probed and no request passes over the channel"}
	case s.fpErr != nil:
		return &probeBlock{cybercoopv1alpha1.ReasonReconciling, "not probed: " + s.fpErr.Error()}
	case s.fp == nil:
		return &probeBlock{cybercoopv1alpha1.ReasonFocalPointNotFound, "not probed: " + errNoFocalPoint{s.cc.Spec.FocalPointRef.Name}.Error()}
	case s.peerIsSelf:
		return &probeBlock{cybercoopv1alpha1.ReasonPeerIsSelf, "not probed: " + peerIsSelfMessage(s.cc, s.fp)}
	case s.client.Certificate == nil || s.client.Secret == nil:
		why := "it has not been issued yet"
		if s.certs.BlockedMessage != "" {
			why = s.certs.BlockedMessage
		} else if s.certs.Err != nil {
			why = s.certs.Err.Error()
		}
		return &probeBlock{cybercoopv1alpha1.ReasonReconciling, "not probed: the channel has no client certificate to present: " + why}
	case s.trust == nil || len(s.trust.cas) == 0:
		return &probeBlock{cybercoopv1alpha1.ReasonReconciling, "not probed: no CA of the peer is trusted (see PeerTrusted), so its gateway could not be verified"}
	}
	return nil
}

// probePeer opens a mutual-TLS connection to the peer's gateway with the channel's
// client certificate and fetches its signed trust bundle, when a probe is due. The
// CAs in the bundle, verified against a CA the channel already trusts, are trusted
// too: that is how a peer's CA key replacement is followed without anyone copying
// bundles. A failed probe is a condition, not an error: it is tried again at the
// next interval, the only time-based requeue of a channel besides its certificate
// and its peer CAs' expiry.
func (r *Reconciler) probePeer(ctx context.Context, s *scope) error {
	if s.block = s.blocked(); s.block != nil {
		return nil // every blocker is watched: the FocalPoint, the spec, the Secrets
	}
	cc, now := s.cc, s.Now
	interval := r.probeInterval(cc)
	last, known := r.probes.lastProbe(cc)
	if !known {
		if last = restartedProbeTime(cc, interval, now); !last.IsZero() {
			r.probes.record(cc, last)
		}
	}
	// A peer that failed the last probe, or has not yet accepted a replacement CA,
	// is asked again sooner: its side may change at any moment (a CA exchange, its
	// channels reloaded), and a key replacement waits on it.
	next := nextProbe(cc.UID, last, interval, s.awaitingPeer())
	changed := s.probeInputsChanged()
	if !probeDue(next, now, changed) {
		s.RequeueAt(next)
		return nil
	}
	s.probe = r.runProbe(ctx, s)
	s.probe.routine = !changed
	r.probes.record(cc, now)
	awaited := s.probe.probed == nil || (s.probe.next != "" && s.probe.nextErr != nil)
	s.RequeueAt(nextProbe(cc.UID, now, interval, awaited))
	if s.probe.probed == nil {
		// PeerReachable=False says why; the next interval tries again.
		log.FromContext(ctx).Info("peer probe failed", "peer", cc.Spec.Peer.Party(), "endpoint", cc.Spec.Peer.Endpoint,
			"error", describeProbeError(s.probe.err))
		return nil
	}
	for _, c := range s.probe.probed.CAs {
		s.trust.learn(c, now)
	}
	return nil
}

// retryInterval is how soon a peer that failed its probe, or has not yet accepted a
// replacement CA, is probed again (at most the channel's interval).
const retryInterval = 30 * time.Second

// awaitingPeer reports whether the last probe failed, or this State publishes a
// replacement CA the peer has not been seen to accept.
func (s *scope) awaitingPeer() bool {
	if cond := meta.FindStatusCondition(s.cc.Status.Conditions, cybercoopv1alpha1.ConditionPeerReachable); cond != nil && cond.Status == metav1.ConditionFalse {
		return true
	}
	if s.ca == nil {
		return false
	}
	next := s.ca.PublishedNextCA()
	if next == nil {
		return false
	}
	p := s.cc.Status.Peer
	return p == nil || !slices.Contains(p.AcceptsCAs, ca.Fingerprint(next.Certificate))
}

// probeInputsChanged: the spec changed since the last status (every reconcile stamps
// PeerReachable with the generation it saw), the CAs trusted are not those the
// gateway has, or the client certificate was re-issued.
func (s *scope) probeInputsChanged() bool {
	cond := meta.FindStatusCondition(s.cc.Status.Conditions, cybercoopv1alpha1.ConditionPeerReachable)
	if cond == nil || cond.ObservedGeneration != s.cc.Generation {
		return true
	}
	if s.trust.changedSinceStored {
		return true
	}
	if c := s.cc.Status.Certificates; c != nil && c.Client != nil {
		return c.Client.SHA256Fingerprint != ca.Fingerprint(s.client.Certificate)
	}
	return false
}

func (r *Reconciler) runProbe(ctx context.Context, s *scope) *probeOutcome {
	out := &probeOutcome{at: s.Now.Truncate(time.Second)}
	data := s.client.Secret.Data
	cert, err := tls.X509KeyPair(data[pki.TLSCertKey], data[pki.TLSPrivateKeyKey])
	if err != nil {
		// The message of X509KeyPair names what is wrong, never the key's bytes.
		out.err = fmt.Errorf("the client certificate in Secret %s is unusable: %w", s.client.Secret.Name, err)
		return out
	}
	own, _ := pki.ParseCertificatesPEM(data[pki.CACertKey])
	for _, c := range own {
		out.ownCAs = append(out.ownCAs, ca.Fingerprint(c))
		if out.accepted == "" && s.client.Certificate.CheckSignatureFrom(c) == nil {
			out.accepted = ca.Fingerprint(c)
		}
	}
	peerSpec := s.cc.Spec.Peer
	client, err := peer.New(peerSpec.Party(), peerSpec.Endpoint, peerSpec.ServerName, cert, s.trust.pool(), peer.Options{Timeout: probeTimeout})
	if err != nil {
		out.err = err
		return out
	}
	defer client.Close()
	probeCtx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	out.probed, out.err = client.Probe(probeCtx, s.Now)
	if out.err == nil {
		r.probeNextCA(ctx, s, out)
	}
	return out
}

// probeNextCA presents, during a key replacement of this State's CA, a certificate
// from the replacement CA as well, to learn whether the peer accepts it yet: the
// replacement issues nothing from the new CA until every channel's peer does
// (status.peer.acceptsCAs). The certificate is issued in memory for this one
// handshake, for the channel's own name, and never stored.
func (r *Reconciler) probeNextCA(ctx context.Context, s *scope, out *probeOutcome) {
	if s.ca == nil {
		return
	}
	next := s.ca.PublishedNextCA()
	if next == nil || ca.Fingerprint(next.Certificate) == out.accepted {
		return
	}
	out.next = ca.Fingerprint(next.Certificate)
	spec := clientLeaf(s.cc, s.fp).Spec
	spec.Duration, spec.RenewBefore = pki.MinimumDuration, 0
	leaf, err := pki.IssueLeaf(next, spec, s.Now)
	if err != nil {
		out.nextErr = fmt.Errorf("no certificate could be issued from the new CA for the probe: %w", err)
		return
	}
	cert := tls.Certificate{Certificate: [][]byte{leaf.Certificate.Raw}, PrivateKey: leaf.PrivateKey, Leaf: leaf.Certificate}
	peerSpec := s.cc.Spec.Peer
	client, err := peer.New(peerSpec.Party(), peerSpec.Endpoint, peerSpec.ServerName, cert, s.trust.pool(), peer.Options{Timeout: probeTimeout})
	if err != nil {
		out.nextErr = err
		return
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	_, out.nextErr = client.Probe(ctx, s.Now)
}

// acceptsCAs is status.peer.acceptsCAs after a successful probe: the CA that issued
// the client certificate, the replacement CA if the peer accepted a certificate from
// it, and those seen accepted before that are still among this State's CAs; at most
// maxAcceptsCAs, the newest kept.
func acceptsCAs(prev []string, o *probeOutcome) []string {
	out := []string{}
	if o.accepted != "" {
		out = append(out, o.accepted)
	}
	if o.next != "" && o.nextErr == nil {
		out = append(out, o.next)
	}
	for _, fp := range prev {
		if len(out) < maxAcceptsCAs && !slices.Contains(out, fp) && slices.Contains(o.ownCAs, fp) {
			out = append(out, fp)
		}
	}
	slices.Sort(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

// describeProbeError is the probe's error for a condition: one line, bounded. The
// peer package names what failed (dial, handshake, verification) and carries no key
// or certificate bytes; a peer's refusal text is the peer's, so it is bounded too.
func describeProbeError(err error) string {
	return truncate(strings.Join(strings.Fields(err.Error()), " "), 1024)
}

// peerCertificateOf is the certificate the peer served, nil when unknown.
func peerCertificateOf(p *peer.Probed) *x509.Certificate {
	if p == nil {
		return nil
	}
	return p.PeerCertificate
}
