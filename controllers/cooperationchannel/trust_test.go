package cooperationchannel

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/peer"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/internal/reconciler"
)

// The pure parts of the channel: bundle parsing, the trust decision, the probe's
// schedule and the conditions. They run without an API server.

var unitNow = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

func unitCA(t *testing.T, cn string, notBefore time.Time, d time.Duration) *pki.KeyPair {
	t.Helper()
	kp, err := pki.CreateCA(pki.CASpec{CommonName: cn, Country: "FR", Duration: d}, notBefore)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func pemCat(kps ...*pki.KeyPair) []byte {
	var out []byte
	for _, k := range kps {
		out = append(out, k.CertificatePEM()...)
	}
	return out
}

func TestParseBundle(t *testing.T) {
	good := unitCA(t, "FR CA", unitNow, 0)
	expired := unitCA(t, "FR old CA", unitNow.Add(-72*time.Hour), 24*time.Hour)
	future := unitCA(t, "FR next CA", unitNow.Add(48*time.Hour), 0)
	leaf, err := pki.IssueLeaf(good, pki.LeafSpec{CommonName: "gateway.fr.test", DNSNames: []string{"gateway.fr.test"}, Usages: []pki.Usage{pki.UsageServer}}, unitNow)
	if err != nil {
		t.Fatal(err)
	}
	key, err := good.PrivateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		data         []byte
		usable       int
		problem      string
		rejected     []string
		wakeupsAfter int
	}{
		{"one CA", good.CertificatePEM(), 1, "", nil, 0},
		{"the same CA twice, and text around it", append(append([]byte("France\n"), pemCat(good, good)...), "end"...), 1, "", nil, 0},
		{"no PEM", []byte("see attachment"), 0, "holds no PEM block", nil, 0},
		{"a leaf", leaf.CertificatePEM(), 0, "", []string{"certificate 1 (CN=gateway.fr.test,C=FR) is not a CA certificate"}, 0},
		{"expired and future CAs beside a good one", pemCat(expired, good, future), 1, "",
			[]string{"certificate 1 (CN=FR old CA,C=FR) expired at 2027-02-27T12:00:00Z", "certificate 3 (CN=FR next CA,C=FR) is not valid before"}, 1},
		{"a private key", key, 0, "", []string{`PEM block 1 is a "PRIVATE KEY" block, not a certificate (a private key never belongs`}, 0},
		{"garbage in a certificate block", []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0, "",
			[]string{"PEM block 1 does not parse as an X.509 certificate"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, problem := parseBundle(tc.data, unitNow)
			if len(got.usable) != tc.usable {
				t.Errorf("usable %d, want %d", len(got.usable), tc.usable)
			}
			if (problem == "") != (tc.problem == "") || !strings.Contains(problem, tc.problem) {
				t.Errorf("problem %q, want %q", problem, tc.problem)
			}
			if len(got.rejected) != len(tc.rejected) {
				t.Fatalf("rejected %q, want %d like %q", got.rejected, len(tc.rejected), tc.rejected)
			}
			for i, want := range tc.rejected {
				if !strings.Contains(got.rejected[i], want) {
					t.Errorf("rejected[%d] = %q, want it to contain %q", i, got.rejected[i], want)
				}
			}
			if len(got.validFrom) != tc.wakeupsAfter {
				t.Errorf("validFrom %v, want %d", got.validFrom, tc.wakeupsAfter)
			}
			for _, r := range got.rejected {
				if strings.Contains(r, "MII") || strings.Contains(r, "-----") {
					t.Errorf("PEM bytes in %q", r)
				}
			}
		})
	}
}

func TestDecideTrustKeepsWhatWasLearnedWhileValid(t *testing.T) {
	spec := unitCA(t, "FR CA", unitNow.Add(-time.Hour), 0)
	learned := unitCA(t, "FR CA 2031", unitNow.Add(-time.Hour), 0)
	lapsed := unitCA(t, "FR CA 2020", unitNow.Add(-72*time.Hour), 24*time.Hour)
	earlier := unitNow.Add(-30 * 24 * time.Hour)
	live := liveTrust{exists: true,
		cas: map[string]*x509.Certificate{
			ca.Fingerprint(spec.Certificate): spec.Certificate, ca.Fingerprint(learned.Certificate): learned.Certificate,
			ca.Fingerprint(lapsed.Certificate): lapsed.Certificate,
		},
		records: map[string]trustRecord{
			ca.Fingerprint(spec.Certificate):    {Source: SourceSpec, Since: earlier},
			ca.Fingerprint(learned.Certificate): {Source: SourcePublished, Since: earlier.Add(time.Hour), ExpiryWarned: true},
			ca.Fingerprint(lapsed.Certificate):  {Source: SourcePublished, Since: earlier},
		}}
	trust, wake := decideTrust(specBundle{pem: spec.CertificatePEM()}, live, unitNow)
	if len(trust.cas) != 2 {
		t.Fatalf("trusted %d CAs, want the spec's and the learned one", len(trust.cas))
	}
	got := trust.records()
	if r := got[ca.Fingerprint(spec.Certificate)]; r.Source != SourceSpec || !r.Since.Equal(earlier) {
		t.Errorf("spec CA record %+v: since must be kept", r)
	}
	if r := got[ca.Fingerprint(learned.Certificate)]; r.Source != SourcePublished || !r.ExpiryWarned {
		t.Errorf("learned CA record %+v: source and the warning sent must be kept", r)
	}
	if len(trust.dropped) != 1 || !strings.Contains(trust.dropped[0], "CN=FR CA 2020") || !strings.Contains(trust.dropped[0], "expired at") {
		t.Errorf("dropped %q, want the lapsed CA, as expired", trust.dropped)
	}
	if !trust.changedSinceStored {
		t.Error("dropping a CA is a change the probe must see")
	}
	if len(wake) == 0 {
		t.Error("no wake-up at the trusted CAs' expiry")
	}
	if plan := trust.plannedChange(live); !strings.Contains(plan, "no longer trusts CN=FR CA 2020") {
		t.Errorf("planned change %q", plan)
	}

	// Learning a CA the peer published is a planned change, once.
	next := unitCA(t, "FR CA 2032", unitNow.Add(-time.Hour), 0)
	if !trust.learn(next.Certificate, unitNow) || trust.learn(next.Certificate, unitNow) {
		t.Error("learn must add a new CA once")
	}
	if trust.learn(lapsed.Certificate, unitNow) {
		t.Error("an expired CA was learned")
	}
	if plan := trust.plannedChange(live); !strings.Contains(plan, "trusts CN=FR CA 2032,C=FR (Published)") {
		t.Errorf("planned change %q", plan)
	}

	// Removing the CA from the spec ends its trust; an unrecorded CA is never trusted.
	stranger := unitCA(t, "Someone's CA", unitNow.Add(-time.Hour), 0)
	live.cas[ca.Fingerprint(stranger.Certificate)] = stranger.Certificate
	other := unitCA(t, "FR CA replacement", unitNow.Add(-time.Hour), 0)
	trust, _ = decideTrust(specBundle{pem: other.CertificatePEM()}, live, unitNow)
	for _, c := range trust.cas {
		if c.fingerprint == ca.Fingerprint(spec.Certificate) || c.fingerprint == ca.Fingerprint(stranger.Certificate) {
			t.Errorf("still trusts %s", subjectOf(c.cert))
		}
	}
}

func TestDecideTrustSameInputSameStored(t *testing.T) {
	a, b := unitCA(t, "FR CA A", unitNow.Add(-time.Hour), 0), unitCA(t, "FR CA B", unitNow.Add(-time.Hour), 0)
	first, _ := decideTrust(specBundle{pem: pemCat(b, a)}, readLiveTrust(nil, "", false), unitNow)
	pemData, records := stored(t, first)
	// Stored, read back later, with the bundle in the other order: nothing to write.
	live := readLiveTrust(pemData, records, true)
	second, _ := decideTrust(specBundle{pem: pemCat(a, b)}, live, unitNow.Add(time.Hour))
	pemAgain, recordsAgain := stored(t, second)
	if !bytes.Equal(pemAgain, pemData) || recordsAgain != records {
		t.Fatalf("steady state would write:\n%s\n%s", records, recordsAgain)
	}
	if second.changedSinceStored || second.plannedChange(live) != "" {
		t.Fatal("an unchanged trust is reported as changed")
	}
}

// stored is the trust as the client Secret holds it.
func stored(t *testing.T, trust *peerTrust) ([]byte, string) {
	t.Helper()
	pemData, records, err := trust.stored()
	if err != nil {
		t.Fatal(err)
	}
	return pemData, records
}

func TestExpiryWarningsOncePerCA(t *testing.T) {
	short := unitCA(t, "FR CA", unitNow.Add(-time.Hour), 20*24*time.Hour)
	trust, _ := decideTrust(specBundle{pem: short.CertificatePEM()}, readLiveTrust(nil, "", false), unitNow)
	if !trust.expiring(unitNow) {
		t.Fatal("a CA expiring in 20 days is not expiring")
	}
	trust.markWarnings(unitNow)
	if len(trust.warnNow) != 1 {
		t.Fatalf("%d warnings, want 1", len(trust.warnNow))
	}
	pemData, records := stored(t, trust)
	again, _ := decideTrust(specBundle{pem: short.CertificatePEM()}, readLiveTrust(pemData, records, true), unitNow.Add(time.Hour))
	again.markWarnings(unitNow.Add(time.Hour))
	if len(again.warnNow) != 0 {
		t.Fatal("the warning was sent again")
	}
	long := unitCA(t, "FR CA next", unitNow.Add(-time.Hour), 0)
	both, _ := decideTrust(specBundle{pem: pemCat(short, long)}, readLiveTrust(nil, "", false), unitNow)
	if both.expiring(unitNow) {
		t.Fatal("expiring although one CA is valid for years")
	}
}

func TestProbeDue(t *testing.T) {
	next := unitNow.Add(time.Minute)
	for _, tc := range []struct {
		name    string
		next    time.Time
		changed bool
		due     bool
	}{
		{"never probed", time.Time{}, false, true},
		{"before its next probe", next, false, false},
		{"before its next probe, but the spec or trust changed", next, true, true},
		{"at its next probe", unitNow, false, true},
		{"past its next probe", unitNow.Add(-time.Second), false, true},
	} {
		if got := probeDue(tc.next, unitNow, tc.changed); got != tc.due {
			t.Errorf("%s: due %v", tc.name, got)
		}
	}
	if !nextProbe("uid", time.Time{}, 5*time.Minute, false).IsZero() {
		t.Error("a channel never probed has a next probe")
	}
	if got := nextProbe("uid", unitNow, 5*time.Minute, true); !got.Equal(unitNow.Add(retryInterval)) {
		t.Errorf("an awaited peer is probed again at %s, not retryInterval later", got)
	}
	if got, want := nextProbe("uid", unitNow, time.Second, true), nextRoutineProbe("uid", unitNow, time.Second); !got.Equal(want) {
		t.Errorf("an interval shorter than retryInterval is kept while the peer is awaited: %s, want %s", got, want)
	}
	r := &Reconciler{}
	cc := &cybercoopv1alpha1.CooperationChannel{}
	if r.probeInterval(cc) != defaultProbeInterval {
		t.Error("default interval")
	}
	r.ProbeInterval = time.Second
	cc.Spec.Probe = &cybercoopv1alpha1.ProbeSpec{Interval: &metav1.Duration{Duration: time.Minute}}
	if r.probeInterval(cc) != time.Minute {
		t.Error("spec.probe.interval must win over the reconciler's default")
	}
}

// Channels probed at the same moment (created together, their certificates
// renewed together) probe again each at its own point of the interval, spread
// evenly over it, and from then on exactly once an interval at that point.
func TestNextRoutineProbeSpreadsChannels(t *testing.T) {
	const channels, buckets = 2000, 10
	interval := 5 * time.Minute
	counts := make([]int, buckets)
	for i := range channels {
		uid := types.UID(fmt.Sprintf("0f6e8a3c-%04d-4c1e-9a57-%012d", i, i*7919))
		next := nextRoutineProbe(uid, unitNow, interval)
		if !next.After(unitNow.Add(interval/2)) || next.After(unitNow.Add(interval+interval/2)) {
			t.Fatalf("%s: probed again %s after the last probe, not within half an interval to one and a half", uid, next.Sub(unitNow))
		}
		// Where in the interval: the same point every time after.
		counts[int(next.Sub(unitNow.Add(interval/2))*buckets/(interval+1))]++
		for range 3 {
			after := nextRoutineProbe(uid, next, interval)
			if after.Sub(next) != interval {
				t.Fatalf("%s: probed %s after the previous probe, not one interval", uid, after.Sub(next))
			}
			next = after
		}
		// Probed late (a busy queue), it comes back to its point.
		if late := nextRoutineProbe(uid, next.Add(7*time.Second), interval); late.Sub(next) != interval {
			t.Fatalf("%s: a probe 7s late moved the next to %s after its point, not one interval", uid, late.Sub(next))
		}
	}
	for i, n := range counts {
		// Even would be 200 in each tenth; a tenth with under half or over one and a
		// half times that is a burst the spread should have prevented.
		if n < channels/buckets/2 || n > channels/buckets*3/2 {
			t.Errorf("tenth %d of the interval holds %d of %d channels' next probes: %v", i, n, channels, counts)
		}
	}
	// A restarted operator's first probe of a settled channel is that channel's
	// point too, so a restart does not move it.
	cc := &cybercoopv1alpha1.CooperationChannel{}
	cc.UID, cc.Generation = "9b1d", 1
	cc.Status.Peer = &cybercoopv1alpha1.PeerStatus{HandshakeTime: ptr.To(metav1.NewTime(unitNow.Add(-time.Hour)))}
	cc.Status.Conditions = []metav1.Condition{{Type: cybercoopv1alpha1.ConditionPeerReachable, Status: metav1.ConditionTrue,
		Reason: cybercoopv1alpha1.ReasonPeerHandshakeSucceeded, ObservedGeneration: 1}}
	before := nextRoutineProbe(cc.UID, unitNow.Add(-2*time.Minute), interval)
	if got := nextRoutineProbe(cc.UID, restartedProbeTime(cc, interval, unitNow), interval); got.Sub(before)%interval != 0 {
		t.Errorf("after a restart probed at %s, off its point %s by %s", got, before, (got.Sub(before)%interval+interval)%interval)
	}
}

func TestAcceptsCAs(t *testing.T) {
	const old, current, gone = "AA", "BB", "CC"
	o := &probeOutcome{accepted: current, ownCAs: []string{old, current}}
	if got := acceptsCAs([]string{old, gone}, o); strings.Join(got, ",") != "AA,BB" {
		t.Errorf("got %v: the current CA, and the old one while it is still this State's", got)
	}
	if got := acceptsCAs(nil, &probeOutcome{}); got != nil {
		t.Errorf("got %v from a probe with no known issuer", got)
	}
}

func TestConditions(t *testing.T) {
	ok := unitCA(t, "FR CA", unitNow.Add(-time.Hour), 0)
	valid, _ := decideTrust(specBundle{pem: ok.CertificatePEM()}, readLiveTrust(nil, "", false), unitNow)
	missing, _ := decideTrust(specBundle{problem: `spec.peer.trustBundle.secretRef: Secret "fr-ca" does not exist`}, readLiveTrust(nil, "", false), unitNow)
	for _, tc := range []struct {
		name   string
		cond   metav1.Condition
		status metav1.ConditionStatus
		reason string
		msg    string
	}{
		{"trusted", trustCondition(valid, nil, unitNow), metav1.ConditionTrue, cybercoopv1alpha1.ReasonTrustBundleValid, "trusts 1 CA(s) of the peer: CN=FR CA,C=FR (Spec"},
		{"missing Secret", trustCondition(missing, nil, unitNow), metav1.ConditionFalse, cybercoopv1alpha1.ReasonTrustBundleInvalid, `Secret "fr-ca" does not exist`},
		{"unreadable", trustCondition(nil, errors.New("reading Secret fr-ca: timeout"), unitNow), metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "timeout"},
		{"suspended", reachableCondition(&probeBlock{cybercoopv1alpha1.ReasonChannelSuspended, "spec.suspend is set"}, nil, nil, nil, "https://x"),
			metav1.ConditionUnknown, cybercoopv1alpha1.ReasonChannelSuspended, "spec.suspend"},
		{"probe failed", reachableCondition(nil, &probeOutcome{at: unitNow, err: errors.New("dial tcp: connection\nrefused")}, nil, nil, "https://gw.fr"),
			metav1.ConditionFalse, cybercoopv1alpha1.ReasonPeerUnreachable, "the probe of https://gw.fr failed: dial tcp: connection refused"},
		{"probe succeeded", reachableCondition(nil, &probeOutcome{at: unitNow, probed: &peer.Probed{RoundTrip: 42 * time.Millisecond}},
			peerStatus(nil, nil, &probeOutcome{at: unitNow, probed: &peer.Probed{RoundTrip: 42 * time.Millisecond}}, true), nil, "https://gw.fr"),
			metav1.ConditionTrue, cybercoopv1alpha1.ReasonPeerHandshakeSucceeded, "verified in 42 ms at 2027-03-01T12:00:00Z"},
		{"between probes", reachableCondition(nil, nil, nil, &metav1.Condition{Type: cybercoopv1alpha1.ConditionPeerReachable, Status: metav1.ConditionTrue,
			Reason: cybercoopv1alpha1.ReasonPeerHandshakeSucceeded, Message: "last time"}, "https://gw.fr"),
			metav1.ConditionTrue, cybercoopv1alpha1.ReasonPeerHandshakeSucceeded, "last time"},
		{"never probed", reachableCondition(nil, nil, nil, nil, "https://gw.fr"), metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "not been probed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cond.Status != tc.status || tc.cond.Reason != tc.reason || !strings.Contains(tc.cond.Message, tc.msg) {
				t.Fatalf("got %s (%s) %q, want %s (%s) containing %q", tc.cond.Status, tc.cond.Reason, tc.cond.Message, tc.status, tc.reason, tc.msg)
			}
		})
	}
}

func TestPeerStatusKeepsTheLastSuccessAfterAFailure(t *testing.T) {
	rtt := int64(12)
	then := metav1.NewTime(unitNow.Add(-time.Hour))
	prev := &cybercoopv1alpha1.PeerStatus{HandshakeTime: &then, HandshakeRoundTripMilliseconds: &rtt, AcceptsCAs: []string{"AA"}}
	got := peerStatus(prev, nil, &probeOutcome{at: unitNow, err: errors.New("refused")}, true)
	if !got.HandshakeTime.Equal(&then) || *got.HandshakeRoundTripMilliseconds != 12 || len(got.AcceptsCAs) != 1 {
		t.Fatalf("got %+v", got)
	}
	if peerStatus(nil, nil, nil, true) != nil {
		t.Fatal("an empty peer status is written")
	}
	ok := &probeOutcome{at: unitNow, probed: &peer.Probed{RoundTrip: 30 * time.Millisecond}}
	if got := peerStatus(prev, nil, ok, true); !got.HandshakeTime.Time.Equal(unitNow) || *got.HandshakeRoundTripMilliseconds != 30 {
		t.Fatalf("a confirming probe: %+v", got)
	}
	if prev.HandshakeTime.Time.Equal(unitNow) {
		t.Fatal("the stored status was changed in place")
	}
	if got := peerStatus(prev, nil, ok, false); !got.HandshakeTime.Equal(&then) || *got.HandshakeRoundTripMilliseconds != 12 {
		t.Fatalf("a probe that does not confirm anew moved the handshake: %+v", got)
	}
}

// A routine probe that finds what status reports changes nothing in status, so an
// idle channel is not written at every probe; one that finds something else, or
// runs because what it depends on changed, confirms the peer anew.
func TestRoutineProbesLeaveStatusAsItIs(t *testing.T) {
	peerCA := unitCA(t, "FR CA", unitNow.Add(-time.Hour), 0)
	served := func(notAfter time.Time) *x509.Certificate {
		leaf, err := pki.IssueLeaf(peerCA, pki.LeafSpec{CommonName: "gateway.fr.test", DNSNames: []string{"gateway.fr.test"},
			Usages: []pki.Usage{pki.UsageServer}, Duration: notAfter.Sub(unitNow.Add(-time.Hour))}, unitNow.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return leaf.Certificate
	}
	cert := served(unitNow.Add(60 * 24 * time.Hour))
	probe := func(at time.Time, rtt time.Duration, c *x509.Certificate, routine bool) *probeOutcome {
		return &probeOutcome{at: at, routine: routine, probed: &peer.Probed{RoundTrip: rtt, PeerCertificate: c}, accepted: "AA"}
	}
	cc := &cybercoopv1alpha1.CooperationChannel{}
	cc.Generation = 1
	cc.Spec.Peer.Endpoint = "https://gateway.fr.test"
	// The first probe confirms the peer.
	first := &scope{cc: cc, probe: probe(unitNow, 20*time.Millisecond, cert, false)}
	peerSt, cond := peerAndReachable(first)
	if cond.Status != metav1.ConditionTrue || !peerSt.HandshakeTime.Time.Equal(unitNow) {
		t.Fatalf("first probe: %+v %+v", peerSt, cond)
	}
	cond.ObservedGeneration = 1
	cc.Status.Peer, cc.Status.Conditions = peerSt, []metav1.Condition{cond}
	later := unitNow.Add(5 * time.Minute)
	next := func(o *probeOutcome) (*cybercoopv1alpha1.PeerStatus, metav1.Condition) {
		return peerAndReachable(&scope{cc: cc, probe: o, prevReachable: previousReachable(cc)})
	}

	gotPeer, gotCond := next(probe(later, 45*time.Millisecond, cert, true))
	if !equality.Semantic.DeepEqual(gotPeer, cc.Status.Peer) || gotCond.Message != cond.Message {
		t.Errorf("a routine probe finding the same changed status:\n%+v\n%s", gotPeer, gotCond.Message)
	}
	for name, o := range map[string]*probeOutcome{
		"the probe's inputs changed":          probe(later, 45*time.Millisecond, cert, false),
		"the peer serves another certificate": probe(later, 45*time.Millisecond, served(unitNow.Add(80*24*time.Hour)), true),
	} {
		gotPeer, gotCond := next(o)
		if !gotPeer.HandshakeTime.Time.Equal(later) || *gotPeer.HandshakeRoundTripMilliseconds != 45 || gotCond.Message == cond.Message {
			t.Errorf("%s: not confirmed anew: %+v %s", name, gotPeer, gotCond.Message)
		}
	}
	// A failure keeps the handshake; its message does not move with the probe's time.
	failed := &probeOutcome{at: later, routine: true, err: errors.New("connection refused")}
	failedPeer, failedCond := next(failed)
	if failedCond.Status != metav1.ConditionFalse || !failedPeer.HandshakeTime.Time.Equal(unitNow) {
		t.Fatalf("failure: %+v %+v", failedPeer, failedCond)
	}
	failedCond.ObservedGeneration = 1
	cc.Status.Peer, cc.Status.Conditions = failedPeer, []metav1.Condition{failedCond}
	failed.at = later.Add(30 * time.Second)
	if _, again := next(failed); again.Message != failedCond.Message {
		t.Errorf("the same failure 30 s later changed the message: %q, %q", failedCond.Message, again.Message)
	}
	// Reachable again after a failure: confirmed anew, although routine.
	if back, _ := next(probe(later.Add(time.Minute), 20*time.Millisecond, cert, true)); !back.HandshakeTime.Time.Equal(later.Add(time.Minute)) {
		t.Errorf("reachable again, not confirmed anew: %+v", back)
	}
}

// A restarted operator spreads the first probes of settled channels over one
// interval, the same point for the same channel; an unsettled channel is probed
// at once.
func TestRestartedProbeTime(t *testing.T) {
	interval := 5 * time.Minute
	settled := func(uid string) *cybercoopv1alpha1.CooperationChannel {
		cc := &cybercoopv1alpha1.CooperationChannel{}
		cc.UID, cc.Generation = types.UID(uid), 2
		cc.Status.Peer = &cybercoopv1alpha1.PeerStatus{HandshakeTime: ptr.To(metav1.NewTime(unitNow.Add(-time.Hour)))}
		cc.Status.Conditions = []metav1.Condition{{Type: cybercoopv1alpha1.ConditionPeerReachable, Status: metav1.ConditionTrue,
			Reason: cybercoopv1alpha1.ReasonPeerHandshakeSucceeded, ObservedGeneration: 2}}
		return cc
	}
	seen := map[time.Time]bool{}
	for i := range 20 {
		cc := settled(fmt.Sprintf("uid-%d", i))
		at := restartedProbeTime(cc, interval, unitNow)
		if at.After(unitNow) || !at.After(unitNow.Add(-interval)) {
			t.Fatalf("%s: taken as probed at %s, not within the last interval", cc.UID, at)
		}
		if restartedProbeTime(cc, interval, unitNow) != at {
			t.Fatal("not the same point for the same channel")
		}
		seen[at] = true
	}
	if len(seen) < 10 {
		t.Errorf("20 channels share %d points of the interval", len(seen))
	}
	stale := settled("uid-x")
	stale.Generation = 3
	if !restartedProbeTime(stale, interval, unitNow).IsZero() {
		t.Error("a channel whose spec changed since its status is not probed at once")
	}
	unreachable := settled("uid-y")
	unreachable.Status.Conditions[0].Status = metav1.ConditionFalse
	if !restartedProbeTime(unreachable, interval, unitNow).IsZero() {
		t.Error("an unreachable channel is not probed at once")
	}
}

func TestTrustToStoreKeepsWhatIsStoredWhenTheSpecCannotBeRead(t *testing.T) {
	stored := unitCA(t, "FR CA", unitNow.Add(-time.Hour), 0)
	live := readLiveTrust(stored.CertificatePEM(), `{"x":{"source":"Spec","since":"2026-01-01T00:00:00Z"}}`, true)
	s := &scope{Base: &reconciler.Base{Now: unitNow}, liveTrust: live, liveTrustRead: true}
	data, annotations, err := s.trustToStore()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data[gateway.PeerTrustKey], stored.CertificatePEM()) || annotations[TrustRecordAnnotation] != live.recordsJSON {
		t.Fatalf("the stored trust is not kept: %q %q", data, annotations)
	}
	// Nothing stored, nothing decided: the Secret gets no trust keys.
	s.liveTrust = readLiveTrust(nil, "", false)
	if data, annotations, _ := s.trustToStore(); data != nil || annotations != nil {
		t.Fatalf("trust invented: %q %q", data, annotations)
	}
}

func TestNoClientSecretWriteWhenTheStoredTrustIsUnknown(t *testing.T) {
	r := &Reconciler{} // no client: a write would panic
	s := &scope{Base: &reconciler.Base{Now: unitNow}, trustErr: errors.New("reading Secret to-fr-client: timeout"),
		cc: &cybercoopv1alpha1.CooperationChannel{ObjectMeta: metav1.ObjectMeta{Name: "to-fr", Namespace: "ke"}},
		fp: &cybercoopv1alpha1.FocalPoint{ObjectMeta: metav1.ObjectMeta{Name: "ke-poc", Namespace: "ke"}}}
	if _, err := r.ensureLeaf(context.Background(), s); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("got %v, want the read's error", err)
	}
	if s.client.Secret != nil || s.trustStored {
		t.Fatal("a Secret was written")
	}
}
