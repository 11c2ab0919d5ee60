package focalpoint

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	nationalca "github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/metrics"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

func secretKey(fp *cybercoopv1alpha1.FocalPoint, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: fp.Namespace, Name: name}
}

func getSecret(ctx context.Context, g Gomega, fp *cybercoopv1alpha1.FocalPoint, name string) *corev1.Secret {
	s := &corev1.Secret{}
	g.Expect(k8sClient.Get(ctx, secretKey(fp, name), s)).To(Succeed())
	return s
}

// editSecret applies edit to a stored Secret, retrying on conflicts with the operator.
func editSecret(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint, name string, edit func(*corev1.Secret)) {
	Eventually(func() error {
		s := &corev1.Secret{}
		if err := k8sClient.Get(ctx, secretKey(fp, name), s); err != nil {
			return err
		}
		edit(s)
		return k8sClient.Update(ctx, s)
	}).Should(Succeed())
}

func annotate(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint, key, value string) {
	Eventually(func() error {
		cur := &cybercoopv1alpha1.FocalPoint{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), cur); err != nil {
			return err
		}
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[key] = value
		return k8sClient.Update(ctx, cur)
	}).Should(Succeed())
}

// servingVerifies asserts that the serving Secret holds a valid leaf that the published
// trust bundle and its own ca.crt verify at the suite's now, and returns the leaf.
func servingVerifies(ctx context.Context, g Gomega, fp *cybercoopv1alpha1.FocalPoint) *pki.LeafSecret {
	serving := getSecret(ctx, g, fp, GatewayTLSSecretName(fp))
	g.Expect(serving.Type).To(Equal(corev1.SecretTypeTLS))
	leaf, err := pki.ParseLeafSecret(serving.Data)
	g.Expect(err).NotTo(HaveOccurred())
	bundle, err := pki.ParseTrustBundle(getSecret(ctx, g, fp, TrustBundleSecretName(fp)).Data[pki.CACertKey])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(bundle.Verify(leaf.Certificate, pki.UsageServer, testNow)).To(Succeed())
	own, err := pki.NewTrustBundle(leaf.CACertificates...)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(own.Verify(leaf.Certificate, pki.UsageServer, testNow)).To(Succeed())
	return leaf
}

func certReady(ctx context.Context, g Gomega, fp *cybercoopv1alpha1.FocalPoint) *metav1.Condition {
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
	c := condition(fp, cybercoopv1alpha1.ConditionCertificateReady)
	g.Expect(c).NotTo(BeNil())
	return c
}

// waitCertificatesValid waits until the first certificates are issued and reported.
func waitCertificatesValid(ctx context.Context, fp *cybercoopv1alpha1.FocalPoint) {
	Eventually(func(g Gomega) {
		g.Expect(certReady(ctx, g, fp).Reason).To(Equal(cybercoopv1alpha1.ReasonCertificatesValid))
		servingVerifies(ctx, g, fp)
	}).Should(Succeed())
}

// foreignLeaf is a well-formed leaf for the gateway's names from a CA nobody trusts.
func foreignLeaf(fp *cybercoopv1alpha1.FocalPoint) map[string][]byte {
	ca, err := pki.CreateCA(pki.CASpec{CommonName: "attacker CA", Country: "ZZ"}, testNow)
	Expect(err).NotTo(HaveOccurred())
	leaf, err := pki.IssueLeaf(ca, gatewayLeaf(fp).Spec, testNow)
	Expect(err).NotTo(HaveOccurred())
	data, err := leaf.SecretData(nil)
	Expect(err).NotTo(HaveOccurred())
	data[pki.CACertKey] = ca.CertificatePEM()
	return data
}

// warningsFor lists the FocalPoint's Warning events as "Reason: note".
func warningsFor(ctx context.Context, g Gomega, fp *cybercoopv1alpha1.FocalPoint) []string {
	return focalPointEvents(ctx, g, fp, corev1.EventTypeWarning)
}

var _ = Describe("FocalPoint certificates", func() {
	var (
		ctx context.Context
		fp  *cybercoopv1alpha1.FocalPoint
	)

	BeforeEach(func() {
		ctx = context.Background()
		fp = newFocalPoint(newNamespace(ctx))
	})

	It("reports CertManagerNotInstalled for an issuerRef without cert-manager, and still provisions the gateway", func() {
		// This suite's API server has no cert-manager CRDs: the operator must start and work
		// without them (the certmanager suite covers the mode with them).
		fp.Spec.Certificates = &cybercoopv1alpha1.CertificatesSpec{
			IssuerRef: &cybercoopv1alpha1.IssuerReference{Name: "national-ca", Kind: cybercoopv1alpha1.IssuerKindClusterIssuer},
		}
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		Eventually(func(g Gomega) {
			c := certReady(ctx, g, fp)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(cybercoopv1alpha1.ReasonCertManagerNotInstalled))
			g.Expect(c.Message).To(ContainSubstring(`ClusterIssuer "national-ca" (cert-manager.io)`))
			g.Expect(c.Message).To(ContainSubstring("install cert-manager, then restart the operator"))
			g.Expect(c.ObservedGeneration).To(Equal(fp.Generation))
			for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.ConfigMap{}, &corev1.ServiceAccount{}} {
				g.Expect(k8sClient.Get(ctx, gatewayKey(fp), obj)).To(Succeed())
			}
		}).Should(Succeed())
		for _, name := range []string{CASecretName(fp), TrustBundleSecretName(fp), GatewayTLSSecretName(fp)} {
			err := k8sClient.Get(ctx, secretKey(fp, name), &corev1.Secret{})
			Expect(apierrors.IsNotFound(err)).To(BeTrue(), "Secret %s exists although cert-manager was asked to issue: %v", name, err)
		}
	})

	It("issues a national CA, a trust bundle and the gateway's serving certificate, and reports them", func() {
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		waitCertificatesValid(ctx, fp)

		ca := getSecret(ctx, Default, fp, CASecretName(fp))
		caKP, err := pki.ParseCASecret(ca.Data)
		Expect(err).NotTo(HaveOccurred())
		Expect(caKP.Certificate.Subject.CommonName).To(Equal("cybercoop KE national CA"))
		Expect(caKP.Certificate.NotAfter.Sub(caKP.Certificate.NotBefore)).To(Equal(pki.DefaultCADuration + pki.ClockSkewAllowance))
		Expect(ca.Annotations).To(HaveKeyWithValue(certs.CAGenerationAnnotation, "1"))
		Expect(ca.Annotations).To(HaveKeyWithValue(nationalca.RotationPhaseAnnotation, "Idle"))

		leaf := servingVerifies(ctx, Default, fp)
		Expect(leaf.Certificate.DNSNames).To(ContainElement("ke-poc-gateway." + fp.Namespace + ".svc"))
		Expect(leaf.Certificate.NotAfter.Sub(leaf.Certificate.NotBefore)).To(Equal(pki.DefaultLeafDuration + pki.ClockSkewAllowance))
		Expect(getSecret(ctx, Default, fp, GatewayTLSSecretName(fp)).Labels).To(HaveKeyWithValue(certs.IssuerLabel, CASecretName(fp)))

		By("reporting typed status facts that match the stored certificates")
		st := fp.Status.Certificates
		Expect(st).NotTo(BeNil())
		caFacts := pki.FactsOf(caKP.Certificate, pki.DefaultCARenewBefore)
		Expect(st.CA.SerialNumber).To(Equal(caFacts.SerialNumber))
		Expect(st.CA.SHA256Fingerprint).To(Equal(caFacts.SHA256Fingerprint))
		Expect(st.CA.RenewalTime.Time).To(BeTemporally("==", caFacts.RenewalTime))
		Expect(st.CA.CAGeneration).To(Equal(int64(1)))
		leafFacts := pki.FactsOf(leaf.Certificate, 0)
		Expect(st.GatewayServing.SecretName).To(Equal(GatewayTLSSecretName(fp)))
		Expect(st.GatewayServing.NotAfter.Time).To(BeTemporally("==", leafFacts.NotAfter))
		Expect(st.GatewayServing.RenewalTime.Time).To(BeTemporally("==", testNow.Add(60*24*time.Hour-pki.ClockSkewAllowance/3).Truncate(time.Second)))
		Expect(st.GatewayServing.SHA256Fingerprint).To(Equal(leafFacts.SHA256Fingerprint))
		Expect(st.TrustBundle.CACount).To(Equal(int32(1)))
		Expect(st.Rotation.Phase).To(Equal(cybercoopv1alpha1.CARotationIdle))

		By("mounting the serving Secret and the bundle in the gateway, named by the bundle's hash")
		dep := &appsv1.Deployment{}
		Expect(k8sClient.Get(ctx, gatewayKey(fp), dep)).To(Succeed())
		Expect(dep.Spec.Template.Annotations).To(HaveKeyWithValue(nationalca.TrustBundleHashAnnotation, st.TrustBundle.SHA256))
		vols := map[string]string{}
		for _, v := range dep.Spec.Template.Spec.Volumes {
			if v.Secret != nil {
				vols[v.Name] = v.Secret.SecretName
			}
		}
		Expect(vols).To(Equal(map[string]string{"tls": GatewayTLSSecretName(fp), "trust-bundle": TrustBundleSecretName(fp),
			"channels": ChannelsSecretName(fp), "vault-client": GatewayClientSecretName(fp)}))

		By("issuing the gateway's vault client certificate and the officers' credential, client-only, with their identities")
		for name, uri := range map[string]string{GatewayClientSecretName(fp): GatewayIdentity(fp.Namespace, fp.Name), OfficerSecretName(fp): OfficerIdentity(fp.Namespace, fp.Name)} {
			s := &corev1.Secret{}
			Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: name}, s)).To(Succeed())
			certs, err := pki.ParseCertificatesPEM(s.Data[corev1.TLSCertKey])
			Expect(err).NotTo(HaveOccurred())
			Expect(certs[0].URIs).To(HaveLen(1))
			Expect(certs[0].URIs[0].String()).To(Equal(uri))
			Expect(certs[0].ExtKeyUsage).To(Equal([]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}))
			Expect(certs[0].CheckSignatureFrom(caKP.Certificate)).To(Succeed())
		}
		Expect(st.Officer).NotTo(BeNil())
		Expect(st.GatewayVaultClient).NotTo(BeNil())
		Expect(*dep.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())

		By("recording events and the expiry gauge")
		Eventually(func(g Gomega) {
			g.Expect(eventReasons(ctx, g, fp)).To(ContainElements(
				ContainSubstring("CAIssued: created the national CA (generation 1) in Secret ke-poc-ca"),
				ContainSubstring("CertificateIssued: issued the gateway-serving certificate into Secret ke-poc-gateway-tls"),
			))
		}).Should(Succeed())
		notAfter, ok := metrics.CertificateExpiration(fp.Namespace, "FocalPoint", fp.Name, metrics.RoleGatewayServing)
		Expect(ok).To(BeTrue())
		Expect(notAfter.Unix()).To(Equal(leaf.Certificate.NotAfter.Unix()))
		_, ok = metrics.CertificateExpiration(fp.Namespace, "FocalPoint", fp.Name, metrics.RoleCA)
		Expect(ok).To(BeTrue())
		series := map[string]string{"namespace": fp.Namespace, "kind": "FocalPoint", "name": fp.Name, "role": metrics.RoleGatewayServing}
		renewal, ok := metrics.Value("cybercoop_certificate_renewal_timestamp_seconds", series)
		Expect(ok).To(BeTrue())
		Expect(renewal).To(BeNumerically(">", float64(leaf.Certificate.NotBefore.Unix())))
		Expect(renewal).To(BeNumerically("<", float64(leaf.Certificate.NotAfter.Unix())))
		own := map[string]string{"namespace": fp.Namespace, "name": fp.Name}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			g.Expect(fp.Status.Coverage).NotTo(BeNil())
			covered, ok := metrics.Value("cybercoop_focalpoint_roster_coverage_hours", own)
			g.Expect(ok).To(BeTrue())
			g.Expect(covered).To(Equal(float64(fp.Status.Coverage.CoveredMinutes) / 60))
			week, ok := metrics.Value("cybercoop_focalpoint_roster_week_hours", own)
			g.Expect(ok).To(BeTrue())
			g.Expect(week).To(Equal(float64(fp.Status.Coverage.WeekMinutes) / 60))
		}).Should(Succeed())

		By("Ready includes CertificateReady")
		markDeploymentAvailable(ctx, gatewayKey(fp), 2)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			g.Expect(condition(fp, "Ready").Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())

		By("forgetting the gauge when the FocalPoint is deleted")
		Expect(k8sClient.Delete(ctx, fp)).To(Succeed())
		Eventually(func() bool {
			_, ok := metrics.CertificateExpiration(fp.Namespace, "FocalPoint", fp.Name, metrics.RoleGatewayServing)
			return ok
		}).Should(BeFalse())
		for _, name := range []string{"cybercoop_certificate_renewal_timestamp_seconds", "cybercoop_focalpoint_roster_coverage_hours", "cybercoop_focalpoint_roster_week_hours"} {
			Eventually(func() bool {
				_, ok := metrics.Value(name, map[string]string{"namespace": fp.Namespace, "name": fp.Name})
				return ok
			}).Should(BeFalse(), "%s of the deleted FocalPoint is still exported", name)
		}
	})

	It("keeps the national CA when the FocalPoint is deleted, and a FocalPoint of the same name adopts it", func() {
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		waitCertificatesValid(ctx, fp)
		before := fp.Status.Certificates.CA.SHA256Fingerprint

		Expect(k8sClient.Delete(ctx, fp)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), &cybercoopv1alpha1.FocalPoint{}))
		}).Should(BeTrue(), "the finalizer did not let the FocalPoint go")
		for _, name := range []string{CASecretName(fp), TrustBundleSecretName(fp)} {
			s := getSecret(ctx, Default, fp, name)
			Expect(s.OwnerReferences).To(BeEmpty(), "Secret %s is still owned, so the garbage collector would delete it", name)
		}
		Expect(eventReasons(ctx, Default, fp)).To(ContainElement(ContainSubstring("CARetained: caDeletionPolicy Retain: the national CA Secret ke-poc-ca")))
		collectGarbage(ctx, fp) // envtest runs no garbage collector

		again := newFocalPoint(fp.Namespace)
		Expect(k8sClient.Create(ctx, again)).To(Succeed())
		waitCertificatesValid(ctx, again)
		Expect(again.Status.Certificates.CA.SHA256Fingerprint).To(Equal(before), "a new CA was made instead of adopting the kept one")
		Expect(again.Status.Certificates.CA.CAGeneration).To(Equal(int64(1)))
		Eventually(func(g Gomega) {
			s := getSecret(ctx, g, again, CASecretName(again))
			g.Expect(s.OwnerReferences).To(HaveLen(1))
			g.Expect(s.OwnerReferences[0].UID).To(Equal(again.UID))
		}).Should(Succeed())

		By("letting it go with caDeletionPolicy Delete: the Secrets stay owned, for the garbage collector")
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(again), again); err != nil {
				return err
			}
			again.Spec.Certificates = &cybercoopv1alpha1.CertificatesSpec{CADeletionPolicy: cybercoopv1alpha1.DeletionDelete}
			return k8sClient.Update(ctx, again)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(again), again)).To(Succeed())
			g.Expect(again.Status.ObservedGeneration).To(Equal(again.Generation))
		}).Should(Succeed())
		Expect(k8sClient.Delete(ctx, again)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(again), &cybercoopv1alpha1.FocalPoint{}))
		}).Should(BeTrue())
		Expect(getSecret(ctx, Default, again, CASecretName(again)).OwnerReferences).To(HaveLen(1))
	})

	It("re-issues the leaves once per force-renew token, without rolling the gateway", func() {
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		waitCertificatesValid(ctx, fp)
		before := fp.Status.Certificates.GatewayServing.SerialNumber
		dep := &appsv1.Deployment{}
		Expect(k8sClient.Get(ctx, gatewayKey(fp), dep)).To(Succeed())
		generation := dep.Generation

		annotate(ctx, fp, cybercoopv1alpha1.ForceRenewAnnotation, "2026-11-18")
		var renewed string
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			renewed = fp.Status.Certificates.GatewayServing.SerialNumber
			g.Expect(renewed).NotTo(Equal(before))
			servingVerifies(ctx, g, fp)
			g.Expect(eventReasons(ctx, g, fp)).To(ContainElement(ContainSubstring("CertificateRenewed: renewed the gateway-serving certificate in Secret ke-poc-gateway-tls (ForceRenew")))
		}).Should(Succeed())
		Expect(getSecret(ctx, Default, fp, GatewayTLSSecretName(fp)).Annotations).To(HaveKeyWithValue(certs.ForceRenewTokenAnnotation, "2026-11-18"))
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			g.Expect(fp.Status.Certificates.GatewayServing.SerialNumber).To(Equal(renewed), "the same token re-issued again")
		}, "1s").Should(Succeed())
		Expect(k8sClient.Get(ctx, gatewayKey(fp), dep)).To(Succeed())
		Expect(dep.Generation).To(Equal(generation), "a leaf renewal must not roll the pods")
	})

	It("detects, reports and repairs a serving certificate replaced by one from another CA", func() {
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		waitCertificatesValid(ctx, fp)
		caBefore := fp.Status.Certificates.CA.SHA256Fingerprint

		editSecret(ctx, fp, GatewayTLSSecretName(fp), func(s *corev1.Secret) { s.Data = foreignLeaf(fp) })
		Eventually(func(g Gomega) {
			leaf := servingVerifies(ctx, g, fp)
			g.Expect(leaf.Certificate.Issuer.CommonName).To(Equal("cybercoop KE national CA"))
			c := certReady(ctx, g, fp)
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Reason).To(Equal(cybercoopv1alpha1.ReasonCertificateRepaired))
			g.Expect(c.Message).To(ContainSubstring("Secret ke-poc-gateway-tls: NotSignedByCurrentCA"))
			g.Expect(warningsFor(ctx, g, fp)).To(ContainElement(And(
				HavePrefix("CertificateRepaired: Secret ke-poc-gateway-tls (gateway-serving certificate) was tampered with"),
				ContainSubstring("NotSignedByCurrentCA"))))
		}).Should(Succeed())
		Expect(fp.Status.Certificates.CA.SHA256Fingerprint).To(Equal(caBefore), "the CA must not change")
	})

	It("repairs truncated PEM in the serving Secret, the CA certificate and the trust bundle", func() {
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		waitCertificatesValid(ctx, fp)
		caBefore := fp.Status.Certificates.CA.SHA256Fingerprint
		truncate := func(key string) func(*corev1.Secret) {
			return func(s *corev1.Secret) { s.Data[key] = s.Data[key][:len(s.Data[key])/2] }
		}

		By("truncating the serving certificate")
		editSecret(ctx, fp, GatewayTLSSecretName(fp), truncate(pki.TLSCertKey))
		Eventually(func(g Gomega) {
			servingVerifies(ctx, g, fp)
			g.Expect(warningsFor(ctx, g, fp)).To(ContainElement(And(
				HavePrefix("CertificateRepaired: Secret ke-poc-gateway-tls"), ContainSubstring("tls.crt"))))
		}).Should(Succeed())

		By("truncating the CA certificate: the key is intact, so the certificate is restored from the bundle")
		editSecret(ctx, fp, CASecretName(fp), truncate(pki.TLSCertKey))
		Eventually(func(g Gomega) {
			kp, err := pki.ParseCASecret(getSecret(ctx, g, fp, CASecretName(fp)).Data)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pki.FactsOf(kp.Certificate, 0).SHA256Fingerprint).To(Equal(caBefore))
			g.Expect(warningsFor(ctx, g, fp)).To(ContainElement(HavePrefix("CertificateRepaired: Secret ke-poc-ca (CA) was tampered with")))
			c := certReady(ctx, g, fp)
			g.Expect(c.Reason).To(Equal(cybercoopv1alpha1.ReasonCertificateRepaired))
			g.Expect(c.Message).To(ContainSubstring("Secret ke-poc-ca:"))
		}).Should(Succeed())

		By("truncating the trust bundle")
		editSecret(ctx, fp, TrustBundleSecretName(fp), truncate(pki.CACertKey))
		Eventually(func(g Gomega) {
			servingVerifies(ctx, g, fp)
			g.Expect(warningsFor(ctx, g, fp)).To(ContainElement(HavePrefix("TrustBundleRepaired: Secret ke-poc-trust-bundle (trust bundle) was tampered with")))
		}).Should(Succeed())
		Expect(fp.Status.Certificates.CA.SHA256Fingerprint).To(Equal(caBefore))
	})

	It("says so when the CA key is lost, creates no new CA unasked, and replaces it in phases when approved", func() {
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		waitCertificatesValid(ctx, fp)
		markDeploymentAvailable(ctx, gatewayKey(fp), 2)
		oldCA := getSecret(ctx, Default, fp, CASecretName(fp)).Data[pki.TLSCertKey]
		oldLeaf := getSecret(ctx, Default, fp, GatewayTLSSecretName(fp)).Data[pki.TLSCertKey]

		By("replacing the CA key with a key that does not match the certificate")
		otherKey, err := pki.GenerateKey(pki.ECDSAP256)
		Expect(err).NotTo(HaveOccurred())
		otherKeyPEM, err := pki.EncodePrivateKeyPEM(otherKey)
		Expect(err).NotTo(HaveOccurred())
		editSecret(ctx, fp, CASecretName(fp), func(s *corev1.Secret) { s.Data[pki.TLSPrivateKeyKey] = otherKeyPEM })
		Eventually(func(g Gomega) {
			c := certReady(ctx, g, fp)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(cybercoopv1alpha1.ReasonCAKeyLost))
			g.Expect(c.Message).To(ContainSubstring("Secret ke-poc-ca"))
			g.Expect(c.Message).To(ContainSubstring("restore the CA Secret from a backup"))
			g.Expect(condition(fp, "Ready").Status).To(Equal(metav1.ConditionFalse))
			g.Expect(warningsFor(ctx, g, fp)).To(ContainElement(HavePrefix("CAKeyLost: Secret ke-poc-ca")))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(getSecret(ctx, g, fp, CASecretName(fp)).Data[pki.TLSCertKey]).To(Equal(oldCA), "a new CA was created unasked")
			g.Expect(getSecret(ctx, g, fp, GatewayTLSSecretName(fp)).Data[pki.TLSCertKey]).To(Equal(oldLeaf))
		}, "1s").Should(Succeed())

		By("approving a new CA key: the old and the new CA are published, the leaf stays until the gateway has the bundle")
		annotate(ctx, fp, cybercoopv1alpha1.ForceReplaceCAAnnotation, "lost-key-2026-11")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			g.Expect(fp.Status.Certificates.Rotation.Phase).To(Equal(cybercoopv1alpha1.CARotationBundleExtended))
			g.Expect(fp.Status.Certificates.TrustBundle.CACount).To(Equal(int32(2)))
			c := condition(fp, cybercoopv1alpha1.ConditionCertificateReady)
			g.Expect(c.Reason).To(Equal(cybercoopv1alpha1.ReasonCARotationInProgress))
			g.Expect(c.Message).To(ContainSubstring("waiting for every consumer"))
			dep := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, gatewayKey(fp), dep)).To(Succeed())
			g.Expect(dep.Spec.Template.Annotations[nationalca.TrustBundleHashAnnotation]).To(Equal(fp.Status.Certificates.TrustBundle.SHA256))
		}).Should(Succeed())
		Expect(getSecret(ctx, Default, fp, GatewayTLSSecretName(fp)).Data[pki.TLSCertKey]).To(Equal(oldLeaf))

		By("the gateway rolling out the new bundle: the leaf moves to the new CA, and the old CA stays until the gateway has loaded it")
		markDeploymentAvailable(ctx, gatewayKey(fp), 2)
		var reissued []byte
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			g.Expect(fp.Status.Certificates.Rotation.Phase).To(Equal(cybercoopv1alpha1.CARotationLeavesReissued))
			g.Expect(fp.Status.Certificates.GatewayServing.CAGeneration).To(Equal(int64(2)))
			g.Expect(fp.Status.Certificates.TrustBundle.CACount).To(Equal(int32(2)), "the old CA was pruned before the gateway loaded the re-issued leaf")
			g.Expect(certReady(ctx, g, fp).Message).To(ContainSubstring("waiting for every workload to load the leaves"))
			dep := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, gatewayKey(fp), dep)).To(Succeed())
			g.Expect(dep.Spec.Template.Annotations).To(HaveKeyWithValue(nationalca.ServingCertificateAnnotation, fp.Status.Certificates.GatewayServing.SHA256Fingerprint))
			reissued = getSecret(ctx, g, fp, GatewayTLSSecretName(fp)).Data[pki.TLSCertKey]
			g.Expect(reissued).NotTo(Equal(oldLeaf))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			g.Expect(fp.Status.Certificates.Rotation.Phase).To(Equal(cybercoopv1alpha1.CARotationLeavesReissued))
			g.Expect(fp.Status.Certificates.TrustBundle.CACount).To(Equal(int32(2)))
		}, "1s").Should(Succeed())

		By("the gateway rolling out the re-issued leaf: the old CA is pruned and the pod template no longer names the leaf")
		markDeploymentAvailable(ctx, gatewayKey(fp), 2)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			g.Expect(fp.Status.Certificates.Rotation.Phase).To(Equal(cybercoopv1alpha1.CARotationIdle))
			g.Expect(fp.Status.Certificates.CA.CAGeneration).To(Equal(int64(2)))
			g.Expect(fp.Status.Certificates.GatewayServing.CAGeneration).To(Equal(int64(2)))
			g.Expect(fp.Status.Certificates.TrustBundle.CACount).To(Equal(int32(1)))
			g.Expect(certReady(ctx, g, fp).Status).To(Equal(metav1.ConditionTrue))
			servingVerifies(ctx, g, fp)
			dep := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, gatewayKey(fp), dep)).To(Succeed())
			g.Expect(dep.Spec.Template.Annotations).NotTo(HaveKey(nationalca.ServingCertificateAnnotation))
			g.Expect(dep.Spec.Template.Annotations[nationalca.TrustBundleHashAnnotation]).To(Equal(fp.Status.Certificates.TrustBundle.SHA256))
		}).Should(Succeed())
		Expect(getSecret(ctx, Default, fp, GatewayTLSSecretName(fp)).Data[pki.TLSCertKey]).To(Equal(reissued), "the leaf the gateway loaded is still served")
		_, err = pki.ParseCASecret(getSecret(ctx, Default, fp, CASecretName(fp)).Data)
		Expect(err).NotTo(HaveOccurred())
	})

	It("never lets a private key reach the logs, events or status", func() {
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		waitCertificatesValid(ctx, fp)
		// Tampering and renewals produce the most messages about key pairs.
		editSecret(ctx, fp, GatewayTLSSecretName(fp), func(s *corev1.Secret) { s.Data = foreignLeaf(fp) })
		annotate(ctx, fp, cybercoopv1alpha1.ForceRenewAnnotation, "leak-check")
		Eventually(func(g Gomega) {
			g.Expect(getSecret(ctx, g, fp, GatewayTLSSecretName(fp)).Annotations).To(HaveKeyWithValue(certs.ForceRenewTokenAnnotation, "leak-check"))
			servingVerifies(ctx, g, fp)
		}).Should(Succeed())

		var keys []string
		list := &corev1.SecretList{}
		Expect(k8sClient.List(ctx, list, client.InNamespace(fp.Namespace))).To(Succeed())
		for _, s := range list.Items {
			for _, k := range []string{pki.TLSPrivateKeyKey, nationalca.NextCAKeyKey} {
				if len(s.Data[k]) == 0 {
					continue
				}
				// A line of the key's base64 body, and the raw DER in standard base64.
				lines := strings.Split(string(s.Data[k]), "\n")
				keys = append(keys, lines[1])
				key, err := pki.ParsePrivateKeyPEM(s.Data[k])
				Expect(err).NotTo(HaveOccurred())
				pemBytes, err := pki.EncodePrivateKeyPEM(key)
				Expect(err).NotTo(HaveOccurred())
				keys = append(keys, base64.StdEncoding.EncodeToString(pemBytes))
			}
		}
		Expect(keys).NotTo(BeEmpty())

		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
		status, err := json.Marshal(fp.Status)
		Expect(err).NotTo(HaveOccurred())
		evs := &eventsv1.EventList{}
		Expect(k8sClient.List(ctx, evs, client.InNamespace(fp.Namespace))).To(Succeed())
		notes, err := json.Marshal(evs.Items)
		Expect(err).NotTo(HaveOccurred())
		logs := managerLog.String()
		Expect(logs).To(ContainSubstring("certificate issued"), "the log capture is not working")
		for name, text := range map[string]string{"manager log": logs, "status": string(status), "events": string(notes)} {
			Expect(text).NotTo(ContainSubstring("PRIVATE KEY"), "%s holds a PEM private key marker", name)
			for _, k := range keys {
				Expect(text).NotTo(ContainSubstring(k), "%s holds private key bytes", name)
			}
		}
	})
})

var _ = Describe("FocalPoint certificate settings", func() {
	DescribeTable("the API server validates spec.certificates",
		func(certificates *cybercoopv1alpha1.CertificatesSpec, message string) {
			ctx := context.Background()
			fp := newFocalPoint(newNamespace(ctx))
			fp.Spec.Certificates = certificates
			err := k8sClient.Create(ctx, fp)
			if message == "" {
				Expect(err).NotTo(HaveOccurred())
				Expect(fp.Spec.Certificates.KeyAlgorithm).To(Equal(cybercoopv1alpha1.KeyAlgorithmECDSAP256), "defaulted")
				Expect(fp.Spec.Certificates.CARotationPolicy).To(Equal(cybercoopv1alpha1.CARotationRenewCertificate), "defaulted")
				return
			}
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(message))
		},
		Entry("defaults", &cybercoopv1alpha1.CertificatesSpec{}, ""),
		Entry("caRenewBefore not shorter than caDuration",
			&cybercoopv1alpha1.CertificatesSpec{CADuration: &metav1.Duration{Duration: 720 * time.Hour}, CARenewBefore: &metav1.Duration{Duration: 720 * time.Hour}},
			"caRenewBefore must be shorter than caDuration"),
		Entry("caRenewBefore not shorter than the default caDuration",
			&cybercoopv1alpha1.CertificatesSpec{CARenewBefore: &metav1.Duration{Duration: 50000 * time.Hour}},
			"caRenewBefore must be shorter than caDuration (default 43800h)"),
		Entry("caDuration too short", &cybercoopv1alpha1.CertificatesSpec{CADuration: &metav1.Duration{Duration: time.Hour}},
			"caDuration must be between 24h and 175200h"),
		Entry("unknown key algorithm", &cybercoopv1alpha1.CertificatesSpec{KeyAlgorithm: "DSA1024"}, "spec.certificates.keyAlgorithm"),
		Entry("unknown rotation policy", &cybercoopv1alpha1.CertificatesSpec{CARotationPolicy: "Never"}, "spec.certificates.caRotationPolicy"),
	)
})

// collectGarbage deletes what a garbage collector would once owner is gone: every
// object in its namespace it still owns.
func collectGarbage(ctx context.Context, owner client.Object) {
	lists := []client.ObjectList{&corev1.SecretList{}, &corev1.ConfigMapList{}, &corev1.ServiceList{}, &corev1.ServiceAccountList{},
		&appsv1.DeploymentList{}, &policyv1.PodDisruptionBudgetList{}, &networkingv1.NetworkPolicyList{}}
	for _, list := range lists {
		Expect(k8sClient.List(ctx, list, client.InNamespace(owner.GetNamespace()))).To(Succeed())
		Expect(meta.EachListItem(list, func(o runtime.Object) error {
			obj := o.(client.Object)
			for _, ref := range obj.GetOwnerReferences() {
				if ref.UID == owner.GetUID() {
					return client.IgnoreNotFound(k8sClient.Delete(ctx, obj))
				}
			}
			return nil
		})).To(Succeed())
	}
}
