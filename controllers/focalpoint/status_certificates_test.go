package focalpoint

import (
	"errors"
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

	DescribeTable("consumersObserved",
		func(edit func(*appsv1.Deployment), want bool) {
			dep := &appsv1.Deployment{}
			dep.Generation = 3
			dep.Spec.Replicas = ptrTo(int32(2))
			dep.Spec.Template.Annotations = map[string]string{TrustBundleHashAnnotation: "abc"}
			dep.Status = appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}
			edit(dep)
			Expect(consumersObserved(dep, "abc")).To(Equal(want))
		},
		Entry("rolled out with the bundle", func(*appsv1.Deployment) {}, true),
		Entry("template names another bundle", func(d *appsv1.Deployment) { d.Spec.Template.Annotations[TrustBundleHashAnnotation] = "old" }, false),
		Entry("template not yet observed", func(d *appsv1.Deployment) { d.Status.ObservedGeneration = 2 }, false),
		Entry("an old pod is left (surge)", func(d *appsv1.Deployment) { d.Status.Replicas = 3 }, false),
		Entry("not every pod updated", func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 }, false),
		Entry("an updated pod not available", func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 1 }, false),
	)

	It("consumersObserved is false without a Deployment", func() {
		Expect(consumersObserved(nil, "abc")).To(BeFalse())
	})

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
