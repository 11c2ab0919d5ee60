package certmanager

import (
	"context"
	"crypto/x509"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/metrics"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
	"github.com/cybercoop/cybercoop-operator/test/fixtures"
)

// newFocalPoint is a point of contact staffed around the clock whose certificates a
// cert-manager ClusterIssuer issues.
func newFocalPoint(ctx context.Context) *cybercoopv1alpha1.FocalPoint {
	ns, err := fixtures.Namespace(ctx, k8sClient, "fp-cm-")
	Expect(err).NotTo(HaveOccurred())
	fp := fixtures.Kenya(ns)
	fp.Spec.Contacts = []cybercoopv1alpha1.Contact{{Name: "Duty officer", Email: "duty@cyber.example.go.ke"}}
	fp.Spec.Services = []cybercoopv1alpha1.AssistanceService{"TechnicalAdvice"}
	fp.Spec.Roster.Shifts = []cybercoopv1alpha1.Shift{{Days: fixtures.EveryDay, Start: "00:00", End: "24:00", OnCall: "Duty desk"}}
	fp.Spec.Certificates = &cybercoopv1alpha1.CertificatesSpec{
		LeafCertificateSpec: cybercoopv1alpha1.LeafCertificateSpec{
			LeafDuration:    &metav1.Duration{Duration: 720 * time.Hour},
			LeafRenewBefore: &metav1.Duration{Duration: 240 * time.Hour},
		},
		IssuerRef: &cybercoopv1alpha1.IssuerReference{Name: "national-ca", Kind: cybercoopv1alpha1.IssuerKindClusterIssuer},
	}
	return fp
}

func key(fp *cybercoopv1alpha1.FocalPoint, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: fp.Namespace, Name: name}
}

func getCertificate(ctx context.Context, g Gomega, fp *cybercoopv1alpha1.FocalPoint) *unstructured.Unstructured {
	cert := &unstructured.Unstructured{}
	cert.SetGroupVersionKind(focalpoint.CertificateGVK)
	g.Expect(k8sClient.Get(ctx, key(fp, focalpoint.GatewayCertificateName(fp)), cert)).To(Succeed())
	return cert
}

func certReady(ctx context.Context, g Gomega, fp *cybercoopv1alpha1.FocalPoint) *metav1.Condition {
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
	c := meta.FindStatusCondition(fp.Status.Conditions, cybercoopv1alpha1.ConditionCertificateReady)
	g.Expect(c).NotTo(BeNil())
	return c
}

func notFound(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint, name string) bool {
	return apierrors.IsNotFound(k8sClient.Get(ctx, key(fp, name), &corev1.Secret{}))
}

// issuerCA is the CA the tests' stand-in for cert-manager signs with.
var issuerCA = func() *pki.KeyPair {
	ca, err := pki.CreateCA(pki.CASpec{CommonName: "site CA run by cert-manager", Country: "KE"}, testNow)
	if err != nil {
		panic(err)
	}
	return ca
}()

// issue plays cert-manager's part for the FocalPoint's Certificate: it issues a leaf
// for the Certificate's names from issuerCA into its Secret (with ca.crt unless
// withCA is false), then marks the Certificate Ready for its generation.
func issue(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint, withCA bool) *x509.Certificate {
	cert := getCertificate(ctx, Default, fp)
	secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	leaf, err := pki.IssueLeaf(issuerCA, pki.LeafSpec{CommonName: dnsNames[0], DNSNames: dnsNames, Usages: []pki.Usage{pki.UsageServer}, Duration: 720 * time.Hour}, testNow)
	Expect(err).NotTo(HaveOccurred())
	data, err := leaf.SecretData(nil)
	Expect(err).NotTo(HaveOccurred())
	delete(data, pki.CACertKey)
	if withCA {
		data[pki.CACertKey] = issuerCA.CertificatePEM()
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: fp.Namespace}, Type: corev1.SecretTypeTLS}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(secret), secret); apierrors.IsNotFound(err) {
		secret.Data = data
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	} else {
		Expect(err).NotTo(HaveOccurred())
		secret.Data = data
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
	}
	Eventually(func(g Gomega) {
		cert := getCertificate(ctx, g, fp)
		revision, _, _ := unstructured.NestedInt64(cert.Object, "status", "revision")
		g.Expect(unstructured.SetNestedField(cert.Object, map[string]any{
			"revision": revision + 1,
			"notAfter": leaf.Certificate.NotAfter.UTC().Format(time.RFC3339),
			"conditions": []any{map[string]any{
				"type": "Ready", "status": "True", "reason": "Ready", "message": "Certificate is up to date and has not expired",
				"observedGeneration": cert.GetGeneration(), "lastTransitionTime": testNow.Format(time.RFC3339),
			}},
		}, "status")).To(Succeed())
		g.Expect(k8sClient.Status().Update(ctx, cert)).To(Succeed())
	}).Should(Succeed())
	return leaf.Certificate
}

var _ = Describe("FocalPoint certificates issued by cert-manager", func() {
	var ctx context.Context

	BeforeEach(func() { ctx = context.Background() })

	It("creates a Certificate, runs no CA, and reports and publishes what cert-manager issued", func() {
		fp := newFocalPoint(ctx)
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())

		By("creating the Certificate with an explicit key rotation policy, owned by the FocalPoint")
		var cert *unstructured.Unstructured
		Eventually(func(g Gomega) { cert = getCertificate(ctx, g, fp) }).Should(Succeed())
		spec, _, _ := unstructured.NestedMap(cert.Object, "spec")
		svc := "ke-poc-gateway"
		Expect(spec).To(HaveKeyWithValue("secretName", focalpoint.GatewayTLSSecretName(fp)))
		Expect(spec).To(HaveKeyWithValue("dnsNames", ConsistOf(svc, svc+"."+fp.Namespace, svc+"."+fp.Namespace+".svc", svc+"."+fp.Namespace+".svc.cluster.local")))
		Expect(spec).To(HaveKeyWithValue("duration", "720h0m0s"))
		Expect(spec).To(HaveKeyWithValue("renewBefore", "240h0m0s"))
		Expect(spec).To(HaveKeyWithValue("usages", ConsistOf("server auth", "digital signature")))
		Expect(spec).To(HaveKeyWithValue("privateKey", And(
			HaveKeyWithValue("rotationPolicy", "Always"), HaveKeyWithValue("algorithm", "ECDSA"), HaveKeyWithValue("size", BeNumerically("==", 256)))))
		Expect(spec).To(HaveKeyWithValue("issuerRef", Equal(map[string]any{"name": "national-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"})))
		Expect(metav1.GetControllerOf(cert)).NotTo(BeNil())
		Expect(metav1.GetControllerOf(cert).Name).To(Equal(fp.Name))

		By("reporting the pending issuance while the gateway is provisioned anyway")
		Eventually(func(g Gomega) {
			c := certReady(ctx, g, fp)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(cybercoopv1alpha1.ReasonCertificateIssuerPending))
			g.Expect(c.Message).To(ContainSubstring("does not exist yet"))
			g.Expect(k8sClient.Get(ctx, key(fp, "ke-poc-gateway"), &appsv1.Deployment{})).To(Succeed())
		}).Should(Succeed())

		By("following cert-manager's issuance")
		leaf := issue(ctx, fp, true)
		facts := pki.FactsOf(leaf, 240*time.Hour)
		Eventually(func(g Gomega) {
			c := certReady(ctx, g, fp)
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Reason).To(Equal(cybercoopv1alpha1.ReasonCertificatesValid))
			g.Expect(c.Message).To(ContainSubstring(`issued by cert-manager ClusterIssuer "national-ca" (cert-manager.io)`))
			st := fp.Status.Certificates
			g.Expect(st).NotTo(BeNil())
			g.Expect(st.CA).To(BeNil())
			g.Expect(st.Rotation).To(BeNil())
			g.Expect(st.GatewayServing).NotTo(BeNil())
			g.Expect(st.GatewayServing.SecretName).To(Equal(focalpoint.GatewayTLSSecretName(fp)))
			g.Expect(st.GatewayServing.SerialNumber).To(Equal(facts.SerialNumber))
			g.Expect(st.GatewayServing.SHA256Fingerprint).To(Equal(facts.SHA256Fingerprint))
			g.Expect(st.GatewayServing.RenewalTime.Time).To(BeTemporally("==", facts.RenewalTime))
			g.Expect(st.TrustBundle).NotTo(BeNil())
			g.Expect(st.TrustBundle.CACount).To(Equal(int32(1)))
		}).Should(Succeed())

		bundleSecret := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, key(fp, focalpoint.TrustBundleSecretName(fp)), bundleSecret)).To(Succeed())
		bundle, err := pki.ParseTrustBundle(bundleSecret.Data[pki.CACertKey])
		Expect(err).NotTo(HaveOccurred())
		Expect(bundle.Len()).To(Equal(1))
		Expect(bundle.Contains(issuerCA.Certificate)).To(BeTrue(), "the trust bundle is not cert-manager's ca.crt")
		Expect(bundle.Verify(leaf, pki.UsageServer, testNow)).To(Succeed())
		Eventually(func(g Gomega) {
			dep := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key(fp, "ke-poc-gateway"), dep)).To(Succeed())
			g.Expect(dep.Spec.Template.Annotations).To(HaveKeyWithValue(ca.TrustBundleHashAnnotation, bundleSecret.Annotations[ca.TrustBundleHashAnnotation]))
		}).Should(Succeed())
		notAfter, ok := metrics.CertificateExpiration(fp.Namespace, "FocalPoint", fp.Name, metrics.RoleGatewayServing)
		Expect(ok).To(BeTrue())
		Expect(notAfter).To(BeTemporally("==", leaf.NotAfter))
		_, ok = metrics.CertificateExpiration(fp.Namespace, "FocalPoint", fp.Name, metrics.RoleCA)
		Expect(ok).To(BeFalse(), "no CA of the operator's, so no CA expiry gauge")
		Expect(notFound(ctx, fp, focalpoint.CASecretName(fp))).To(BeTrue(), "the operator created its own CA although cert-manager issues")

		By("making zero writes at steady state")
		counted := envtestutil.NewWriteCounter(writes.Client)
		direct := *reconciler
		direct.Client = counted
		req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(fp)}
		Eventually(func(g Gomega) {
			before := len(counted.Writes())
			_, err := direct.Reconcile(ctx, req)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(counted.Writes()[before:]).To(BeEmpty())
		}).Should(Succeed())
		stored := map[string]client.Object{
			"FocalPoint":   &cybercoopv1alpha1.FocalPoint{ObjectMeta: metav1.ObjectMeta{Name: fp.Name, Namespace: fp.Namespace}},
			"Certificate":  cert,
			"Deployment":   &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "ke-poc-gateway", Namespace: fp.Namespace}},
			"trust bundle": &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: focalpoint.TrustBundleSecretName(fp), Namespace: fp.Namespace}},
			"serving":      &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: focalpoint.GatewayTLSSecretName(fp), Namespace: fp.Namespace}},
		}
		versions := func() map[string]string {
			rv, err := envtestutil.ResourceVersions(ctx, k8sClient, stored)
			Expect(err).NotTo(HaveOccurred())
			return rv
		}
		rvBefore := versions()
		before := len(counted.Writes())
		for range 5 {
			res, err := direct.Reconcile(ctx, req)
			Expect(err).NotTo(HaveOccurred())
			// The only requeue is time-based: the start of next week, before the leaf's renewal.
			Expect(res.RequeueAfter).To(Equal(testNextWeek.Sub(testNow)))
		}
		Expect(counted.Writes()[before:]).To(BeEmpty(), "steady-state reconciles wrote: %s", strings.Join(counted.Writes()[before:], ", "))
		Expect(versions()).To(Equal(rvBefore), "the FocalPoint or a child was written during steady state")
	})

	It("repairs an edited Certificate spec", func() {
		fp := newFocalPoint(ctx)
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		Eventually(func(g Gomega) {
			cert := getCertificate(ctx, g, fp)
			g.Expect(unstructured.SetNestedField(cert.Object, "Never", "spec", "privateKey", "rotationPolicy")).To(Succeed())
			g.Expect(k8sClient.Update(ctx, cert)).To(Succeed())
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			policy, _, _ := unstructured.NestedString(getCertificate(ctx, g, fp).Object, "spec", "privateKey", "rotationPolicy")
			g.Expect(policy).To(Equal("Always"))
		}).Should(Succeed())
	})

	It("reports an issued Secret without ca.crt instead of publishing an empty trust bundle", func() {
		fp := newFocalPoint(ctx)
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		Eventually(func(g Gomega) { getCertificate(ctx, g, fp) }).Should(Succeed())
		issue(ctx, fp, false)
		Eventually(func(g Gomega) {
			c := certReady(ctx, g, fp)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(cybercoopv1alpha1.ReasonIssuerCACertificateMissing))
			g.Expect(c.Message).To(ContainSubstring("has no ca.crt"))
			g.Expect(c.Message).To(ContainSubstring("consumers cannot verify the gateway"))
		}).Should(Succeed())
		Expect(notFound(ctx, fp, focalpoint.TrustBundleSecretName(fp))).To(BeTrue(), "a trust bundle was published without a CA")

		By("publishing the bundle once cert-manager fills ca.crt")
		issue(ctx, fp, true)
		Eventually(func(g Gomega) {
			g.Expect(certReady(ctx, g, fp).Reason).To(Equal(cybercoopv1alpha1.ReasonCertificatesValid))
			g.Expect(notFound(ctx, fp, focalpoint.TrustBundleSecretName(fp))).To(BeFalse())
		}).Should(Succeed())
	})

	It("rejects switching between the operator's CA and an issuer, and CA settings with an issuer", func() {
		fp := newFocalPoint(ctx)
		fp.Spec.Certificates.CARotationPolicy = cybercoopv1alpha1.CARotationReplaceKey
		err := k8sClient.Create(ctx, fp)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("caRotationPolicy ReplaceKey applies to the operator's own CA and cannot be combined with issuerRef"))

		fp = newFocalPoint(ctx)
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		err = refusedUpdate(ctx, fp, func(fp *cybercoopv1alpha1.FocalPoint) { fp.Spec.Certificates.IssuerRef.Name = "another-ca" })
		Expect(err.Error()).To(ContainSubstring("certificates.issuerRef is immutable"))
		err = refusedUpdate(ctx, fp, func(fp *cybercoopv1alpha1.FocalPoint) { fp.Spec.Certificates.IssuerRef = nil })
		Expect(err.Error()).To(ContainSubstring("certificates.issuerRef cannot be added or removed after creation"))

		own := newFocalPoint(ctx)
		own.Spec.Certificates = nil
		Expect(k8sClient.Create(ctx, own)).To(Succeed())
		err = refusedUpdate(ctx, own, func(fp *cybercoopv1alpha1.FocalPoint) {
			fp.Spec.Certificates = &cybercoopv1alpha1.CertificatesSpec{IssuerRef: &cybercoopv1alpha1.IssuerReference{Name: "national-ca"}}
		})
		Expect(err.Error()).To(ContainSubstring("certificates.issuerRef cannot be added or removed after creation"))
	})
})

// refusedUpdate applies mutate to the latest fp and returns the API server's refusal;
// a conflict with the controller's own write (its finalizer, its status) is retried.
func refusedUpdate(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint, mutate func(*cybercoopv1alpha1.FocalPoint)) error {
	var refusal error
	Eventually(func() error {
		latest := &cybercoopv1alpha1.FocalPoint{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), latest); err != nil {
			return err
		}
		mutate(latest)
		err := k8sClient.Update(ctx, latest)
		if apierrors.IsConflict(err) {
			return err
		}
		refusal = err
		return nil
	}).Should(Succeed())
	Expect(refusal).To(HaveOccurred(), "the update was accepted")
	return refusal
}
