package focalpoint

import (
	"context"
	"encoding/json"
	"fmt"

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
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
	"github.com/cybercoop/cybercoop-operator/test/fixtures"
)

// newFocalPoint is a realistic point of contact staffed around the clock by two shifts.
func newFocalPoint(namespace string) *cybercoopv1alpha1.FocalPoint { return fixtures.Kenya(namespace) }

func newNamespace(ctx context.Context) string {
	ns, err := fixtures.Namespace(ctx, k8sClient, "fp-")
	Expect(err).NotTo(HaveOccurred())
	return ns
}

func gatewayKey(fp *cybercoopv1alpha1.FocalPoint) types.NamespacedName {
	return types.NamespacedName{Namespace: fp.Namespace, Name: fp.Name + "-gateway"}
}

// condition is fp's condition of type t; a condition not reported yet is an empty
// one (status ""), so that polling assertions fail and retry instead of panicking.
func condition(fp *cybercoopv1alpha1.FocalPoint, t string) *metav1.Condition {
	if c := meta.FindStatusCondition(fp.Status.Conditions, t); c != nil {
		return c
	}
	return &metav1.Condition{Type: t}
}

// markDeploymentAvailable plays the deployment controller's part (envtest runs none).
func markDeploymentAvailable(ctx context.Context, key types.NamespacedName, available int32) {
	Eventually(func(g Gomega) {
		dep := &appsv1.Deployment{}
		g.Expect(k8sClient.Get(ctx, key, dep)).To(Succeed())
		status := corev1.ConditionFalse
		if available > 0 {
			status = corev1.ConditionTrue
		}
		dep.Status = appsv1.DeploymentStatus{
			ObservedGeneration: dep.Generation,
			Replicas:           *dep.Spec.Replicas, UpdatedReplicas: *dep.Spec.Replicas,
			ReadyReplicas: available, AvailableReplicas: available,
			Conditions: []appsv1.DeploymentCondition{{
				Type: appsv1.DeploymentAvailable, Status: status, Reason: "Test",
				LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
			}},
		}
		g.Expect(k8sClient.Status().Update(ctx, dep)).To(Succeed())
	}).Should(Succeed())
}

// eventReasons lists the FocalPoint's events as "Reason: note".
func eventReasons(ctx context.Context, g Gomega, fp *cybercoopv1alpha1.FocalPoint) []string {
	return focalPointEvents(ctx, g, fp, "")
}

// focalPointEvents lists the FocalPoint's events of eventType ("" for every type)
// as "Reason: note".
func focalPointEvents(ctx context.Context, g Gomega, fp *cybercoopv1alpha1.FocalPoint, eventType string) []string {
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(fp.Namespace))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == fp.Name && e.Regarding.Kind == "FocalPoint" && (eventType == "" || e.Type == eventType) {
			out = append(out, e.Reason+": "+e.Note)
		}
	}
	return out
}

var _ = Describe("FocalPoint controller", func() {
	var (
		ctx context.Context
		fp  *cybercoopv1alpha1.FocalPoint
	)

	BeforeEach(func() {
		ctx = context.Background()
		fp = newFocalPoint(newNamespace(ctx))
	})

	It("provisions every child with the right fields and owner references", func() {
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		key := gatewayKey(fp)

		dep := &appsv1.Deployment{}
		Eventually(func() error { return k8sClient.Get(ctx, key, dep) }).Should(Succeed())
		Expect(*dep.Spec.Replicas).To(Equal(int32(2)))
		pod := dep.Spec.Template.Spec
		Expect(pod.ServiceAccountName).To(Equal(key.Name))
		Expect(*pod.AutomountServiceAccountToken).To(BeFalse())
		Expect(*pod.SecurityContext.RunAsNonRoot).To(BeTrue())
		Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
		Expect(pod.Containers).To(HaveLen(1))
		c := pod.Containers[0]
		Expect(c.Image).To(Equal(testGatewayImage))
		Expect(c.Args[0]).To(Equal("gateway"))
		Expect(*c.SecurityContext.AllowPrivilegeEscalation).To(BeFalse())
		Expect(*c.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
		Expect(c.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
		Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
		Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
		Expect(dep.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue()).To(Equal(0))
		Expect(dep.Spec.Template.Annotations).To(HaveKey(ConfigHashAnnotation))

		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, key, cm)).To(Succeed())
		var cfg gateway.Config
		Expect(json.Unmarshal([]byte(cm.Data["config.json"]), &cfg)).To(Succeed())
		Expect(cfg.Country).To(Equal("KE"))
		Expect(cfg.Roster.TimeZone).To(Equal("Africa/Nairobi"))

		// The Service, the ServiceAccount and the disruption budget are applied in
		// the phases after the Deployment's: a moment later.
		svc := &corev1.Service{}
		Eventually(func() error { return k8sClient.Get(ctx, key, svc) }).Should(Succeed())
		Expect(svc.Spec.Type).To(Equal(corev1.ServiceTypeClusterIP))
		Expect(svc.Spec.Ports).To(HaveLen(1))
		Expect(svc.Spec.Ports[0].Port).To(Equal(int32(443)))
		Expect(svc.Spec.Selector).To(Equal(dep.Spec.Selector.MatchLabels))

		sa := &corev1.ServiceAccount{}
		Eventually(func() error { return k8sClient.Get(ctx, key, sa) }).Should(Succeed())
		pdb := &policyv1.PodDisruptionBudget{}
		Eventually(func() error { return k8sClient.Get(ctx, key, pdb) }).Should(Succeed())
		Expect(pdb.Spec.MaxUnavailable.IntValue()).To(Equal(1))
		np := &networkingv1.NetworkPolicy{}
		Eventually(func() error { return k8sClient.Get(ctx, key, np) }).Should(Succeed())
		Expect(np.Spec.PolicyTypes).To(ConsistOf(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress))
		Expect(np.Spec.Ingress[0].Ports[0].Port.IntValue()).To(Equal(gateway.HTTPSPort))

		By("owning every child as controller, so deleting the FocalPoint garbage-collects them")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
		for _, child := range []client.Object{dep, cm, svc, sa, pdb, np} {
			ref := metav1.GetControllerOf(child)
			Expect(ref).NotTo(BeNil(), "%T has no controller reference", child)
			Expect(ref.UID).To(Equal(fp.UID))
			Expect(ref.Kind).To(Equal("FocalPoint"))
			Expect(*ref.BlockOwnerDeletion).To(BeTrue())
		}

		By("reporting status: coverage complete, gateway not yet available")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			g.Expect(fp.Status.ObservedGeneration).To(Equal(fp.Generation))
			g.Expect(fp.Status.Coverage).NotTo(BeNil())
			g.Expect(fp.Status.Coverage.HoursPerWeek).To(Equal("168"))
			g.Expect(fp.Status.Endpoint).To(Equal(fmt.Sprintf("https://ke-poc-gateway.%s.svc:443", fp.Namespace)))
			g.Expect(condition(fp, "CoverageComplete").Status).To(Equal(metav1.ConditionTrue))
			g.Expect(condition(fp, "Available").Status).To(Equal(metav1.ConditionFalse))
			g.Expect(condition(fp, "Ready").Status).To(Equal(metav1.ConditionFalse))
			for _, c := range fp.Status.Conditions {
				g.Expect(c.ObservedGeneration).To(Equal(fp.Generation))
			}
		}).Should(Succeed())

		By("recording a Created event per child")
		Eventually(func(g Gomega) {
			g.Expect(eventReasons(ctx, g, fp)).To(ContainElements(
				ContainSubstring("Created: created Deployment ke-poc-gateway"),
				ContainSubstring("Created: created Service ke-poc-gateway"),
			))
		}).Should(Succeed())
	})

	It("follows the Deployment's availability in Available and Ready", func() {
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		markDeploymentAvailable(ctx, gatewayKey(fp), 2)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			g.Expect(condition(fp, "Available").Status).To(Equal(metav1.ConditionTrue))
			g.Expect(condition(fp, "Available").Reason).To(Equal("DeploymentAvailable"))
			g.Expect(condition(fp, "Ready").Status).To(Equal(metav1.ConditionTrue))
			g.Expect(fp.Status.GatewayReplicas).To(Equal("2/2"))
		}).Should(Succeed())

		markDeploymentAvailable(ctx, gatewayKey(fp), 0)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			g.Expect(condition(fp, "Available").Status).To(Equal(metav1.ConditionFalse))
			g.Expect(condition(fp, "Ready").Status).To(Equal(metav1.ConditionFalse))
			g.Expect(condition(fp, "Ready").Message).To(ContainSubstring("Available is False"))
		}).Should(Succeed())
	})

	It("reports roster gaps in CoverageComplete and status.coverage", func() {
		fp.Spec.Roster.Shifts = []cybercoopv1alpha1.Shift{
			{Days: []cybercoopv1alpha1.Weekday{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}, Start: "09:00", End: "17:00", OnCall: "Office"},
		}
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			g.Expect(fp.Status.Coverage).NotTo(BeNil())
			g.Expect(fp.Status.Coverage.HoursPerWeek).To(Equal("40"))
			g.Expect(fp.Status.Coverage.WeekStart).To(Equal("2026-11-16T00:00:00+03:00"))
			g.Expect(fp.Status.Coverage.Gaps).To(HaveLen(6))
			g.Expect(fp.Status.Coverage.Gaps[0]).To(Equal(cybercoopv1alpha1.CoverageGap{
				Start: "2026-11-16T00:00:00+03:00", End: "2026-11-16T09:00:00+03:00", Minutes: 540}))
			cov := condition(fp, "CoverageComplete")
			g.Expect(cov.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(cov.Reason).To(Equal("CoverageGaps"))
			g.Expect(cov.Message).To(ContainSubstring("40 of 168 hours covered"))
		}).Should(Succeed())

		By("closing the gaps when the roster is fixed")
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp); err != nil {
				return err
			}
			fp.Spec.Roster.Shifts = newFocalPoint(fp.Namespace).Spec.Roster.Shifts
			return k8sClient.Update(ctx, fp)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			g.Expect(condition(fp, "CoverageComplete").Status).To(Equal(metav1.ConditionTrue))
			g.Expect(fp.Status.Coverage.Gaps).To(BeEmpty())
		}).Should(Succeed())
	})

	It("reports a time zone missing from the database instead of guessing", func() {
		fp.Spec.Roster.TimeZone = "Mars/Olympus_Mons"
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			cov := condition(fp, "CoverageComplete")
			g.Expect(cov).NotTo(BeNil())
			g.Expect(cov.Reason).To(Equal("InvalidTimeZone"))
			g.Expect(cov.Message).To(ContainSubstring(`spec.roster.timeZone: "Mars/Olympus_Mons"`))
		}).Should(Succeed())
	})

	It("repairs drift: edited, deleted and injected changes are undone", func() {
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		key := gatewayKey(fp)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			g.Expect(fp.Status.ObservedGeneration).To(Equal(fp.Generation))
		}).Should(Succeed())

		By("scaling the Deployment down and swapping its image")
		Eventually(func() error {
			dep := &appsv1.Deployment{}
			if err := k8sClient.Get(ctx, key, dep); err != nil {
				return err
			}
			dep.Spec.Replicas = ptrTo(int32(0))
			dep.Spec.Template.Spec.Containers[0].Image = "attacker.example/backdoor:latest"
			dep.Spec.Template.Spec.Containers[0].SecurityContext.Privileged = ptrTo(true)
			dep.Spec.Template.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptrTo(true)
			return k8sClient.Update(ctx, dep)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			dep := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key, dep)).To(Succeed())
			g.Expect(*dep.Spec.Replicas).To(Equal(int32(2)))
			g.Expect(dep.Spec.Template.Spec.Containers[0].Image).To(Equal(testGatewayImage))
			g.Expect(*dep.Spec.Template.Spec.Containers[0].SecurityContext.Privileged).To(BeFalse())
		}).Should(Succeed())

		By("injecting a second container")
		Eventually(func() error {
			dep := &appsv1.Deployment{}
			if err := k8sClient.Get(ctx, key, dep); err != nil {
				return err
			}
			dep.Spec.Template.Spec.Containers = append(dep.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar", Image: "busybox"})
			return k8sClient.Update(ctx, dep)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			dep := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key, dep)).To(Succeed())
			g.Expect(dep.Spec.Template.Spec.Containers).To(HaveLen(1))
		}).Should(Succeed())

		By("editing the gateway's configuration")
		Eventually(func() error {
			cm := &corev1.ConfigMap{}
			if err := k8sClient.Get(ctx, key, cm); err != nil {
				return err
			}
			cm.Data["config.json"] = `{"country":"ZZ"}`
			return k8sClient.Update(ctx, cm)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			cm := &corev1.ConfigMap{}
			g.Expect(k8sClient.Get(ctx, key, cm)).To(Succeed())
			g.Expect(cm.Data["config.json"]).To(ContainSubstring(`"country": "KE"`))
		}).Should(Succeed())

		By("deleting the Service, the NetworkPolicy and the PodDisruptionBudget")
		for _, obj := range []client.Object{
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}},
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}},
			&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}},
		} {
			old := obj.DeepCopyObject().(client.Object)
			Expect(k8sClient.Get(ctx, key, old)).To(Succeed())
			Expect(k8sClient.Delete(ctx, obj)).To(Succeed())
			Eventually(func(g Gomega) {
				fresh := obj.DeepCopyObject().(client.Object)
				g.Expect(k8sClient.Get(ctx, key, fresh)).To(Succeed())
				g.Expect(fresh.GetUID()).NotTo(Equal(old.GetUID()), "%T was not recreated", obj)
			}).Should(Succeed())
		}

		By("opening the NetworkPolicy to every port")
		Eventually(func() error {
			np := &networkingv1.NetworkPolicy{}
			if err := k8sClient.Get(ctx, key, np); err != nil {
				return err
			}
			np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{}}
			return k8sClient.Update(ctx, np)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			np := &networkingv1.NetworkPolicy{}
			g.Expect(k8sClient.Get(ctx, key, np)).To(Succeed())
			g.Expect(np.Spec.Ingress[0].Ports).To(HaveLen(1))
		}).Should(Succeed())

		By("recording the repairs as Warning events")
		Eventually(func(g Gomega) {
			g.Expect(eventReasons(ctx, g, fp)).To(ContainElements(
				ContainSubstring("DriftRepaired: Deployment ke-poc-gateway"),
				ContainSubstring("DriftRepaired: ConfigMap ke-poc-gateway"),
				ContainSubstring("Created: created Service ke-poc-gateway"),
			))
		}).Should(Succeed())
	})

	It("follows spec changes: replicas, service type, image, and removes the budget below two replicas", func() {
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		key := gatewayKey(fp)
		Eventually(func() error { return k8sClient.Get(ctx, key, &policyv1.PodDisruptionBudget{}) }).Should(Succeed())
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp); err != nil {
				return err
			}
			fp.Spec.Gateway.Replicas = ptrTo(int32(1))
			fp.Spec.Gateway.ServiceType = cybercoopv1alpha1.GatewayServiceNodePort
			fp.Spec.Gateway.Image = "registry.test/gateway:v2"
			return k8sClient.Update(ctx, fp)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			dep := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key, dep)).To(Succeed())
			g.Expect(*dep.Spec.Replicas).To(Equal(int32(1)))
			g.Expect(dep.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.test/gateway:v2"))
			svc := &corev1.Service{}
			g.Expect(k8sClient.Get(ctx, key, svc)).To(Succeed())
			g.Expect(svc.Spec.Type).To(Equal(corev1.ServiceTypeNodePort))
			g.Expect(svc.Spec.Ports[0].NodePort).NotTo(BeZero())
			err := k8sClient.Get(ctx, key, &policyv1.PodDisruptionBudget{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "PodDisruptionBudget still exists: %v", err)
		}).Should(Succeed())

		By("rolling the pods when the gateway's configuration changes")
		dep := &appsv1.Deployment{}
		Expect(k8sClient.Get(ctx, key, dep)).To(Succeed())
		oldHash := dep.Spec.Template.Annotations[ConfigHashAnnotation]
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp); err != nil {
				return err
			}
			fp.Spec.Languages = append(fp.Spec.Languages, "fr")
			return k8sClient.Update(ctx, fp)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, dep)).To(Succeed())
			g.Expect(dep.Spec.Template.Annotations[ConfigHashAnnotation]).NotTo(Equal(oldHash))
		}).Should(Succeed())
	})

	It("refuses to take over a same-named object another controller owns", func() {
		key := gatewayKey(fp)
		foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other-owner", Namespace: key.Namespace}}
		Expect(k8sClient.Create(ctx, other)).To(Succeed())
		foreign.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: other.Name, UID: other.UID, Controller: ptrTo(true)}}
		Expect(k8sClient.Update(ctx, foreign)).To(Succeed())

		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			ready := condition(fp, "Ready")
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal("ProvisioningFailed"))
			g.Expect(ready.Message).To(ContainSubstring("is controlled by ConfigMap other-owner"))
		}).Should(Succeed())
		Expect(k8sClient.Get(ctx, key, foreign)).To(Succeed())
		Expect(foreign.Data).To(BeEmpty(), "the foreign ConfigMap was overwritten")
	})

	It("makes zero writes when reconciling an unchanged FocalPoint", func() {
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		markDeploymentAvailable(ctx, gatewayKey(fp), 2)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(fp), fp)).To(Succeed())
			g.Expect(condition(fp, "Ready").Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())

		key := gatewayKey(fp)
		stored := map[string]client.Object{
			"FocalPoint":                   &cybercoopv1alpha1.FocalPoint{ObjectMeta: metav1.ObjectMeta{Name: fp.Name, Namespace: fp.Namespace}},
			"Deployment":                   &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}},
			"ConfigMap":                    &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}},
			"Service":                      &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}},
			"ServiceAccount":               &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}},
			"PodDisruptionBudget":          &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}},
			"NetworkPolicy":                &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}},
			"Secret (CA)":                  &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: CASecretName(fp), Namespace: fp.Namespace}},
			"Secret (trust bundle)":        &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: TrustBundleSecretName(fp), Namespace: fp.Namespace}},
			"Secret (serving certificate)": &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: GatewayTLSSecretName(fp), Namespace: fp.Namespace}},
		}
		req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(fp)}
		envtestutil.ExpectZeroWrites(ctx, envtestutil.SteadyState{
			Reconcile: func(ctx context.Context, c client.Client) (ctrl.Result, error) {
				direct := *fpReconciler
				direct.Client = c
				return direct.Reconcile(ctx, req)
			},
			Base:    writes.Client,
			Wrap:    func(c client.Client) client.Client { return manageropts.ReconcilerClient(c, apiReader) },
			Direct:  k8sClient,
			Objects: stored,
			// The only requeue is the start of next week in Nairobi, when coverage is recomputed.
			Result: func(res ctrl.Result) { Expect(res.RequeueAfter).To(Equal(testNextWeek.Sub(testNow))) },
		})
	})
})
