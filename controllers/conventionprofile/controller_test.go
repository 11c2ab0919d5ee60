package conventionprofile

import (
	"context"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/apply"
	"github.com/cybercoop/cybercoop-operator/internal/compliance"
	"github.com/cybercoop/cybercoop-operator/internal/metrics"
	"github.com/cybercoop/cybercoop-operator/test/fixtures"
)

const peerPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

var fingerprint = strings.Repeat("AB:", 31) + "AB"

// stack is one country's namespace: Kenya's point of contact with its gateway
// workload, an evidence vault, a channel to France, and the profile.
type stack struct {
	ns      string
	fp      *v1.FocalPoint
	dep     *appsv1.Deployment
	pdb     *policyv1.PodDisruptionBudget
	ev      *v1.EvidenceVault
	cc      *v1.CooperationChannel
	profile *v1.ConventionProfile
}

func certificate(secret string) *v1.CertificateStatus {
	now := time.Now()
	return &v1.CertificateStatus{SecretName: secret, NotBefore: metav1.NewTime(now.Add(-time.Hour)),
		NotAfter: metav1.NewTime(now.Add(60 * 24 * time.Hour)), RenewalTime: metav1.NewTime(now.Add(30 * 24 * time.Hour)),
		SerialNumber: "0A1B", SHA256Fingerprint: fingerprint, CAGeneration: 1}
}

func condition(t string, status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: t, Status: status, Reason: reason, Message: "set by the test", LastTransitionTime: metav1.Now()}
}

// writeStatus sets obj's status as its controller would, retrying on a conflict.
func writeStatus[T client.Object](ctx context.Context, obj T, mutate func(T)) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		mutate(obj)
		g.Expect(k8sClient.Status().Update(ctx, obj)).To(Succeed())
	}).Should(Succeed())
}

// update changes obj's spec or metadata, retrying on a conflict.
func update[T client.Object](ctx context.Context, obj T, mutate func(T)) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		mutate(obj)
		g.Expect(k8sClient.Update(ctx, obj)).To(Succeed())
	}).Should(Succeed())
}

// healthyStack creates a namespace in which every decidable control passes.
func healthyStack(ctx context.Context) *stack {
	GinkgoHelper()
	ns, err := fixtures.Namespace(ctx, k8sClient, "profile-")
	Expect(err).NotTo(HaveOccurred())
	s := &stack{ns: ns}

	s.fp = fixtures.Kenya(ns)
	Expect(k8sClient.Create(ctx, s.fp)).To(Succeed())
	writeStatus(ctx, s.fp, func(fp *v1.FocalPoint) {
		fp.Status.Conditions = []metav1.Condition{condition(v1.ConditionCertificateReady, metav1.ConditionTrue, v1.ReasonCertificatesValid)}
		fp.Status.Certificates = &v1.CertificatesStatus{CA: certificate("ke-poc-ca"), GatewayServing: certificate("ke-poc-gateway-tls")}
	})

	podLabels := map[string]string{"app.kubernetes.io/name": "cybercoop-gateway", "app.kubernetes.io/instance": "ke-poc"}
	s.dep = &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "ke-poc-gateway", Namespace: ns, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: v1.GroupVersion.String(), Kind: "FocalPoint", Name: s.fp.Name, UID: s.fp.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: podLabels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "gateway", Image: "registry.test/cybercoop:test"}}}},
		},
	}
	Expect(k8sClient.Create(ctx, s.dep)).To(Succeed())
	scaleGateway(ctx, s, 2)
	s.pdb = &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "ke-poc-gateway", Namespace: ns, Labels: map[string]string{apply.ManagedLabel: apply.ManagedValue}},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: podLabels}},
	}
	Expect(k8sClient.Create(ctx, s.pdb)).To(Succeed())

	s.ev = &v1.EvidenceVault{
		ObjectMeta: metav1.ObjectMeta{Name: "ke-evidence", Namespace: ns},
		Spec: v1.EvidenceVaultSpec{FocalPointRef: v1.FocalPointReference{Name: "ke-poc"},
			Storage: &v1.VaultStorage{Size: resource.MustParse("1Gi")}},
	}
	Expect(k8sClient.Create(ctx, s.ev)).To(Succeed())
	writeStatus(ctx, s.ev, func(ev *v1.EvidenceVault) {
		ev.Status.Conditions = []metav1.Condition{
			condition(v1.ConditionCertificateReady, metav1.ConditionTrue, v1.ReasonCertificatesValid),
			condition(v1.ConditionIntegrityVerified, metav1.ConditionTrue, v1.ReasonLogConsistent),
		}
		ev.Status.LastVerification = &v1.VerificationStatus{Time: metav1.NewTime(time.Now().Add(-time.Hour)), Result: "Passed", Objects: 3}
		ev.Status.Certificates = &v1.EvidenceVaultCertificatesStatus{Serving: certificate("ke-evidence-tls")}
	})

	s.cc = &v1.CooperationChannel{
		ObjectMeta: metav1.ObjectMeta{Name: "to-fr", Namespace: ns},
		Spec: v1.CooperationChannelSpec{
			FocalPointRef:  v1.FocalPointReference{Name: "ke-poc"},
			Peer:           v1.PeerSpec{Country: "FR", Endpoint: "https://gateway.fr.example", TrustBundle: v1.PeerTrustBundle{PEM: peerPEM}},
			RequestTypes:   []v1.RequestType{v1.RequestPreservation, v1.RequestStoredDataAccess},
			DataProtection: v1.DataProtectionSpec{LegalBasis: "UNCC art. 40-42; KE-FR memorandum (test)"},
			Languages:      []v1.LanguageTag{"en", "fr"},
		},
	}
	Expect(k8sClient.Create(ctx, s.cc)).To(Succeed())
	writeStatus(ctx, s.cc, func(cc *v1.CooperationChannel) {
		cc.Status.Conditions = []metav1.Condition{
			condition(v1.ConditionCertificateReady, metav1.ConditionTrue, v1.ReasonCertificatesValid),
			condition(v1.ConditionPeerTrusted, metav1.ConditionTrue, v1.ReasonTrustBundleValid),
			condition(v1.ConditionPeerReachable, metav1.ConditionTrue, v1.ReasonPeerHandshakeSucceeded),
		}
		cc.Status.Peer = &v1.PeerStatus{
			TrustedCAs: []v1.TrustedCA{{Subject: "CN=FR national CA", SHA256Fingerprint: fingerprint,
				NotAfter: metav1.NewTime(time.Now().Add(365 * 24 * time.Hour)), Source: "Spec", Since: metav1.Now()}},
			HandshakeRoundTripMilliseconds: ptr.To(int64(12)),
		}
		cc.Status.Certificates = &v1.CooperationChannelCertificatesStatus{Client: certificate("to-fr-client")}
		cc.Status.Requests = &v1.ChannelRequestsStatus{Open: ptr.To(int32(1)), Overdue: ptr.To(int32(0))}
	})

	s.profile = &v1.ConventionProfile{
		ObjectMeta: metav1.ObjectMeta{Name: "ke", Namespace: ns},
		Spec: v1.ConventionProfileSpec{
			Country: "KE",
			CentralAuthority: v1.CentralAuthority{
				Name: "Office of the Attorney General", Contact: v1.Contact{Name: "Liaison", Email: "mla@justice.example.go.ke"},
				Languages: []v1.LanguageTag{"en", "sw"}, PointOfContact: v1.PointOfContactSeparate,
				Coordination: "the duty officer calls the on-call state counsel",
			},
			AcceptedRequestTypes: []v1.RequestType{v1.RequestPreservation, v1.RequestStoredDataAccess, v1.RequestSubscriberInformation},
		},
	}
	Expect(k8sClient.Create(ctx, s.profile)).To(Succeed())
	return s
}

// scaleGateway sets the gateway Deployment to n replicas, all available, as the
// cluster's Deployment controller would report them.
func scaleGateway(ctx context.Context, s *stack, n int32) {
	GinkgoHelper()
	update(ctx, s.dep, func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(n) })
	writeStatus(ctx, s.dep, func(d *appsv1.Deployment) {
		d.Status.ObservedGeneration = d.Generation
		d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas = n, n, n, n
	})
}

func controlsOf(p *v1.ConventionProfile) map[string]v1.ComplianceControl {
	out := map[string]v1.ComplianceControl{}
	for _, c := range p.Status.Controls {
		out[c.ID] = c
	}
	return out
}

// baseline waits for the healthy report: every control passes but the one that
// cannot be decided yet.
func baseline(ctx context.Context, s *stack) map[string]v1.ComplianceControl {
	GinkgoHelper()
	var controls map[string]v1.ComplianceControl
	Eventually(func(g Gomega) {
		p := &v1.ConventionProfile{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.profile), p)).To(Succeed())
		controls = controlsOf(p)
		g.Expect(controls).To(HaveLen(13))
		for id, c := range controls {
			g.Expect(c.Result).To(Equal(v1.ControlPass), "%s: %s: %s", id, c.Reason, c.Message)
		}
	}).Should(Succeed())
	return controls
}

// expectFlipped waits for the report in which each control of want has the given
// reason with a Fail, and checks that in that same report every other control has
// its baseline result. It returns the report.
func expectFlipped(ctx context.Context, s *stack, before map[string]v1.ComplianceControl, want map[string]string) *v1.ConventionProfile {
	GinkgoHelper()
	p := &v1.ConventionProfile{}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.profile), p)).To(Succeed())
		got := controlsOf(p)
		for id, reason := range want {
			g.Expect(got[id].Result).To(Equal(v1.ControlFail), "%s: %s", id, got[id].Message)
			g.Expect(got[id].Reason).To(Equal(reason), "%s: %s", id, got[id].Message)
		}
	}).Should(Succeed())
	for id, c := range controlsOf(p) {
		if _, flipped := want[id]; flipped {
			continue
		}
		Expect(c.Result).To(Equal(before[id].Result), "%s changed to %s (%s: %s); only %v should", id, c.Result, c.Reason, c.Message, want)
		Expect(c.LastTransitionTime).To(Equal(before[id].LastTransitionTime), "%s's lastTransitionTime moved with an unchanged result", id)
	}
	compliant := meta.FindStatusCondition(p.Status.Conditions, v1.ConditionCompliant)
	Expect(compliant).NotTo(BeNil())
	Expect(compliant.Status).To(Equal(metav1.ConditionFalse))
	Expect(compliant.Reason).To(Equal(v1.ReasonControlsFailing))
	Expect(p.Status.Summary.Fail).To(BeEquivalentTo(len(want)))
	return p
}

var _ = Describe("ConventionProfile controller", func() {
	It("reports every control of a healthy stack as passing, with its article, evidence and since when", func(ctx SpecContext) {
		s := healthyStack(ctx)
		controls := baseline(ctx, s)
		gateway := controls[compliance.ControlGateway]
		Expect(gateway.Article).To(Equal(v1.ArticleReference{UN: "41", Budapest: "35"}))
		Expect(gateway.Resources).To(ConsistOf(
			v1.ControlResource{Kind: "FocalPoint", Name: "ke-poc"},
			v1.ControlResource{Kind: "Deployment", Name: "ke-poc-gateway"},
			v1.ControlResource{Kind: "PodDisruptionBudget", Name: "ke-poc-gateway"}))
		Expect(gateway.LastTransitionTime.IsZero()).To(BeFalse())
		overdue := controls[compliance.ControlRequestsNotOverdue]
		Expect(overdue.Reason).To(Equal("NoneOverdue"))
		Expect(overdue.Message).To(ContainSubstring("1 requests from FR not decided, none past its deadline"))

		p := &v1.ConventionProfile{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.profile), p)).To(Succeed())
		Expect(*p.Status.Summary).To(Equal(v1.ComplianceSummary{Total: 13, Pass: 13}))
		Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
		Expect(p.Status.LastChangeTime).NotTo(BeNil())
		ready := meta.FindStatusCondition(p.Status.Conditions, v1.ConditionReady)
		Expect(ready).NotTo(BeNil())
		Expect(ready.Status).To(Equal(metav1.ConditionTrue))
		Expect(ready.Reason).To(Equal(v1.ReasonReportComputed))
		compliant := meta.FindStatusCondition(p.Status.Conditions, v1.ConditionCompliant)
		Expect(compliant).NotTo(BeNil())
		Expect(compliant.Status).To(Equal(metav1.ConditionTrue))
		Expect(compliant.Reason).To(Equal(v1.ReasonAllControlsPass))
	})

	It("publishes each control's result as a metric, follows a flip and forgets the profile when it is deleted", func(ctx SpecContext) {
		s := healthyStack(ctx)
		before := baseline(ctx, s)
		Eventually(func(g Gomega) {
			results := metrics.ComplianceControlResults(s.ns, s.profile.Name)
			g.Expect(results).To(HaveLen(len(before)))
			for id := range before {
				g.Expect(results).To(HaveKeyWithValue(id, float64(metrics.ControlPassValue)))
			}
		}).Should(Succeed())
		update(ctx, s.fp, func(fp *v1.FocalPoint) { fp.Spec.Roster.Shifts = fp.Spec.Roster.Shifts[:1] })
		expectFlipped(ctx, s, before, map[string]string{compliance.ControlRoster: "CoverageGaps"})
		Eventually(func() map[string]float64 { return metrics.ComplianceControlResults(s.ns, s.profile.Name) }).
			Should(HaveKeyWithValue(compliance.ControlRoster, float64(metrics.ControlFailValue)))
		Expect(k8sClient.Delete(ctx, s.profile)).To(Succeed())
		Eventually(func() map[string]float64 { return metrics.ComplianceControlResults(s.ns, s.profile.Name) }).Should(BeEmpty())
	})

	It("flips only requests-not-overdue when a channel counts an overdue request", func(ctx SpecContext) {
		s := healthyStack(ctx)
		before := baseline(ctx, s)
		writeStatus(ctx, s.cc, func(cc *v1.CooperationChannel) {
			cc.Status.Requests = &v1.ChannelRequestsStatus{Open: ptr.To(int32(2)), Overdue: ptr.To(int32(1)), OverdueRequests: []string{"rq-0123"}}
		})
		p := expectFlipped(ctx, s, before, map[string]string{compliance.ControlRequestsNotOverdue: "RequestsOverdue"})
		Expect(controlsOf(p)[compliance.ControlRequestsNotOverdue].Message).To(ContainSubstring("rq-0123"))
	})

	It("flips only roster-24x7 when a shift is removed, and passes again with a new transition time when it is back", func(ctx SpecContext) {
		s := healthyStack(ctx)
		before := baseline(ctx, s)
		update(ctx, s.fp, func(fp *v1.FocalPoint) { fp.Spec.Roster.Shifts = fp.Spec.Roster.Shifts[:1] })
		p := expectFlipped(ctx, s, before, map[string]string{compliance.ControlRoster: "CoverageGaps"})
		Expect(controlsOf(p)[compliance.ControlRoster].Message).To(ContainSubstring("84 of 168 hours covered"))
		failedAt := controlsOf(p)[compliance.ControlRoster].LastTransitionTime

		update(ctx, s.fp, func(fp *v1.FocalPoint) { fp.Spec.Roster.Shifts = fixtures.Kenya(s.ns).Spec.Roster.Shifts })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.profile), p)).To(Succeed())
			roster := controlsOf(p)[compliance.ControlRoster]
			g.Expect(roster.Result).To(Equal(v1.ControlPass))
			g.Expect(roster.LastTransitionTime.Before(&failedAt)).To(BeFalse())
		}).Should(Succeed())
		Expect(p.Status.Summary.Fail).To(BeZero())
	})

	It("flips only channels-reachable when the peer's CA expires, at its expiry, with no input written then", func(ctx SpecContext) {
		s := healthyStack(ctx)
		before := baseline(ctx, s)
		// Second precision, as the API stores times; a few seconds ahead so the report
		// computed right after this write still sees the CA valid.
		expiry := time.Now().Add(4 * time.Second).Truncate(time.Second).Add(time.Second)
		writeStatus(ctx, s.cc, func(cc *v1.CooperationChannel) { cc.Status.Peer.TrustedCAs[0].NotAfter = metav1.NewTime(expiry) })
		written := s.cc.ResourceVersion
		p := expectFlipped(ctx, s, before, map[string]string{compliance.ControlChannelsReachable: "PeerCAExpired"})
		flippedAt := controlsOf(p)[compliance.ControlChannelsReachable].LastTransitionTime
		Expect(flippedAt.Time.Before(expiry)).To(BeFalse(), "the control flipped at %s, before the CA expired at %s", flippedAt, expiry)
		cc := &v1.CooperationChannel{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.cc), cc)).To(Succeed())
		Expect(cc.ResourceVersion).To(Equal(written), "the flip came from the requeue at the CA's expiry, not from a write")
	})

	It("flips only channels-reachable when a channel's peer becomes unreachable", func(ctx SpecContext) {
		s := healthyStack(ctx)
		before := baseline(ctx, s)
		writeStatus(ctx, s.cc, func(cc *v1.CooperationChannel) {
			meta.SetStatusCondition(&cc.Status.Conditions, condition(v1.ConditionPeerReachable, metav1.ConditionFalse, v1.ReasonPeerUnreachable))
		})
		p := expectFlipped(ctx, s, before, map[string]string{compliance.ControlChannelsReachable: "PeerUnreachable"})
		Expect(controlsOf(p)[compliance.ControlChannelsReachable].Message).To(ContainSubstring("https://gateway.fr.example"))
	})

	It("flips only gateway-available when the gateway is scaled to 1 replica", func(ctx SpecContext) {
		s := healthyStack(ctx)
		before := baseline(ctx, s)
		// What the FocalPoint controller and the cluster do: one replica, no budget.
		update(ctx, s.fp, func(fp *v1.FocalPoint) { fp.Spec.Gateway.Replicas = ptr.To(int32(1)) })
		scaleGateway(ctx, s, 1)
		Expect(k8sClient.Delete(ctx, s.pdb)).To(Succeed())
		expectFlipped(ctx, s, before, map[string]string{compliance.ControlGateway: "TooFewReplicas"})
	})

	It("flips only gateway-available when a gateway pod becomes unavailable, and after that when the budget goes", func(ctx SpecContext) {
		s := healthyStack(ctx)
		before := baseline(ctx, s)
		writeStatus(ctx, s.dep, func(d *appsv1.Deployment) { d.Status.ReadyReplicas, d.Status.AvailableReplicas = 1, 1 })
		expectFlipped(ctx, s, before, map[string]string{compliance.ControlGateway: "GatewayUnavailable"})
		scaleGateway(ctx, s, 2)
		Expect(k8sClient.Delete(ctx, s.pdb)).To(Succeed())
		expectFlipped(ctx, s, before, map[string]string{compliance.ControlGateway: "NoDisruptionBudget"})
	})

	It("flips only vault-integrity when a vault's verification fails, and says so in an event", func(ctx SpecContext) {
		s := healthyStack(ctx)
		before := baseline(ctx, s)
		writeStatus(ctx, s.ev, func(ev *v1.EvidenceVault) {
			ev.Status.LastVerification = &v1.VerificationStatus{Time: metav1.Now(), Result: "Failed", Objects: 3, Findings: 1,
				Message: "object sha256:ab… does not match its digest"}
			meta.SetStatusCondition(&ev.Status.Conditions, condition(v1.ConditionIntegrityVerified, metav1.ConditionFalse, v1.ReasonVerificationFailed))
		})
		p := expectFlipped(ctx, s, before, map[string]string{compliance.ControlVaultIntegrity: "VerificationFailed"})
		Expect(controlsOf(p)[compliance.ControlVaultIntegrity].Message).To(ContainSubstring("does not match its digest"))
		Eventually(func(g Gomega) {
			list := &eventsv1.EventList{}
			g.Expect(k8sClient.List(ctx, list, client.InNamespace(s.ns))).To(Succeed())
			g.Expect(list.Items).To(ContainElement(And(
				HaveField("Reason", v1.EventControlFailed), HaveField("Type", corev1.EventTypeWarning),
				HaveField("Note", ContainSubstring("vault-integrity (art. 25, 42 UN, 16, 29 Budapest) fails: VerificationFailed")))))
		}).Should(Succeed())
	})

	It("flips only data-protection when a channel declares no data-protection terms", func(ctx SpecContext) {
		s := healthyStack(ctx)
		before := baseline(ctx, s)
		// The API requires a legal basis of at least one character; a blank one is the
		// way a channel without terms gets in.
		update(ctx, s.cc, func(cc *v1.CooperationChannel) { cc.Spec.DataProtection.LegalBasis = " " })
		expectFlipped(ctx, s, before, map[string]string{compliance.ControlDataProtection: "NoLegalBasis"})
	})

	It("flips only request-types-accepted when the profile stops accepting a type a channel permits", func(ctx SpecContext) {
		s := healthyStack(ctx)
		before := baseline(ctx, s)
		update(ctx, s.profile, func(p *v1.ConventionProfile) {
			p.Spec.AcceptedRequestTypes = []v1.RequestType{v1.RequestPreservation, v1.RequestSubscriberInformation}
		})
		p := expectFlipped(ctx, s, before, map[string]string{compliance.ControlRequestTypesAccepted: "RequestTypeNotAccepted"})
		Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
	})

	It("writes nothing while the inputs change only in what the report does not show", func(ctx SpecContext) {
		s := healthyStack(ctx)
		before := baseline(ctx, s)
		p := &v1.ConventionProfile{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.profile), p)).To(Succeed())
		written := p.ResourceVersion
		// What a probe that confirms the peer anew writes: the handshake, its round trip and the message.
		for i := range 3 {
			writeStatus(ctx, s.cc, func(cc *v1.CooperationChannel) {
				cc.Status.Peer.HandshakeRoundTripMilliseconds = ptr.To(int64(20 + i))
				cc.Status.Peer.HandshakeTime = ptr.To(metav1.Now())
				c := meta.FindStatusCondition(cc.Status.Conditions, v1.ConditionPeerReachable)
				c.Message = "handshake in " + time.Duration(20+i).String()
			})
		}
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.profile), p)).To(Succeed())
			g.Expect(p.ResourceVersion).To(Equal(written))
		}, 2*time.Second, 100*time.Millisecond).Should(Succeed())
		// The same watch does see what the report shows.
		writeStatus(ctx, s.cc, func(cc *v1.CooperationChannel) {
			meta.SetStatusCondition(&cc.Status.Conditions, condition(v1.ConditionPeerReachable, metav1.ConditionFalse, v1.ReasonPeerUnreachable))
		})
		expectFlipped(ctx, s, before, map[string]string{compliance.ControlChannelsReachable: "PeerUnreachable"})
	})
})
