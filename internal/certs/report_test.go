package certs

import (
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// t0 is when the table's certificates are issued.
var t0 = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

var (
	tableCA   *pki.KeyPair
	tableLeaf *pki.IssuedLeaf
)

// tableReport is a FocalPoint's report: its CA (365 days, renewal 180 days before
// expiry ≈ day 185) and the gateway's leaf (90 days from t0 −5m skew, renewal at 2/3
// of its lifetime ≈ day 60).
func tableReport(t *testing.T) *Report {
	t.Helper()
	if tableCA == nil {
		var err error
		tableCA, err = pki.CreateCA(pki.CASpec{CommonName: "cybercoop KE national CA", Country: "KE", Duration: 365 * day}, t0)
		if err != nil {
			t.Fatal(err)
		}
		tableLeaf, err = pki.IssueLeaf(tableCA, pki.LeafSpec{CommonName: "gw", DNSNames: []string{"gw"}, Usages: []pki.Usage{pki.UsageServer}}, t0)
		if err != nil {
			t.Fatal(err)
		}
	}
	return &Report{
		Phase:    pki.RotationIdle,
		OwnsCA:   true,
		Awaiting: "the gateway's serving certificate",
		CA:       &Observed{Role: RoleCA, SecretName: "ke-poc-ca", Certificate: tableCA.Certificate, RenewBefore: 180 * day, Generation: 1},
		Leaves:   []Observed{{Role: "gateway-serving", SecretName: "ke-poc-gateway-tls", Certificate: tableLeaf.Certificate, Generation: 1}},
	}
}

func TestReadyCondition(t *testing.T) {
	for _, tc := range []struct {
		name      string
		at        time.Duration
		edit      func(*Report)
		status    metav1.ConditionStatus
		reason    string
		inMessage string
	}{
		{"valid certificates list expiry and renewal", day, func(*Report) {}, metav1.ConditionTrue,
			cybercoopv1alpha1.ReasonCertificatesValid, "gateway-serving (Secret ke-poc-gateway-tls, CA generation 1) valid until 2027-05-30T12:00:00Z"},
		{"a lost CA key wins over everything", day, func(r *Report) { r.CALost = "Secret ke-poc-ca: key lost"; r.Err = errors.New("x") },
			metav1.ConditionFalse, cybercoopv1alpha1.ReasonCAKeyLost, "Secret ke-poc-ca: key lost"},
		{"a failed issuance", day, func(r *Report) { r.Err = errors.New("Secret ke-poc-gateway-tls: forbidden") },
			metav1.ConditionFalse, cybercoopv1alpha1.ReasonCertificateIssuanceFailed, "forbidden"},
		{"nothing issued yet", 0, func(r *Report) { r.CA, r.Leaves = nil, nil },
			metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "the CA and the gateway's serving certificate have not been issued yet"},
		{"a resource without a CA of its own: its leaf not issued yet", 0, func(r *Report) {
			r.CA, r.Leaves, r.OwnsCA, r.Awaiting = nil, nil, false, "the vault's serving certificate"
		},
			metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, "the vault's serving certificate has not been issued yet"},
		{"an expired leaf in use", 91 * day, func(*Report) {}, metav1.ConditionFalse,
			cybercoopv1alpha1.ReasonCertificateExpired, "gateway-serving certificate in Secret ke-poc-gateway-tls is valid only"},
		{"a key replacement under way stays True", day, func(r *Report) {
			r.Phase, r.RotationMessage = pki.RotationBundleExtended, "waiting for every consumer"
		}, metav1.ConditionTrue, cybercoopv1alpha1.ReasonCARotationInProgress, "phase BundleExtended: waiting for every consumer"},
		{"a repaired Secret is reported until its next renewal", day, func(r *Report) {
			r.Repairs = []string{"Secret ke-poc-gateway-tls: KeyMismatch at 2027-03-02T12:00:00Z"}
		}, metav1.ConditionTrue, cybercoopv1alpha1.ReasonCertificateRepaired, "Secret ke-poc-gateway-tls: KeyMismatch"},
		{"cert-manager: a valid leaf and no CA of the operator's is valid", day, func(r *Report) {
			r.CA, r.OwnsCA, r.Issuer = nil, false, `ClusterIssuer "national-ca" (cert-manager.io)`
		}, metav1.ConditionTrue, cybercoopv1alpha1.ReasonCertificatesValid,
			`gateway-serving (Secret ke-poc-gateway-tls, issued by cert-manager ClusterIssuer "national-ca" (cert-manager.io)) valid until`},
		{"cert-manager: nothing issued yet", day, func(r *Report) {
			r.CA, r.Leaves, r.OwnsCA, r.Issuer = nil, nil, false, `Issuer "site-ca" (cert-manager.io)`
		}, metav1.ConditionUnknown, cybercoopv1alpha1.ReasonReconciling, `cert-manager (Issuer "site-ca" (cert-manager.io)) has not issued the gateway's serving certificate yet`},
		{"cert-manager: a blocked issuance is False with its reason", day, func(r *Report) {
			r.CA, r.OwnsCA, r.Issuer = nil, false, `Issuer "site-ca" (cert-manager.io)`
			r.Block(cybercoopv1alpha1.ReasonIssuerCACertificateMissing, "the Secret has no %s", "ca.crt")
		}, metav1.ConditionFalse, cybercoopv1alpha1.ReasonIssuerCACertificateMissing, "the Secret has no ca.crt"},
		{"cert-manager: a failure wins over a blocked issuance", day, func(r *Report) {
			r.CA, r.OwnsCA, r.Issuer, r.Err = nil, false, `Issuer "site-ca" (cert-manager.io)`, errors.New("creating cert-manager Certificate: forbidden")
			r.Block(cybercoopv1alpha1.ReasonCertificateIssuerPending, "waiting")
		}, metav1.ConditionFalse, cybercoopv1alpha1.ReasonCertificateIssuanceFailed, "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			rep := tableReport(t)
			tc.edit(rep)
			c := ReadyCondition(rep, t0.Add(tc.at))
			g.Expect(c.Type).To(Equal(cybercoopv1alpha1.ConditionCertificateReady))
			g.Expect(c.Status).To(Equal(tc.status))
			g.Expect(c.Reason).To(Equal(tc.reason))
			g.Expect(c.Message).To(ContainSubstring(tc.inMessage))
		})
	}
}

func TestExpiryWarnings(t *testing.T) {
	for _, tc := range []struct {
		name  string
		at    time.Duration
		phase pki.RotationPhase
		want  []string
	}{
		{"before any renewal time: silent", 59 * day, pki.RotationIdle, nil},
		{"leaf past renewal, weeks left: overdue", 61 * day, pki.RotationIdle, []string{"CertificateRenewalOverdue gateway-serving"}},
		{"leaf within seven days of expiry: expiring soon", 84 * day, pki.RotationIdle, []string{"CertificateExpiringSoon gateway-serving"}},
		{"leaf expired", 91 * day, pki.RotationIdle, []string{"CertificateExpiringSoon gateway-serving"}},
		{"CA past renewal while idle: overdue", 186 * day, pki.RotationIdle, []string{
			"CertificateRenewalOverdue ca", "CertificateExpiringSoon gateway-serving"}},
		{"CA past renewal during its key replacement: expected, only the leaf", 186 * day, pki.RotationBundleExtended, []string{
			"CertificateExpiringSoon gateway-serving"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := tableReport(t)
			rep.Phase = tc.phase
			var got []string
			for _, w := range ExpiryWarnings(rep, t0.Add(tc.at)) {
				got = append(got, w.Reason+" "+strings.Fields(w.Message)[1]) // "the <role> certificate …"
			}
			NewWithT(t).Expect(got).To(Equal(tc.want))
		})
	}
}

func TestNextCheck(t *testing.T) {
	notBefore := t0.Add(-pki.ClockSkewAllowance)
	lifetime := t0.Add(90 * day).Sub(notBefore)
	leafRenewal := notBefore.Add(lifetime - lifetime/3) // two thirds of 90 days and 5 minutes
	for _, tc := range []struct {
		name string
		at   time.Duration
		want time.Time
	}{
		{"the leaf's renewal time comes first", day, leafRenewal},
		{"past the leaf's renewal: the start of its last week", 61 * day, time.Date(2027, 5, 23, 12, 0, 0, 0, time.UTC)},
		{"in its last week: its expiry", 84 * day, time.Date(2027, 5, 30, 12, 0, 0, 0, time.UTC)},
		{"expired leaf: the CA's renewal", 91 * day, time.Date(2027, 9, 2, 12, 0, 0, 0, time.UTC)},
		{"after everything: nothing", 400 * day, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(NextCheck(tableReport(t), t0.Add(tc.at))).To(Equal(tc.want))
		})
	}
}

func TestRotationStatus(t *testing.T) {
	g := NewWithT(t)
	rep := tableReport(t)
	rep.Phase, rep.RotationMessage = pki.RotationBundleObserved, "waiting for every leaf"
	started := t0.Add(day)
	rep.StartedAt = &started
	st := RotationStatus(rep)
	g.Expect(st.Phase).To(Equal(cybercoopv1alpha1.CARotationBundleObserved))
	g.Expect(st.StartedAt.Time).To(Equal(started))
	g.Expect(st.Message).To(Equal("waiting for every leaf"))
	g.Expect(StatusOf(rep.CA).RenewalTime.Time).To(Equal(time.Date(2027, 9, 2, 12, 0, 0, 0, time.UTC)))

	rep.Issuer = `Issuer "site-ca" (cert-manager.io)`
	g.Expect(RotationStatus(rep)).To(BeNil(), "no CA of the operator's, so no key replacement to report")
}
