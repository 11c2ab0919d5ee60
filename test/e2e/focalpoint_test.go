package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

// sampleFocalPoint reads the FocalPoint from config/samples, so the sample users
// copy is the one tested.
func sampleFocalPoint(namespace string) *cybercoopv1alpha1.FocalPoint {
	raw, err := os.ReadFile(filepath.Join(envtestutil.RepoRoot(), "config", "samples", "cybercoop_v1alpha1_focalpoint.yaml"))
	Expect(err).NotTo(HaveOccurred())
	for _, doc := range splitYAML(raw) {
		fp := &cybercoopv1alpha1.FocalPoint{}
		if err := yaml.UnmarshalStrict(doc, fp); err == nil && fp.Kind == "FocalPoint" {
			fp.Namespace = namespace
			return fp
		}
	}
	Fail("config/samples has no FocalPoint")
	return nil
}

var _ = Describe("FocalPoint on a simulated cluster", Ordered, func() {
	var (
		ctx = context.Background()
		fp  *cybercoopv1alpha1.FocalPoint
		key types.NamespacedName
	)

	BeforeAll(func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		fp = sampleFocalPoint(ns.Name)
		key = types.NamespacedName{Namespace: ns.Name, Name: fp.Name + "-gateway"}
	})

	It("brings the sample FocalPoint to Ready with real pods scheduled on the simulated node", func() {
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(fp.Status.Conditions, "Ready")).To(BeTrue(), "conditions: %+v", fp.Status.Conditions)
			g.Expect(fp.Status.GatewayReplicas).To(Equal("2/2"))
		}).Should(Succeed())

		pods := &corev1.PodList{}
		Expect(k8sClient.List(ctx, pods, client.InNamespace(key.Namespace), client.MatchingLabels{"app.kubernetes.io/instance": fp.Name})).To(Succeed())
		Expect(pods.Items).To(HaveLen(2))
		for _, p := range pods.Items {
			Expect(p.Spec.NodeName).To(Equal(envtestutil.SimulatedNodeName))
			Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
		}

		By("the disruption controller counting the budget against real pods")
		Eventually(func(g Gomega) {
			pdb := &policyv1.PodDisruptionBudget{}
			g.Expect(k8sClient.Get(ctx, key, pdb)).To(Succeed())
			g.Expect(pdb.Status.ExpectedPods).To(Equal(int32(2)))
			g.Expect(pdb.Status.DisruptionsAllowed).To(Equal(int32(1)))
		}).Should(Succeed())
	})

	It("reports a gateway outage and recovers from it", func() {
		By("scaling the Deployment to zero behind the operator's back")
		Eventually(func() error {
			dep := &appsv1.Deployment{}
			if err := k8sClient.Get(ctx, key, dep); err != nil {
				return err
			}
			zero := int32(0)
			dep.Spec.Replicas = &zero
			return k8sClient.Update(ctx, dep)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			dep := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key, dep)).To(Succeed())
			g.Expect(*dep.Spec.Replicas).To(Equal(int32(2)))
			g.Expect(dep.Status.AvailableReplicas).To(Equal(int32(2)))
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(fp.Status.Conditions, "Ready")).To(BeTrue())
		}).Should(Succeed())
	})

	It("repairs a certificate Secret that lost its label, though only labelled Secrets are cached", func() {
		bundleKey := types.NamespacedName{Namespace: key.Namespace, Name: fp.Name + "-trust-bundle"}
		original := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, bundleKey, original)).To(Succeed())
		Expect(original.Data["ca.crt"]).To(ContainSubstring("BEGIN CERTIFICATE"))

		Eventually(func() error {
			s := &corev1.Secret{}
			if err := k8sClient.Get(ctx, bundleKey, s); err != nil {
				return err
			}
			delete(s.Labels, "app.kubernetes.io/managed-by")
			s.Data["ca.crt"] = []byte("not a certificate")
			return k8sClient.Update(ctx, s)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			s := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, bundleKey, s)).To(Succeed())
			g.Expect(s.Labels).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "cybercoop-operator"))
			g.Expect(s.Data["ca.crt"]).To(Equal(original.Data["ca.crt"]))
		}).Should(Succeed())
	})

	It("garbage-collects every child when the FocalPoint is deleted, but keeps the national CA", func() {
		Expect(k8sClient.Delete(ctx, fp)).To(Succeed())
		for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.ConfigMap{},
			&corev1.ServiceAccount{}, &policyv1.PodDisruptionBudget{}, &networkingv1.NetworkPolicy{}} {
			Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, key, obj))
			}).Should(BeTrue(), "%T %s was not garbage-collected", obj, key)
		}
		secretKey := types.NamespacedName{Namespace: key.Namespace, Name: fp.Name + "-gateway-tls"}
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, secretKey, &corev1.Secret{}))
		}).Should(BeTrue(), "Secret %s was not garbage-collected", secretKey)
		// caDeletionPolicy Retain (the default): the CA and its bundle outlive the
		// FocalPoint, detached, for one of the same name to adopt.
		for _, name := range []string{fp.Name + "-ca", fp.Name + "-trust-bundle"} {
			s := &corev1.Secret{}
			Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: name}, s)).To(Succeed(), "Secret %s was deleted", name)
			Expect(s.OwnerReferences).To(BeEmpty())
		}
		Eventually(func(g Gomega) {
			pods := &corev1.PodList{}
			g.Expect(k8sClient.List(ctx, pods, client.InNamespace(key.Namespace))).To(Succeed())
			g.Expect(pods.Items).To(BeEmpty())
		}).Should(Succeed())
	})

	It("never lacked a permission", func() {
		log := managerLog()
		// Workers start only once this replica holds the leader-election Lease.
		Expect(log).To(ContainSubstring(`"msg":"Starting workers"`))
		Expect(log).NotTo(ContainSubstring("forbidden"))
		Expect(log).NotTo(ContainSubstring("PRIVATE KEY"))
	})
})

func splitYAML(raw []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexpDocSep.Split(string(raw), -1) {
		docs = append(docs, []byte(d))
	}
	return docs
}

var regexpDocSep = regexp.MustCompile(`(?m)^---\s*$`)
