package focalpoint

import (
	"crypto/x509"
	"errors"
	"maps"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// t0 is when the table's certificates are issued.
var t0 = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	tableCA   *pki.KeyPair
	tableLeaf *pki.IssuedLeaf
)

func tableReport() *certificateReport {
	if tableCA == nil {
		var err error
		tableCA, err = pki.CreateCA(pki.CASpec{CommonName: "cybercoop KE national CA", Country: "KE", Duration: 365 * 24 * time.Hour}, t0)
		Expect(err).NotTo(HaveOccurred())
		tableLeaf, err = pki.IssueLeaf(tableCA, pki.LeafSpec{CommonName: "gw", DNSNames: []string{"gw"}, Usages: []pki.Usage{pki.UsageServer}}, t0)
		Expect(err).NotTo(HaveOccurred())
	}
	return &certificateReport{
		phase: pki.RotationIdle,
		ca: &observedCertificate{role: roleCA, secretName: "ke-poc-ca", cert: tableCA.Certificate,
			renewBefore: 180 * 24 * time.Hour, generation: 1},
		leaves: []observedCertificate{{role: roleGatewayServing, secretName: "ke-poc-gateway-tls", cert: tableLeaf.Certificate, generation: 1}},
	}
}

const day = 24 * time.Hour

// The leaf: 90 days from t0 (−5m skew), renewal at 2/3 of its lifetime ≈ day 60.
// The CA: 365 days, renewal 180 days before expiry ≈ day 185.
var _ = Describe("certificate status functions", func() {
	DescribeTable("certificateReadyCondition",
		func(at time.Duration, edit func(*certificateReport), status metav1.ConditionStatus, reason, inMessage string) {
			rep := tableReport()
			edit(rep)
			c := certificateReadyCondition(rep, t0.Add(at))
			Expect(c.Type).To(Equal(cybercoopv1alpha1.ConditionCertificateReady))
			Expect(c.Status).To(Equal(status))
			Expect(c.Reason).To(Equal(reason))
			Expect(c.Message).To(ContainSubstring(inMessage))
		},
		Entry("valid certificates list expiry and renewal", day, func(*certificateReport) {}, metav1.ConditionTrue,
			cybercoopv1alpha1.ReasonCertificatesValid, "gateway-serving (Secret ke-poc-gateway-tls, CA generation 1) valid until 2027-05-30T12:00:00Z"),
		Entry("a lost CA key wins over everything", day, func(r *certificateReport) { r.caLost = "Secret ke-poc-ca: key lost"; r.err = errors.New("x") },
			metav1.ConditionFalse, cybercoopv1alpha1.ReasonCAKeyLost, "Secret ke-poc-ca: key lost"),
		Entry("a failed issuance", day, func(r *certificateReport) { r.err = errors.New("Secret ke-poc-gateway-tls: forbidden") },
			metav1.ConditionFalse, cybercoopv1alpha1.ReasonCertificateIssuanceFailed, "forbidden"),
		Entry("nothing issued yet", time.Duration(0), func(r *certificateReport) { r.ca, r.leaves = nil, nil },
			metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "not been issued yet"),
		Entry("an expired leaf in use", 91*day, func(*certificateReport) {}, metav1.ConditionFalse,
			cybercoopv1alpha1.ReasonCertificateExpired, "gateway-serving certificate in Secret ke-poc-gateway-tls is valid only"),
		Entry("a key replacement under way stays True", day, func(r *certificateReport) {
			r.phase, r.rotationMessage = pki.RotationBundleExtended, "waiting for every consumer"
		}, metav1.ConditionTrue, cybercoopv1alpha1.ReasonCARotationInProgress, "phase BundleExtended: waiting for every consumer"),
		Entry("a repaired Secret is reported until its next renewal", day, func(r *certificateReport) {
			r.repairs = []string{"Secret ke-poc-gateway-tls: KeyMismatch at 2027-03-02T12:00:00Z"}
		}, metav1.ConditionTrue, cybercoopv1alpha1.ReasonCertificateRepaired, "Secret ke-poc-gateway-tls: KeyMismatch"),
		Entry("cert-manager: a valid leaf and no CA of the operator's is valid", day, func(r *certificateReport) {
			r.ca, r.issuer = nil, `ClusterIssuer "national-ca" (cert-manager.io)`
		}, metav1.ConditionTrue, cybercoopv1alpha1.ReasonCertificatesValid,
			`gateway-serving (Secret ke-poc-gateway-tls, issued by cert-manager ClusterIssuer "national-ca" (cert-manager.io)) valid until`),
		Entry("cert-manager: nothing issued yet", day, func(r *certificateReport) {
			r.ca, r.leaves, r.issuer = nil, nil, `Issuer "site-ca" (cert-manager.io)`
		}, metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, `cert-manager (Issuer "site-ca" (cert-manager.io)) has not issued`),
		Entry("cert-manager: a blocked issuance is False with its reason", day, func(r *certificateReport) {
			r.ca, r.issuer = nil, `Issuer "site-ca" (cert-manager.io)`
			r.block(cybercoopv1alpha1.ReasonIssuerCACertificateMissing, "the Secret has no %s", "ca.crt")
		}, metav1.ConditionFalse, cybercoopv1alpha1.ReasonIssuerCACertificateMissing, "the Secret has no ca.crt"),
		Entry("cert-manager: a failure wins over a blocked issuance", day, func(r *certificateReport) {
			r.ca, r.issuer, r.err = nil, `Issuer "site-ca" (cert-manager.io)`, errors.New("creating cert-manager Certificate: forbidden")
			r.block(cybercoopv1alpha1.ReasonCertificateIssuerPending, "waiting")
		}, metav1.ConditionFalse, cybercoopv1alpha1.ReasonCertificateIssuanceFailed, "forbidden"),
	)

	DescribeTable("desiredCertificate",
		func(certificates *cybercoopv1alpha1.CertificatesSpec, wantKey map[string]any, wantUsages []any, renewBefore string) {
			fp := &cybercoopv1alpha1.FocalPoint{ObjectMeta: metav1.ObjectMeta{Name: "ke-poc", Namespace: "ke"}}
			fp.Spec.Certificates = certificates
			cert, err := desiredCertificate(fp, GatewayCertificateName(fp), gatewayLeaf(fp))
			Expect(err).NotTo(HaveOccurred())
			Expect(cert.GroupVersionKind()).To(Equal(CertificateGVK))
			Expect(cert.GetName()).To(Equal("ke-poc-gateway-serving"))
			spec := cert.Object["spec"].(map[string]any)
			Expect(spec["privateKey"]).To(Equal(wantKey))
			Expect(spec["usages"]).To(Equal(wantUsages))
			Expect(spec["renewBefore"]).To(Equal(renewBefore))
			Expect(spec["secretName"]).To(Equal("ke-poc-gateway-tls"))
			Expect(spec["issuerRef"]).To(Equal(map[string]any{"name": "site-ca", "kind": "Issuer", "group": "cert-manager.io"}))
		},
		Entry("defaults: ECDSA P-256, renewal at 2/3 of 90 days",
			&cybercoopv1alpha1.CertificatesSpec{IssuerRef: &cybercoopv1alpha1.IssuerReference{Name: "site-ca"}},
			map[string]any{"algorithm": "ECDSA", "size": int64(256), "encoding": "PKCS8", "rotationPolicy": "Always"},
			[]any{"server auth", "digital signature"}, "720h0m0s"),
		Entry("RSA 3072 also enciphers; renewBefore from the spec",
			&cybercoopv1alpha1.CertificatesSpec{KeyAlgorithm: cybercoopv1alpha1.KeyAlgorithmRSA3072, LeafRenewBefore: &metav1.Duration{Duration: 48 * time.Hour},
				IssuerRef: &cybercoopv1alpha1.IssuerReference{Name: "site-ca", Kind: cybercoopv1alpha1.IssuerKindIssuer, Group: "cert-manager.io"}},
			map[string]any{"algorithm": "RSA", "size": int64(3072), "encoding": "PKCS8", "rotationPolicy": "Always"},
			[]any{"server auth", "digital signature", "key encipherment"}, "48h0m0s"),
	)

	DescribeTable("expiryWarnings",
		func(at time.Duration, phase pki.RotationPhase, want []string) {
			rep := tableReport()
			rep.phase = phase
			var got []string
			for _, w := range expiryWarnings(rep, t0.Add(at)) {
				got = append(got, w.reason+" "+strings.Fields(w.message)[1]) // "the <role> certificate …"
			}
			Expect(got).To(Equal(want))
		},
		Entry("before any renewal time: silent", 59*day, pki.RotationIdle, nil),
		Entry("leaf past renewal, weeks left: overdue", 61*day, pki.RotationIdle,
			[]string{"CertificateRenewalOverdue gateway-serving"}),
		Entry("leaf within seven days of expiry: expiring soon", 84*day, pki.RotationIdle,
			[]string{"CertificateExpiringSoon gateway-serving"}),
		Entry("leaf expired", 91*day, pki.RotationIdle, []string{"CertificateExpiringSoon gateway-serving"}),
		Entry("CA past renewal while idle: overdue", 186*day, pki.RotationIdle, []string{
			"CertificateRenewalOverdue ca",
			"CertificateExpiringSoon gateway-serving"}),
		Entry("CA past renewal during its key replacement: expected, only the leaf", 186*day, pki.RotationBundleExtended, []string{
			"CertificateExpiringSoon gateway-serving"}),
	)

	DescribeTable("nextCertificateCheck",
		func(at time.Duration, want time.Time) {
			Expect(nextCertificateCheck(tableReport(), t0.Add(at))).To(Equal(want))
		},
		Entry("the leaf's renewal time comes first", day, tableLeaf0Renewal()),
		Entry("past the leaf's renewal: the start of its last week", 61*day, time.Date(2027, 5, 23, 12, 0, 0, 0, time.UTC)),
		Entry("in its last week: its expiry", 84*day, time.Date(2027, 5, 30, 12, 0, 0, 0, time.UTC)),
		Entry("expired leaf: the CA's renewal", 91*day, time.Date(2027, 9, 2, 12, 0, 0, 0, time.UTC)),
		Entry("after everything: nothing", 400*day, time.Time{}),
	)

	DescribeTable("rolledOut",
		func(annotation string, edit func(*appsv1.Deployment), want bool) {
			dep := &appsv1.Deployment{}
			dep.Generation = 3
			dep.Spec.Replicas = ptrTo(int32(2))
			rolled := map[string]string{TrustBundleHashAnnotation: "abc", ServingCertificateAnnotation: "AB:CD"}
			dep.Spec.Template.Annotations = maps.Clone(rolled)
			dep.Status = appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}
			edit(dep)
			Expect(rolledOut(dep, annotation, rolled[annotation])).To(Equal(want))
		},
		Entry("rolled out with the bundle", TrustBundleHashAnnotation, func(*appsv1.Deployment) {}, true),
		Entry("rolled out with the serving certificate", ServingCertificateAnnotation, func(*appsv1.Deployment) {}, true),
		Entry("template names another bundle", TrustBundleHashAnnotation, func(d *appsv1.Deployment) { d.Spec.Template.Annotations[TrustBundleHashAnnotation] = "old" }, false),
		Entry("template names another serving certificate", ServingCertificateAnnotation, func(d *appsv1.Deployment) {
			d.Spec.Template.Annotations[ServingCertificateAnnotation] = "EF:01"
		}, false),
		Entry("template names no serving certificate (an ordinary renewal)", ServingCertificateAnnotation, func(d *appsv1.Deployment) {
			delete(d.Spec.Template.Annotations, ServingCertificateAnnotation)
		}, false),
		Entry("template not yet observed", ServingCertificateAnnotation, func(d *appsv1.Deployment) { d.Status.ObservedGeneration = 2 }, false),
		Entry("an old pod is left (surge)", ServingCertificateAnnotation, func(d *appsv1.Deployment) { d.Status.Replicas = 3 }, false),
		Entry("not every pod updated", TrustBundleHashAnnotation, func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 }, false),
		Entry("an updated pod not available", ServingCertificateAnnotation, func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 1 }, false),
	)

	It("rolledOut is false without a Deployment or without a value to look for", func() {
		Expect(rolledOut(nil, TrustBundleHashAnnotation, "abc")).To(BeFalse())
		dep := &appsv1.Deployment{}
		dep.Spec.Replicas = ptrTo(int32(1))
		dep.Status = appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}
		Expect(rolledOut(dep, ServingCertificateAnnotation, "")).To(BeFalse(), "a missing leaf is never observed")
	})

	DescribeTable("templateServingCertificate names the leaf only while the key replacement waits for the gateway to load it",
		func(phase pki.RotationPhase, withLeaf, want bool) {
			tableReport()
			var leaf *x509.Certificate
			if withLeaf {
				leaf = tableLeaf.Certificate
			}
			got := templateServingCertificate(phase, leaf)
			if want {
				Expect(got).To(Equal(pki.FactsOf(tableLeaf.Certificate, 0).SHA256Fingerprint))
			} else {
				Expect(got).To(BeEmpty())
			}
		},
		Entry("idle: an ordinary renewal never rolls the pods", pki.RotationIdle, true, false),
		Entry("empty phase reads as idle", pki.RotationPhase(""), true, false),
		Entry("bundle extended: leaves still from the old CA", pki.RotationBundleExtended, true, false),
		Entry("bundle observed: leaves being re-issued", pki.RotationBundleObserved, true, false),
		Entry("leaves re-issued: the gateway must load them", pki.RotationLeavesReissued, true, true),
		Entry("leaves re-issued but no leaf readable", pki.RotationLeavesReissued, false, false),
	)

	DescribeTable("plannedRollout explains the operator's own pod template changes",
		func(s scope, want string) {
			Expect(plannedRollout(&s)).To(Equal(want))
		},
		Entry("steady state", scope{bundleHash: "b1", templateBundleHash: "b1"}, ""),
		Entry("certificates unknown", scope{templateBundleHash: "b1", templateServingCertificate: "AB"}, ""),
		Entry("new bundle", scope{bundleHash: "b2", templateBundleHash: "b1"}, "the trust bundle changed, so the gateway pods are rolled to load it"),
		Entry("re-issued leaf", scope{bundleHash: "b1", templateBundleHash: "b1", servingCertificate: "AB"},
			"the serving certificate was re-issued from the new CA, so the gateway pods are rolled to load it before the old CA is pruned"),
		Entry("prune: new bundle, fingerprint dropped", scope{bundleHash: "b2", templateBundleHash: "b1", templateServingCertificate: "AB"},
			"the trust bundle changed, so the gateway pods are rolled to load it"),
		Entry("fingerprint dropped alone", scope{bundleHash: "b1", templateBundleHash: "b1", templateServingCertificate: "AB"},
			"the CA key replacement no longer waits for the gateway to load its serving certificate"),
	)

	DescribeTable("deploymentSpec treats the serving certificate annotation as the operator's",
		func(desired, live map[string]string, inSync bool) {
			fp := newFocalPoint("ns")
			cm, err := desiredConfigMap(fp)
			Expect(err).NotTo(HaveOccurred())
			d := desiredDeployment(fp, cm, testGatewayImage, podCertificates{bundleHash: desired[TrustBundleHashAnnotation], servingCertificate: desired[ServingCertificateAnnotation]})
			l := d.DeepCopy()
			l.Spec.Template.Annotations = map[string]string{ConfigHashAnnotation: d.Spec.Template.Annotations[ConfigHashAnnotation]}
			for k, v := range live {
				l.Spec.Template.Annotations[k] = v
			}
			Expect(deploymentSpec.InSync(d, l)).To(Equal(inSync))
		},
		Entry("idle, unchanged", map[string]string{TrustBundleHashAnnotation: "b"}, map[string]string{TrustBundleHashAnnotation: "b"}, true),
		Entry("rotation ended: the fingerprint is removed", map[string]string{TrustBundleHashAnnotation: "b"},
			map[string]string{TrustBundleHashAnnotation: "b", ServingCertificateAnnotation: "AB"}, false),
		Entry("leaves re-issued: the fingerprint is added", map[string]string{TrustBundleHashAnnotation: "b", ServingCertificateAnnotation: "AB"},
			map[string]string{TrustBundleHashAnnotation: "b"}, false),
		Entry("leaves re-issued, rolled", map[string]string{TrustBundleHashAnnotation: "b", ServingCertificateAnnotation: "AB"},
			map[string]string{TrustBundleHashAnnotation: "b", ServingCertificateAnnotation: "AB"}, true),
		Entry("certificates unknown: the template is left as it is", map[string]string{},
			map[string]string{TrustBundleHashAnnotation: "b", ServingCertificateAnnotation: "AB"}, true),
	)

	It("certificatesStatus reports the facts and the rotation", func() {
		rep := tableReport()
		rep.phase, rep.rotationMessage = pki.RotationBundleObserved, "waiting for every leaf"
		started := t0.Add(day)
		rep.startedAt = &started
		st := certificatesStatus(rep)
		Expect(st.CA.SerialNumber).To(Equal(pki.FactsOf(tableCA.Certificate, 0).SerialNumber))
		Expect(st.CA.RenewalTime.Time).To(Equal(time.Date(2027, 9, 2, 12, 0, 0, 0, time.UTC)))
		Expect(st.GatewayServing.SecretName).To(Equal("ke-poc-gateway-tls"))
		Expect(st.Rotation.Phase).To(Equal(cybercoopv1alpha1.CARotationBundleObserved))
		Expect(st.Rotation.StartedAt.Time).To(Equal(started))
		Expect(st.Rotation.Message).To(Equal("waiting for every leaf"))
	})
})

// tableLeaf0Renewal is the table leaf's renewal time: two thirds of 90 days and 5 minutes.
func tableLeaf0Renewal() time.Time {
	notBefore := t0.Add(-pki.ClockSkewAllowance)
	lifetime := t0.Add(90 * day).Sub(notBefore)
	return notBefore.Add(lifetime - lifetime/3)
}
