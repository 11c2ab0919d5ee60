package ca

import (
	"crypto/x509"
	"maps"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

func testLeaf(t *testing.T) *x509.Certificate {
	t.Helper()
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	caKP, err := pki.CreateCA(pki.CASpec{CommonName: "cybercoop KE national CA", Country: "KE"}, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := pki.IssueLeaf(caKP, pki.LeafSpec{CommonName: "gw", DNSNames: []string{"gw"}, Usages: []pki.Usage{pki.UsageServer}}, now)
	if err != nil {
		t.Fatal(err)
	}
	return leaf.Certificate
}

// TestConsumerRollout: a consumer counts as having loaded a bundle or a leaf only
// when its template names it and every replica runs that template.
func TestConsumerRollout(t *testing.T) {
	const leafSecret = "ke-poc-gateway-tls"
	leaf := testLeaf(t)
	rolled := map[string]string{TrustBundleHashAnnotation: "abc", ServingCertificateAnnotation: Fingerprint(leaf)}
	leaves := map[string]*x509.Certificate{leafSecret: leaf}
	for _, tc := range []struct {
		name       string
		annotation string
		edit       func(*appsv1.Deployment)
		want       bool
	}{
		{"rolled out with the bundle", TrustBundleHashAnnotation, func(*appsv1.Deployment) {}, true},
		{"rolled out with the serving certificate", ServingCertificateAnnotation, func(*appsv1.Deployment) {}, true},
		{"template names another bundle", TrustBundleHashAnnotation, func(d *appsv1.Deployment) { d.Spec.Template.Annotations[TrustBundleHashAnnotation] = "old" }, false},
		{"template names another serving certificate", ServingCertificateAnnotation, func(d *appsv1.Deployment) {
			d.Spec.Template.Annotations[ServingCertificateAnnotation] = "EF:01"
		}, false},
		{"template names no serving certificate (an ordinary renewal)", ServingCertificateAnnotation, func(d *appsv1.Deployment) {
			delete(d.Spec.Template.Annotations, ServingCertificateAnnotation)
		}, false},
		{"template not yet observed", ServingCertificateAnnotation, func(d *appsv1.Deployment) { d.Status.ObservedGeneration = 2 }, false},
		{"an old pod is left (surge)", ServingCertificateAnnotation, func(d *appsv1.Deployment) { d.Status.Replicas = 3 }, false},
		{"not every pod updated", TrustBundleHashAnnotation, func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 }, false},
		{"an updated pod not available", ServingCertificateAnnotation, func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 1 }, false},
		{"the leaf it serves is unreadable", ServingCertificateAnnotation, func(d *appsv1.Deployment) { d.Annotations[ServesCertificateAnnotation] = "gone" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dep := &appsv1.Deployment{}
			dep.Generation = 3
			replicas := int32(2)
			dep.Spec.Replicas = &replicas
			dep.Annotations = map[string]string{ServesCertificateAnnotation: leafSecret}
			dep.Spec.Template.Annotations = maps.Clone(rolled)
			dep.Status = appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}
			tc.edit(dep)
			c := []consumer{deploymentConsumer(dep)}
			got := everyConsumerTrusts(c, rolled[TrustBundleHashAnnotation])
			if tc.annotation == ServingCertificateAnnotation {
				got = everyConsumerServes(c, leaves)
			}
			NewWithT(t).Expect(got).To(Equal(tc.want))
		})
	}
}

func TestConsumersWithoutALeafAreNotWaitedForToServeOne(t *testing.T) {
	g := NewWithT(t)
	dep := &appsv1.Deployment{}
	dep.Status = appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}
	g.Expect(everyConsumerServes([]consumer{deploymentConsumer(dep)}, nil)).To(BeTrue(), "it trusts the CA but serves no leaf of it")
	g.Expect(everyConsumerTrusts([]consumer{deploymentConsumer(dep)}, "abc")).To(BeFalse(), "it must still load the bundle")
}

func TestStatefulSetRolledOut(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*appsv1.StatefulSet)
		want bool
	}{
		{"every replica on the update revision", func(*appsv1.StatefulSet) {}, true},
		{"a replica on the old revision", func(s *appsv1.StatefulSet) { s.Status.CurrentRevision = "r1" }, false},
		{"template not yet observed", func(s *appsv1.StatefulSet) { s.Status.ObservedGeneration = 1 }, false},
		{"a replica not available", func(s *appsv1.StatefulSet) { s.Status.AvailableReplicas = 1 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &appsv1.StatefulSet{}
			s.Generation = 2
			replicas := int32(2)
			s.Spec.Replicas = &replicas
			s.Status = appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2,
				CurrentRevision: "r2", UpdateRevision: "r2"}
			tc.edit(s)
			NewWithT(t).Expect(StatefulSetRolledOut(s)).To(Equal(tc.want))
		})
	}
}

// TestTemplateServingCertificate: the template names the leaf only while the key
// replacement waits for the consumers to load it.
func TestTemplateServingCertificate(t *testing.T) {
	leaf := testLeaf(t)
	for _, tc := range []struct {
		name     string
		phase    pki.RotationPhase
		withLeaf bool
		want     bool
	}{
		{"idle: an ordinary renewal never rolls the pods", pki.RotationIdle, true, false},
		{"empty phase reads as idle", pki.RotationPhase(""), true, false},
		{"bundle extended: leaves still from the old CA", pki.RotationBundleExtended, true, false},
		{"bundle observed: leaves being re-issued", pki.RotationBundleObserved, true, false},
		{"leaves re-issued: the consumers must load them", pki.RotationLeavesReissued, true, true},
		{"leaves re-issued but no leaf readable", pki.RotationLeavesReissued, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var served *x509.Certificate
			if tc.withLeaf {
				served = leaf
			}
			got := TemplateServingCertificate(tc.phase, served)
			want := ""
			if tc.want {
				want = pki.FactsOf(leaf, 0).SHA256Fingerprint
			}
			NewWithT(t).Expect(got).To(Equal(want))
			NewWithT(t).Expect(ConsumerTemplateAnnotations("b", tc.phase, served)[ServingCertificateAnnotation]).To(Equal(want))
		})
	}
	NewWithT(t).Expect(ConsumerTemplateAnnotations("", pki.RotationLeavesReissued, leaf)).To(BeNil(), "an unknown bundle leaves the template as it is")
}
