package cooperationchannel

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/reconciler"
)

// computeStatus writes the channel's status from what the phases found. It does no
// I/O. What the last probe saw is kept until the next probe.
func computeStatus(s *scope, reconcileErr error) {
	cc, now := s.cc, s.Now
	st := &cc.Status
	s.RequeueAt(certs.NextCheck(&s.certs, now))

	if s.certs.Observed {
		st.Certificates = certificatesStatus(&s.certs)
	}
	peer, reachCond := peerAndReachable(s)
	st.Peer = peer
	if s.requests != nil {
		st.Requests = s.requests
	}

	certCond := certificateCondition(s, now)
	trustCond := trustCondition(s.trust, s.trustErr, now)
	var ready metav1.Condition
	switch {
	case s.fp == nil && s.fpErr == nil:
		ready = reconciler.NewCondition(cybercoopv1alpha1.ConditionReady, metav1.ConditionFalse, cybercoopv1alpha1.ReasonFocalPointNotFound,
			"%s", errNoFocalPoint{cc.Spec.FocalPointRef.Name}.Error())
	case s.peerIsSelf:
		ready = reconciler.NewCondition(cybercoopv1alpha1.ConditionReady, metav1.ConditionFalse, cybercoopv1alpha1.ReasonPeerIsSelf,
			"%s", peerIsSelfMessage(cc, s.fp))
	case ptr.Deref(cc.Spec.Suspend, false):
		ready = reconciler.NewCondition(cybercoopv1alpha1.ConditionReady, metav1.ConditionFalse, cybercoopv1alpha1.ReasonChannelSuspended,
			"spec.suspend is set: the gateway passes no request over this channel; its certificate and the peer's trust are still maintained")
	default:
		ready = reconciler.ReadyCondition(s.ProvisionErr(), "the peer is trusted and reachable, and the channel's client certificate is valid",
			certCond, trustCond, reachCond)
	}
	if reconcileErr == nil {
		st.ObservedGeneration = cc.Generation
	}
	reconciler.SetConditions(&st.Conditions, cc.Generation, certCond, trustCond, reachCond, ready)
	if waitsOnNewFocalPoint(s, reconcileErr) {
		s.HoldStatus()
		if s.fp == nil {
			s.RequeueAt(cc.CreationTimestamp.Add(focalPointGrace))
		}
	}
}

// focalPointGrace is how long a new channel whose FocalPoint does not exist holds
// its first status: a State applying its whole stack at once (kubectl apply -f on a
// directory, a Helm chart) creates them in no particular order, and a channel
// created a moment before its FocalPoint would report FocalPointNotFound, then
// again when the FocalPoint appears (test/perf: up to 10 of 192 channels). The
// FocalPoint's creation wakes the channel (its watch); a FocalPoint that does not
// come, a misspelt name, is reported once the grace is over.
const focalPointGrace = 5 * time.Second

// onlyCANotIssued: err is nil, or every error joined in it is the CA's not being
// issued yet (the reconcile is retried with backoff, and the CA's Secret, watched,
// wakes the channel too).
func onlyCANotIssued(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !errors.Is(e, ca.ErrNotIssued) {
				return false
			}
		}
		return true
	}
	return err == nil || errors.Is(err, ca.ErrNotIssued)
}

// waitsOnNewFocalPoint: the channel has never reported, and its FocalPoint, created
// with it, has not finished its first reconcile, so its CA has issued nothing yet.
// That first status would say only "the CA and the client certificate have not been
// issued yet", and be replaced within a moment: the FocalPoint's first status write
// wakes the channel (its watch), which then reports what it finds. A State applying
// its whole stack at once saves a status write for each channel that got here
// first (test/perf). A FocalPoint that never reports is an operator that is not
// running; once it has reported, even a failure, the channel reports too.
//
// Likewise for a channel created less than focalPointGrace ago whose FocalPoint
// does not exist (yet).
func waitsOnNewFocalPoint(s *scope, reconcileErr error) bool {
	if s.reported {
		return false
	}
	if s.fp == nil {
		return s.fpErr == nil && s.Now.Sub(s.cc.CreationTimestamp.Time) < focalPointGrace
	}
	return onlyCANotIssued(reconcileErr) && !s.peerIsSelf && len(s.fp.Status.Conditions) == 0 && s.client.Certificate == nil
}

func certificateCondition(s *scope, now time.Time) metav1.Condition {
	switch {
	case s.fp == nil && s.fpErr == nil:
		return reconciler.NewCondition(cybercoopv1alpha1.ConditionCertificateReady, metav1.ConditionFalse, cybercoopv1alpha1.ReasonFocalPointNotFound,
			"%s", errNoFocalPoint{s.cc.Spec.FocalPointRef.Name}.Error())
	case s.peerIsSelf:
		return reconciler.NewCondition(cybercoopv1alpha1.ConditionCertificateReady, metav1.ConditionFalse, cybercoopv1alpha1.ReasonPeerIsSelf,
			"%s", peerIsSelfMessage(s.cc, s.fp))
	}
	return certs.ReadyCondition(&s.certs, now)
}

// trustCondition is PeerTrusted for the trust decided (nil when the spec's bundle
// could not be read, err says why).
func trustCondition(t *peerTrust, err error, now time.Time) metav1.Condition {
	set := func(status metav1.ConditionStatus, reason, format string, args ...any) metav1.Condition {
		return reconciler.NewCondition(cybercoopv1alpha1.ConditionPeerTrusted, status, reason, format, args...)
	}
	if t == nil {
		why := "it has not been read yet"
		if err != nil {
			why = err.Error()
		}
		return set(metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "the peer's trust bundle could not be read: %s", why)
	}
	var notTrusted string
	if len(t.rejected) > 0 {
		notTrusted = "; not trusted from spec.peer.trustBundle: " + strings.Join(t.rejected, "; ")
	}
	if len(t.cas) == 0 {
		switch {
		case t.problem != "":
			return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonTrustBundleInvalid, "%s", t.problem)
		case len(t.rejected) > 0:
			return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonTrustBundleInvalid,
				"spec.peer.trustBundle holds no CA certificate that is valid now: %s", strings.Join(t.rejected, "; "))
		}
		return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonTrustBundleInvalid, "spec.peer.trustBundle holds no certificate")
	}
	var trusted []string
	for _, c := range t.cas {
		trusted = append(trusted, fmt.Sprintf("%s (%s, until %s)", subjectOf(c.cert), c.record.Source, rfc3339(c.cert.NotAfter)))
	}
	if t.problem != "" {
		// The spec gives nothing now, but CAs learned from the peer are still valid.
		notTrusted = "; " + t.problem
	}
	if t.expiring(now) {
		return set(metav1.ConditionTrue, cybercoopv1alpha1.ReasonTrustBundleExpiring,
			"every trusted CA of the peer expires within %d days, the last at %s: ask the peer for its next CA certificate and add it to spec.peer.trustBundle; trusts %s%s",
			int(expiringWindow.Hours()/24), rfc3339(t.latestExpiry()), strings.Join(trusted, ", "), notTrusted)
	}
	return set(metav1.ConditionTrue, cybercoopv1alpha1.ReasonTrustBundleValid, "trusts %d CA(s) of the peer: %s; the earliest expires at %s%s",
		len(t.cas), strings.Join(trusted, ", "), rfc3339(t.earliestExpiry()), notTrusted)
}

// peerAndReachable is status.peer and PeerReachable. A successful probe confirms the
// peer anew (a new handshakeTime) unless it was routine and found what status
// reports: then status.peer and PeerReachable stay as they are, so an idle channel's
// status is not written at every probe.
func peerAndReachable(s *scope) (*cybercoopv1alpha1.PeerStatus, metav1.Condition) {
	prev, endpoint := s.cc.Status.Peer, s.cc.Spec.Peer.Endpoint
	if o := s.probe; o != nil && o.err == nil && o.routine && s.prevReachable != nil &&
		s.prevReachable.Status == metav1.ConditionTrue && prev != nil && prev.HandshakeTime != nil {
		peer := peerStatus(prev, s.trust, o, false)
		cond := reachableCondition(s.block, o, peer, s.prevReachable, endpoint)
		if cond.Reason == s.prevReachable.Reason && cond.Message == s.prevReachable.Message &&
			equalTime(peer.CertificateNotAfter, prev.CertificateNotAfter) && slices.Equal(peer.AcceptsCAs, prev.AcceptsCAs) {
			return peer, cond
		}
	}
	peer := peerStatus(prev, s.trust, s.probe, true)
	return peer, reachableCondition(s.block, s.probe, peer, s.prevReachable, endpoint)
}

func equalTime(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b)
}

// reachableCondition is PeerReachable: what this reconcile's probe found (peer is
// status.peer with the handshake that confirmed it), why there was none, or,
// between probes, what the last one found. Its message names no time that moves
// with every probe: a failure's is the same while the peer fails the same way.
func reachableCondition(block *probeBlock, o *probeOutcome, peer *cybercoopv1alpha1.PeerStatus, prev *metav1.Condition, endpoint string) metav1.Condition {
	set := func(status metav1.ConditionStatus, reason, format string, args ...any) metav1.Condition {
		return reconciler.NewCondition(cybercoopv1alpha1.ConditionPeerReachable, status, reason, format, args...)
	}
	switch {
	case block != nil:
		return set(metav1.ConditionUnknown, block.reason, "%s", block.message)
	case o != nil && o.err != nil:
		return set(metav1.ConditionFalse, cybercoopv1alpha1.ReasonPeerUnreachable, "the probe of %s failed: %s",
			endpoint, describeProbeError(o.err))
	case o != nil && peer != nil && peer.HandshakeTime != nil:
		served := ""
		if c := peerCertificateOf(o.probed); c != nil {
			served = fmt.Sprintf("; the peer's certificate %s is valid until %s", subjectOf(c), rfc3339(c.NotAfter))
		}
		next := ""
		switch {
		case o.next != "" && o.nextErr == nil:
			next = fmt.Sprintf("; the peer accepts this State's new CA (SHA-256 %s) too", o.next)
		case o.next != "":
			next = fmt.Sprintf("; the peer does not accept this State's new CA (SHA-256 %s) yet: %s", o.next, describeProbeError(o.nextErr))
		}
		return set(metav1.ConditionTrue, cybercoopv1alpha1.ReasonPeerHandshakeSucceeded,
			"mutual-TLS handshake with %s and its signed trust bundle verified in %d ms at %s%s%s",
			endpoint, ptr.Deref(peer.HandshakeRoundTripMilliseconds, 0), rfc3339(peer.HandshakeTime.Time), served, next)
	case prev != nil && (prev.Reason == cybercoopv1alpha1.ReasonPeerHandshakeSucceeded || prev.Reason == cybercoopv1alpha1.ReasonPeerUnreachable):
		return metav1.Condition{Type: prev.Type, Status: prev.Status, Reason: prev.Reason, Message: prev.Message}
	}
	return set(metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "the peer has not been probed yet")
}

// peerStatus is status.peer: the trusted CAs as the client Secret records them, and
// what the last successful probe saw. confirm makes a successful probe's handshake
// the one status reports (handshakeTime and its round trip); a failed probe changes
// nothing here, so what the last successful one saw is kept.
func peerStatus(prev *cybercoopv1alpha1.PeerStatus, t *peerTrust, o *probeOutcome, confirm bool) *cybercoopv1alpha1.PeerStatus {
	out := &cybercoopv1alpha1.PeerStatus{}
	if prev != nil {
		out = prev.DeepCopy()
	}
	if t != nil {
		out.TrustedCAs = nil
		for _, c := range t.cas {
			if len(out.TrustedCAs) == maxTrustedInStatus {
				break
			}
			out.TrustedCAs = append(out.TrustedCAs, cybercoopv1alpha1.TrustedCA{
				Subject:           truncate(c.cert.Subject.String(), 1024),
				SHA256Fingerprint: c.fingerprint,
				NotAfter:          metav1.NewTime(c.cert.NotAfter.UTC()),
				Source:            c.record.Source,
				Since:             metav1.NewTime(c.record.Since.UTC()),
			})
		}
	}
	if o != nil && o.err == nil {
		if confirm || out.HandshakeTime == nil {
			out.HandshakeTime = ptr.To(metav1.NewTime(o.at.UTC()))
			out.HandshakeRoundTripMilliseconds = ptr.To(o.probed.RoundTrip.Milliseconds())
		}
		if c := peerCertificateOf(o.probed); c != nil {
			out.CertificateNotAfter = ptr.To(metav1.NewTime(c.NotAfter.UTC()))
		}
		out.AcceptsCAs = acceptsCAs(out.AcceptsCAs, o)
	}
	if out.TrustedCAs == nil && out.HandshakeTime == nil && out.AcceptsCAs == nil {
		return nil
	}
	return out
}

// previousReachable is the stored PeerReachable condition, for the transition events.
func previousReachable(cc *cybercoopv1alpha1.CooperationChannel) *metav1.Condition {
	if c := meta.FindStatusCondition(cc.Status.Conditions, cybercoopv1alpha1.ConditionPeerReachable); c != nil {
		cp := *c
		return &cp
	}
	return nil
}
