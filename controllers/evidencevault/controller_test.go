package evidencevault

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
	"github.com/cybercoop/cybercoop-operator/test/fixtures"
)

// stack is a FocalPoint and an EvidenceVault that serves it, in a namespace of their own.
func stack(ctx context.Context, mutate func(*cybercoopv1alpha1.EvidenceVault)) (*cybercoopv1alpha1.FocalPoint, *cybercoopv1alpha1.EvidenceVault) {
	ns, err := fixtures.Namespace(ctx, k8sClient, "ev-")
	Expect(err).NotTo(HaveOccurred())
	fp := fixtures.Kenya(ns)
	Expect(k8sClient.Create(ctx, fp)).To(Succeed())
	ev := &cybercoopv1alpha1.EvidenceVault{
		ObjectMeta: metav1.ObjectMeta{Name: "ke-evidence", Namespace: ns},
		Spec: cybercoopv1alpha1.EvidenceVaultSpec{
			FocalPointRef: cybercoopv1alpha1.FocalPointReference{Name: fp.Name},
			Storage:       &cybercoopv1alpha1.VaultStorage{Size: resource.MustParse("20Gi")},
		},
	}
	if mutate != nil {
		mutate(ev)
	}
	Expect(k8sClient.Create(ctx, ev)).To(Succeed())
	return fp, ev
}

func key(ev *cybercoopv1alpha1.EvidenceVault, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ev.Namespace, Name: name}
}

func get(ctx context.Context, g Gomega, ev *cybercoopv1alpha1.EvidenceVault) *cybercoopv1alpha1.EvidenceVault {
	out := &cybercoopv1alpha1.EvidenceVault{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ev), out)).To(Succeed())
	return out
}

func condition(ev *cybercoopv1alpha1.EvidenceVault, t string) metav1.Condition {
	if c := meta.FindStatusCondition(ev.Status.Conditions, t); c != nil {
		return *c
	}
	return metav1.Condition{}
}

func secret(ctx context.Context, g Gomega, ev *cybercoopv1alpha1.EvidenceVault, name string) *corev1.Secret {
	s := &corev1.Secret{}
	g.Expect(k8sClient.Get(ctx, key(ev, name), s)).To(Succeed())
	return s
}

// poke changes an annotation, which makes the controller reconcile at once.
// The controller writes the object too (its finalizer, annotations): a
// conflict is read again and retried, as any client of the API does.
func poke(ctx context.Context, ev *cybercoopv1alpha1.EvidenceVault) {
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live := &cybercoopv1alpha1.EvidenceVault{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(ev), live); err != nil {
			return err
		}
		if live.Annotations == nil {
			live.Annotations = map[string]string{}
		}
		live.Annotations["test.cybercoop.io/poke"] = strconv.FormatInt(time.Now().UnixNano(), 10)
		return k8sClient.Update(ctx, live)
	})).To(Succeed())
}

var _ = Describe("EvidenceVault", func() {
	ctx := context.Background()

	It("provisions the vault as a consumer of its FocalPoint's CA, with its keys and certificates", func() {
		fp, ev := stack(ctx, func(ev *cybercoopv1alpha1.EvidenceVault) {
			ev.Spec.Retention = &cybercoopv1alpha1.RetentionSpec{MinimumDays: 120}
			ev.Spec.HashAlgorithm = cybercoopv1alpha1.HashSHA512
		})
		ref := focalpoint.CARef(fp)

		By("issuing the serving and the operator's client certificate from the FocalPoint's CA")
		Eventually(func(g Gomega) {
			for _, name := range []string{ServingSecretName(ev), OperatorClientSecretName(ev)} {
				s := secret(ctx, g, ev, name)
				g.Expect(s.Labels).To(HaveKeyWithValue(certs.IssuerLabel, ref.SecretName))
				g.Expect(s.OwnerReferences).To(ContainElement(HaveField("Kind", "EvidenceVault")))
			}
			client := secret(ctx, g, ev, OperatorClientSecretName(ev))
			leaf, err := pki.ParseLeafSecret(client.Data)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(leaf.Certificate.URIs).To(HaveLen(1))
			g.Expect(leaf.Certificate.URIs[0].String()).To(Equal(OperatorIdentity(ev.Namespace)))
			g.Expect(leaf.Certificate.ExtKeyUsage).To(ConsistOf(x509.ExtKeyUsageClientAuth))
		}).Should(Succeed())

		By("making the keyring and the checkpoint key")
		Eventually(func(g Gomega) {
			kr := secret(ctx, g, ev, KeyringSecretName(ev))
			g.Expect(kr.Data).To(HaveLen(1))
			g.Expect(kr.Data["1"]).To(HaveLen(vault.KeySize))
			g.Expect(kr.Annotations).To(HaveKeyWithValue(KeyringVersionsAnnotation, "1"))
			ck := secret(ctx, g, ev, CheckpointKeySecretName(ev))
			g.Expect(ck.Data[signingFile]).NotTo(BeEmpty())
		}).Should(Succeed())

		By("running the vault in a StatefulSet that trusts the CA and serves its leaf")
		sts := &appsv1.StatefulSet{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ev, vaultName(ev)), sts)).To(Succeed())
			g.Expect(sts.Labels).To(HaveKeyWithValue(ca.TrustsCALabel, ref.SecretName))
			g.Expect(sts.Annotations).To(HaveKeyWithValue(ca.ServesCertificateAnnotation, ServingSecretName(ev)))
			bundle := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ev.Namespace, Name: ref.BundleSecretName}, bundle)).To(Succeed())
			g.Expect(sts.Spec.Template.Annotations).To(HaveKeyWithValue(ca.TrustBundleHashAnnotation, ca.BundleHash(bundle.Data[pki.CACertKey])))
		}).Should(Succeed())
		Expect(*sts.Spec.Replicas).To(Equal(int32(1)))
		Expect(sts.Spec.ServiceName).To(Equal(HeadlessServiceName(ev)))
		Expect(sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted).To(Equal(appsv1.RetainPersistentVolumeClaimRetentionPolicyType))
		Expect(sts.Spec.VolumeClaimTemplates).To(HaveLen(1))
		Expect(sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String()).To(Equal("20Gi"))
		c := sts.Spec.Template.Spec.Containers[0]
		Expect(c.Args).To(ContainElements("vault", "--hash=sha512", "--min-retention=2880h",
			"--verifier="+OperatorIdentity(ev.Namespace), "--lister="+OperatorIdentity(ev.Namespace)))
		Expect(*c.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
		Expect(*c.SecurityContext.AllowPrivilegeEscalation).To(BeFalse())
		Expect(c.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
		Expect(*sts.Spec.Template.Spec.SecurityContext.RunAsNonRoot).To(BeTrue())
		var mounted []string
		for _, v := range sts.Spec.Template.Spec.Volumes {
			if v.Secret != nil {
				mounted = append(mounted, v.Secret.SecretName)
			}
		}
		Expect(mounted).To(ConsistOf(ServingSecretName(ev), ref.BundleSecretName, KeyringSecretName(ev), CheckpointKeySecretName(ev)))

		By("exposing the API only to its gateway and the operator")
		np := &networkingv1.NetworkPolicy{}
		Expect(k8sClient.Get(ctx, key(ev, vaultName(ev)), np)).To(Succeed())
		Expect(np.Spec.Ingress[0].From).To(HaveLen(2))
		Expect(np.Spec.Ingress[0].From[0].PodSelector.MatchLabels).To(HaveKeyWithValue("app.kubernetes.io/instance", fp.Name))
		headless := &corev1.Service{}
		Expect(k8sClient.Get(ctx, key(ev, HeadlessServiceName(ev)), headless)).To(Succeed())
		Expect(headless.Spec.ClusterIP).To(Equal(corev1.ClusterIPNone))
		Expect(k8sClient.Get(ctx, key(ev, vaultName(ev)), &corev1.Service{})).To(Succeed())
		Expect(k8sClient.Get(ctx, key(ev, vaultName(ev)), &policyv1.PodDisruptionBudget{})).To(Succeed())

		By("reporting honestly what it cannot know: no vault pod answers here")
		Eventually(func(g Gomega) {
			got := get(ctx, g, ev)
			g.Expect(got.Finalizers).To(ContainElement(Finalizer))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionCertificateReady).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionKeysReady).Status).To(Equal(metav1.ConditionTrue))
			integrity := condition(got, cybercoopv1alpha1.ConditionIntegrityVerified)
			g.Expect(integrity.Status).To(Equal(metav1.ConditionUnknown))
			g.Expect(integrity.Reason).To(Equal(cybercoopv1alpha1.ReasonVaultUnreachable))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionStorageBound).Status).To(Equal(metav1.ConditionUnknown))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionUnknown))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionReady).ObservedGeneration).To(Equal(got.Generation))
			g.Expect(got.Status.CheckpointVerifierKey).To(HavePrefix("cybercoop.io/" + ev.Namespace + "/" + ev.Name + "+"))
			g.Expect(got.Status.Keys.ActiveVersion).To(Equal(int32(1)))
			g.Expect(got.Status.Certificates.Serving.SecretName).To(Equal(ServingSecretName(ev)))
			g.Expect(got.Status.Objects).To(BeNil(), "no count is made up while the vault cannot be asked")
		}).Should(Succeed())
	})

	It("makes zero writes when reconciling an unchanged EvidenceVault", func() {
		_, ev := stack(ctx, nil)
		Eventually(func(g Gomega) {
			got := get(ctx, g, ev)
			g.Expect(condition(got, cybercoopv1alpha1.ConditionKeysReady).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionCertificateReady).Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())
		meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: ev.Namespace} }
		req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(ev)}
		envtestutil.ExpectZeroWrites(ctx, envtestutil.SteadyState{
			Reconcile: func(ctx context.Context, c client.Client) (ctrl.Result, error) {
				direct := &Reconciler{Client: c, Scheme: vaults.Scheme, Recorder: vaults.Recorder, Clock: vaults.Clock,
					VaultImage: vaults.VaultImage, VaultEndpoint: vaults.VaultEndpoint, PollInterval: vaults.PollInterval}
				return direct.Reconcile(ctx, req)
			},
			Base:   k8sClient,
			Direct: k8sClient,
			Objects: map[string]client.Object{
				"EvidenceVault":                &cybercoopv1alpha1.EvidenceVault{ObjectMeta: meta(ev.Name)},
				"StatefulSet":                  &appsv1.StatefulSet{ObjectMeta: meta(vaultName(ev))},
				"Service":                      &corev1.Service{ObjectMeta: meta(vaultName(ev))},
				"Service (headless)":           &corev1.Service{ObjectMeta: meta(HeadlessServiceName(ev))},
				"NetworkPolicy":                &networkingv1.NetworkPolicy{ObjectMeta: meta(vaultName(ev))},
				"PodDisruptionBudget":          &policyv1.PodDisruptionBudget{ObjectMeta: meta(vaultName(ev))},
				"Secret (keyring)":             &corev1.Secret{ObjectMeta: meta(KeyringSecretName(ev))},
				"Secret (checkpoint key)":      &corev1.Secret{ObjectMeta: meta(CheckpointKeySecretName(ev))},
				"Secret (serving certificate)": &corev1.Secret{ObjectMeta: meta(ServingSecretName(ev))},
				"Secret (operator client)":     &corev1.Secret{ObjectMeta: meta(OperatorClientSecretName(ev))},
			},
			// The vault is polled, since it tells the operator nothing by itself.
			Result: func(res ctrl.Result) { Expect(res.RequeueAfter).To(Equal(vaults.PollInterval)) },
		})
	})

	It("reports a missing FocalPoint by name and provisions nothing that needs its CA", func() {
		ns, err := fixtures.Namespace(ctx, k8sClient, "ev-")
		Expect(err).NotTo(HaveOccurred())
		ev := &cybercoopv1alpha1.EvidenceVault{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: ns},
			Spec: cybercoopv1alpha1.EvidenceVaultSpec{FocalPointRef: cybercoopv1alpha1.FocalPointReference{Name: "nobody"},
				Storage: &cybercoopv1alpha1.VaultStorage{Size: resource.MustParse("1Gi")}}}
		Expect(k8sClient.Create(ctx, ev)).To(Succeed())
		Eventually(func(g Gomega) {
			ready := condition(get(ctx, g, ev), cybercoopv1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal(cybercoopv1alpha1.ReasonFocalPointNotFound))
			g.Expect(ready.Message).To(ContainSubstring(`FocalPoint "nobody" does not exist`))
		}).Should(Succeed())
		Expect(k8sClient.Get(ctx, key(ev, vaultName(ev)), &appsv1.StatefulSet{})).NotTo(Succeed())
	})

	It("adds a key version every rotation interval and refuses to replace a version someone deleted", func() {
		_, ev := stack(ctx, func(ev *cybercoopv1alpha1.EvidenceVault) {
			ev.Spec.KeyRotation = &cybercoopv1alpha1.KeyRotationSpec{Interval: &metav1.Duration{Duration: 30 * 24 * time.Hour}}
		})
		Eventually(func(g Gomega) {
			g.Expect(condition(get(ctx, g, ev), cybercoopv1alpha1.ConditionKeysReady).Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())
		first := secret(ctx, Default, ev, KeyringSecretName(ev)).Data["1"]

		By("stepping the clock past the interval")
		evClock.Step(31 * 24 * time.Hour)
		DeferCleanup(func() { evClock.Step(-31 * 24 * time.Hour) })
		poke(ctx, ev)
		Eventually(func(g Gomega) {
			kr := secret(ctx, g, ev, KeyringSecretName(ev))
			g.Expect(kr.Data).To(HaveLen(2))
			g.Expect(kr.Data["1"]).To(Equal(first), "the old key is kept while the vault cannot say nothing uses it")
			g.Expect(kr.Data["2"]).To(HaveLen(vault.KeySize))
			got := get(ctx, g, ev)
			g.Expect(got.Status.Keys.ActiveVersion).To(Equal(int32(2)))
			g.Expect(got.Status.Keys.Versions).To(Equal([]int32{1, 2}))
		}).Should(Succeed())

		By("deleting version 1 behind the operator's back")
		kr := &corev1.Secret{}
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			kr = secret(ctx, Default, ev, KeyringSecretName(ev))
			delete(kr.Data, "1")
			return k8sClient.Update(ctx, kr)
		})).To(Succeed())
		edited := kr.ResourceVersion
		Eventually(func(g Gomega) {
			keys := condition(get(ctx, g, ev), cybercoopv1alpha1.ConditionKeysReady)
			g.Expect(keys.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(keys.Reason).To(Equal(cybercoopv1alpha1.ReasonKeyVersionMissing))
			g.Expect(keys.Message).To(ContainSubstring("key version(s) 1 are missing"))
		}).Should(Succeed())
		poke(ctx, ev)
		Consistently(func(g Gomega) {
			g.Expect(secret(ctx, g, ev, KeyringSecretName(ev)).ResourceVersion).To(Equal(edited), "the keyring was rewritten")
		}, 2*time.Second).Should(Succeed())
		events := &corev1.EventList{}
		Expect(k8sClient.List(ctx, events, client.InNamespace(ev.Namespace))).To(Succeed())
		var reasons []string
		for _, e := range events.Items {
			reasons = append(reasons, e.Reason)
			Expect(e.Message).NotTo(ContainSubstring(string(first)))
		}
		Expect(reasons).To(ContainElement(cybercoopv1alpha1.EventKeyVersionMissing))
	})

	It("grows the volume claim when spec.storage.size grows", func() {
		class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{GenerateName: "expandable-"}, Provisioner: "example.com/test",
			AllowVolumeExpansion: ptr.To(true)}
		Expect(k8sClient.Create(ctx, class)).To(Succeed())
		_, ev := stack(ctx, func(ev *cybercoopv1alpha1.EvidenceVault) { ev.Spec.Storage.StorageClassName = class.Name })
		// The StatefulSet controller would make the claim, and a provisioner bind it; envtest runs neither.
		claim := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: ClaimName(ev), Namespace: ev.Namespace, Labels: selectorLabels(ev)},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: ptr.To(class.Name), VolumeName: "pv-" + ev.Namespace,
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")}}},
		}
		Expect(k8sClient.Create(ctx, claim)).To(Succeed())
		claim.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")}}
		Expect(k8sClient.Status().Update(ctx, claim)).To(Succeed())
		Eventually(func(g Gomega) {
			storage := condition(get(ctx, g, ev), cybercoopv1alpha1.ConditionStorageBound)
			g.Expect(storage.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(storage.Message).To(ContainSubstring("(20Gi)"))
		}).Should(Succeed())
		// Every phase runs in each reconcile, so the claim can be reported bound while
		// the StatefulSet still waits for the FocalPoint's CA; it must exist before the
		// size grows, or it is made with the grown size (as it failed once in CI).
		sts := &appsv1.StatefulSet{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ev, vaultName(ev)), sts)).To(Succeed())
			g.Expect(sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String()).To(Equal("20Gi"))
		}).Should(Succeed())

		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			live := get(ctx, Default, ev)
			live.Spec.Storage.Size = resource.MustParse("30Gi")
			return k8sClient.Update(ctx, live)
		})).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(claim), claim)).To(Succeed())
			g.Expect(claim.Spec.Resources.Requests.Storage().String()).To(Equal("30Gi"))
		}).Should(Succeed())
		Expect(k8sClient.Get(ctx, key(ev, vaultName(ev)), sts)).To(Succeed())
		Expect(sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String()).To(Equal("20Gi"),
			"a StatefulSet's claim template cannot change; the claim itself grows")
	})

	It("keeps the evidence when deleted with Retain, and adopts it when created again", func() {
		_, ev := stack(ctx, nil)
		Eventually(func(g Gomega) {
			g.Expect(condition(get(ctx, g, ev), cybercoopv1alpha1.ConditionKeysReady).Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())
		// The StatefulSet controller would make the claim; envtest runs none.
		claim := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: ClaimName(ev), Namespace: ev.Namespace, Labels: selectorLabels(ev)},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")}}},
		}
		Expect(k8sClient.Create(ctx, claim)).To(Succeed())
		Eventually(func(g Gomega) {
			storage := condition(get(ctx, g, ev), cybercoopv1alpha1.ConditionStorageBound)
			g.Expect(storage.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(storage.Reason).To(Equal(cybercoopv1alpha1.ReasonVolumePending))
		}).Should(Succeed())
		keyring := secret(ctx, Default, ev, KeyringSecretName(ev))
		signing := secret(ctx, Default, ev, CheckpointKeySecretName(ev))

		By("deleting the EvidenceVault")
		Expect(k8sClient.Delete(ctx, ev)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ev), &cybercoopv1alpha1.EvidenceVault{})).NotTo(Succeed())
		}).Should(Succeed())
		for _, name := range []string{KeyringSecretName(ev), CheckpointKeySecretName(ev)} {
			kept := secret(ctx, Default, ev, name)
			Expect(kept.OwnerReferences).To(BeEmpty(), "Secret %s is still owned and would be garbage-collected", name)
		}
		collectGarbage(ctx, ev)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(claim), &corev1.PersistentVolumeClaim{})).To(Succeed())

		By("creating it again under the same name")
		again := &cybercoopv1alpha1.EvidenceVault{ObjectMeta: metav1.ObjectMeta{Name: ev.Name, Namespace: ev.Namespace}, Spec: ev.Spec}
		Expect(k8sClient.Create(ctx, again)).To(Succeed())
		Eventually(func(g Gomega) {
			kr := secret(ctx, g, again, KeyringSecretName(again))
			g.Expect(kr.Data).To(Equal(keyring.Data), "the keyring was replaced instead of adopted")
			g.Expect(metav1.IsControlledBy(kr, get(ctx, g, again))).To(BeTrue())
			g.Expect(secret(ctx, g, again, CheckpointKeySecretName(again)).Data).To(Equal(signing.Data))
			pvc := &corev1.PersistentVolumeClaim{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(claim), pvc)).To(Succeed())
			g.Expect(pvc.UID).To(Equal(claim.UID))
		}).Should(Succeed())
	})

	It("anchors the custody log of a running vault, and catches one rolled back while it was stopped", func() {
		ev, dir, run := stackWithVault(ctx)

		By("recording the first checkpoint and the first full verification")
		var first *cybercoopv1alpha1.CheckpointStatus
		Eventually(func(g Gomega) {
			got := get(ctx, g, ev)
			integrity := condition(got, cybercoopv1alpha1.ConditionIntegrityVerified)
			g.Expect(integrity.Status).To(Equal(metav1.ConditionTrue), integrity.Message)
			g.Expect(got.Status.Checkpoint).NotTo(BeNil())
			g.Expect(*got.Status.Objects).To(BeZero())
			first = got.Status.Checkpoint
		}).Should(Succeed())
		snapshot := GinkgoT().TempDir()
		run.stop()
		Expect(os.CopyFS(snapshot, os.DirFS(dir))).To(Succeed())
		run = startVault(ctx, ev, dir)

		By("following the log as evidence arrives")
		run.ingest(ctx, "case-1", true)
		poke(ctx, ev)
		Eventually(func(g Gomega) {
			got := get(ctx, g, ev)
			g.Expect(got.Status.Objects).NotTo(BeNil())
			g.Expect(*got.Status.Objects).To(Equal(int64(1)))
			g.Expect(*got.Status.Held).To(Equal(int64(1)))
			g.Expect(*got.Status.PastRetention).To(BeZero())
			g.Expect(got.Status.Checkpoint.Size).To(BeNumerically(">", first.Size))
			g.Expect(condition(got, cybercoopv1alpha1.ConditionIntegrityVerified).Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())
		recorded := get(ctx, Default, ev).Status.Checkpoint
		run.stop()
		held := GinkgoT().TempDir()
		Expect(os.CopyFS(held, os.DirFS(dir))).To(Succeed())
		restore := func(from string) {
			run.stop()
			Expect(os.RemoveAll(dir)).To(Succeed())
			Expect(os.CopyFS(dir, os.DirFS(from))).To(Succeed())
			run = startVault(ctx, ev, dir)
			poke(ctx, ev)
		}
		run = startVault(ctx, ev, dir)
		DeferCleanup(func() { run.stop() })

		By("rolling the data directory back to before the ingest while the vault is stopped")
		restore(snapshot)
		Eventually(func(g Gomega) {
			got := get(ctx, g, ev)
			integrity := condition(got, cybercoopv1alpha1.ConditionIntegrityVerified)
			g.Expect(integrity.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(integrity.Reason).To(Equal(cybercoopv1alpha1.ReasonLogInconsistent))
			g.Expect(integrity.Message).To(ContainSubstring("entries were removed"))
			g.Expect(got.Status.Checkpoint).To(Equal(recorded), "the inconsistent checkpoint was recorded over the old one")
		}).Should(Succeed())
		events := &corev1.EventList{}
		Expect(k8sClient.List(ctx, events, client.InNamespace(ev.Namespace))).To(Succeed())
		Expect(events.Items).To(ContainElement(HaveField("Reason", cybercoopv1alpha1.EventLogInconsistent)))

		By("putting the whole log back: consistent again")
		restore(held)
		Eventually(func(g Gomega) {
			g.Expect(condition(get(ctx, g, ev), cybercoopv1alpha1.ConditionIntegrityVerified).Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())

		By("refusing to delete the evidence while it is held (deletionPolicy Delete)")
		live := get(ctx, Default, ev)
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			live = get(ctx, Default, ev)
			live.Spec.DeletionPolicy = cybercoopv1alpha1.DeletionDelete
			return k8sClient.Update(ctx, live)
		})).To(Succeed())
		Expect(k8sClient.Delete(ctx, live)).To(Succeed())
		Eventually(func(g Gomega) {
			ready := condition(get(ctx, g, ev), cybercoopv1alpha1.ConditionReady)
			g.Expect(ready.Reason).To(Equal(cybercoopv1alpha1.ReasonDeletionBlocked))
			g.Expect(ready.Message).To(ContainSubstring("1 object(s) under legal hold"))
		}).Should(Succeed())

		By("and refusing it on the word of a vault whose log was rolled back, which has lost the hold")
		restore(snapshot)
		Eventually(func(g Gomega) {
			ready := condition(get(ctx, g, ev), cybercoopv1alpha1.ConditionReady)
			g.Expect(ready.Reason).To(Equal(cybercoopv1alpha1.ReasonDeletionBlocked))
			g.Expect(ready.Message).To(ContainSubstring("not consistent with the recorded checkpoint"))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(get(ctx, g, ev).DeletionTimestamp).NotTo(BeNil())
			g.Expect(secret(ctx, g, ev, KeyringSecretName(ev)).DeletionTimestamp).To(BeNil())
		}, 3*time.Second).Should(Succeed())
	})
})

var _ = Describe("an EvidenceVault created again after a Retain deletion", func() {
	ctx := context.Background()

	It("adopts the custody log only if it still extends the last checkpoint recorded before the deletion", func() {
		ev, dir, run := stackWithVault(ctx)
		DeferCleanup(func() { run.stop() })
		Eventually(func(g Gomega) {
			g.Expect(condition(get(ctx, g, ev), cybercoopv1alpha1.ConditionIntegrityVerified).Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())
		run.stop()
		before := GinkgoT().TempDir()
		Expect(os.CopyFS(before, os.DirFS(dir))).To(Succeed())
		run = startVault(ctx, ev, dir)
		run.ingest(ctx, "case-7", false)
		poke(ctx, ev)
		Eventually(func(g Gomega) {
			got := get(ctx, g, ev)
			g.Expect(got.Status.Objects).NotTo(BeNil())
			g.Expect(*got.Status.Objects).To(Equal(int64(1)))
		}).Should(Succeed())
		recorded := get(ctx, Default, ev).Status.Checkpoint

		recreate := func() *cybercoopv1alpha1.EvidenceVault {
			Expect(k8sClient.Delete(ctx, get(ctx, Default, ev))).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ev), &cybercoopv1alpha1.EvidenceVault{})).NotTo(Succeed())
			}).Should(Succeed())
			collectGarbage(ctx, ev)
			Expect(secret(ctx, Default, ev, CheckpointKeySecretName(ev)).Annotations).To(HaveKey(RetainedCheckpointAnnotation))
			ev = &cybercoopv1alpha1.EvidenceVault{ObjectMeta: metav1.ObjectMeta{Name: ev.Name, Namespace: ev.Namespace}, Spec: ev.Spec}
			Expect(k8sClient.Create(ctx, ev)).To(Succeed())
			return ev
		}

		By("deleting it with Retain and creating it again: the log continues")
		recreate()
		Eventually(func(g Gomega) {
			got := get(ctx, g, ev)
			g.Expect(condition(got, cybercoopv1alpha1.ConditionIntegrityVerified).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(got.Status.Checkpoint).NotTo(BeNil())
			g.Expect(got.Status.Checkpoint.Size).To(BeNumerically(">=", recorded.Size))
			g.Expect(*got.Status.Objects).To(Equal(int64(1)))
		}).Should(Succeed())

		By("deleting it again, rolling the log back while no resource watches it, and creating it again")
		recreate()
		run.stop()
		Expect(os.RemoveAll(dir)).To(Succeed())
		Expect(os.CopyFS(dir, os.DirFS(before))).To(Succeed())
		run = startVault(ctx, ev, dir)
		poke(ctx, ev)
		Eventually(func(g Gomega) {
			got := get(ctx, g, ev)
			integrity := condition(got, cybercoopv1alpha1.ConditionIntegrityVerified)
			g.Expect(integrity.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(integrity.Reason).To(Equal(cybercoopv1alpha1.ReasonLogInconsistent))
			g.Expect(integrity.Message).To(ContainSubstring("entries were removed"))
			g.Expect(got.Status.Checkpoint).To(BeNil(), "a checkpoint of the rolled-back log was recorded")
		}).Should(Succeed())
		Expect(secret(ctx, Default, ev, CheckpointKeySecretName(ev)).Annotations).To(HaveKey(RetainedCheckpointAnnotation),
			"the retained checkpoint is kept while the adopted log does not extend it")
	})
})

// collectGarbage deletes what ev owned, as the garbage collector would (envtest runs none).
func collectGarbage(ctx context.Context, ev *cybercoopv1alpha1.EvidenceVault) {
	lists := []client.ObjectList{&appsv1.StatefulSetList{}, &corev1.ServiceList{}, &corev1.SecretList{},
		&policyv1.PodDisruptionBudgetList{}, &networkingv1.NetworkPolicyList{}}
	for _, list := range lists {
		Expect(k8sClient.List(ctx, list, client.InNamespace(ev.Namespace))).To(Succeed())
		Expect(meta.EachListItem(list, func(o runtime.Object) error {
			obj := o.(client.Object)
			for _, ref := range obj.GetOwnerReferences() {
				if ref.UID == ev.UID {
					return client.IgnoreNotFound(k8sClient.Delete(ctx, obj))
				}
			}
			return nil
		})).To(Succeed())
	}
}

// stackWithVault is a stack whose vault runs as a process of the test's, on the
// data directory dir, once the operator has made everything it mounts.
func stackWithVault(ctx context.Context) (*cybercoopv1alpha1.EvidenceVault, string, *runningVault) {
	_, ev := stack(ctx, nil)
	Eventually(func(g Gomega) {
		g.Expect(get(ctx, g, ev).Status.CheckpointVerifierKey).NotTo(BeEmpty())
		g.Expect(k8sClient.Get(ctx, key(ev, vaultName(ev)), &appsv1.StatefulSet{})).To(Succeed())
	}).Should(Succeed())
	dir := GinkgoT().TempDir()
	return ev, dir, startVault(ctx, ev, dir)
}

// runningVault is a vault process of the test's, on the certificates, keyring and
// checkpoint key the operator made, as the StatefulSet would run it.
type runningVault struct {
	v    *vault.Vault
	stop func()
}

func startVault(ctx context.Context, ev *cybercoopv1alpha1.EvidenceVault, dataDir string) *runningVault {
	return startVaultOn(ctx, ev, dataDir, nil)
}

// startVaultOn is startVault with the objects in store (nil: the data directory).
func startVaultOn(ctx context.Context, ev *cybercoopv1alpha1.EvidenceVault, dataDir string, store vault.BlobStore) *runningVault {
	files := GinkgoT().TempDir()
	serving := secret(ctx, Default, ev, ServingSecretName(ev))
	write := func(name string, data []byte) string {
		p := filepath.Join(files, name)
		Expect(os.WriteFile(p, data, 0o600)).To(Succeed())
		return p
	}
	certFile, keyFile := write("tls.crt", serving.Data[pki.TLSCertKey]), write("tls.key", serving.Data[pki.TLSPrivateKeyKey])
	caFile := write("ca.crt", serving.Data[pki.CACertKey])
	keyringDir := filepath.Join(files, "keyring")
	Expect(os.Mkdir(keyringDir, 0o700)).To(Succeed())
	for version, k := range secret(ctx, Default, ev, KeyringSecretName(ev)).Data {
		Expect(os.WriteFile(filepath.Join(keyringDir, version), k, 0o600)).To(Succeed())
	}
	kr, err := vault.LoadKeyring(keyringDir)
	Expect(err).NotTo(HaveOccurred())
	signer, err := vault.LoadSigner(secret(ctx, Default, ev, CheckpointKeySecretName(ev)).Data[signingFile])
	Expect(err).NotTo(HaveOccurred())
	operator, err := vault.ParsePrincipals("--verifier", []string{OperatorIdentity(ev.Namespace)})
	Expect(err).NotTo(HaveOccurred())
	grants := vault.DefaultGrants()
	grants[vault.RoleVerify], grants[vault.RoleList] = operator, operator
	v, err := vault.Open(vault.Config{Dir: dataDir, Keyring: kr, Signer: signer, Grants: grants, Store: store})
	Expect(err).NotTo(HaveOccurred())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	addr := ln.Addr().String()
	Expect(ln.Close()).To(Succeed())
	serveCtx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- vault.Serve(serveCtx, v, vault.ServeConfig{Listen: addr, CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile,
			ReloadInterval: time.Hour, Logger: GinkgoLogr, Ready: func(net.Addr, net.Addr) { close(ready) }})
	}()
	Eventually(ready).Should(BeClosed())
	endpointsMu.Lock()
	endpoints[ev.Namespace+"/"+ev.Name] = "https://" + addr
	endpointsMu.Unlock()
	return &runningVault{v: v, stop: func() {
		cancel()
		Eventually(done).Should(Receive(BeNil()))
		Expect(v.Close()).To(Succeed())
	}}
}

// ingest stores one object for a case, under legal hold if held.
func (rv *runningVault) ingest(ctx context.Context, caseRef string, held bool) {
	actor := vault.Identity{Subject: "CN=officer,O=Police KE", URI: "spiffe://test/officer"}
	m := vault.Metadata{CaseReference: caseRef, LegalBasis: "UNCC art. 42", AuthorisationReference: "order-" + caseRef,
		AuthorisationExpiry: time.Now().Add(365 * 24 * time.Hour), RetentionUntil: time.Now().Add(100 * 24 * time.Hour)}
	res, err := rv.v.Ingest(ctx, actor, m, strings.NewReader(fmt.Sprintf("evidence for %s", caseRef)), vault.Expectation{Size: -1})
	Expect(err).NotTo(HaveOccurred())
	if held {
		_, err := rv.v.Hold(actor, res.Digest, caseRef, "UNCC art. 42")
		Expect(err).NotTo(HaveOccurred())
	}
}

var _ = Describe("an EvidenceVault asked to verify now", func() {
	ctx := context.Background()

	It("runs a full verification at once when cybercoop.io/verify-now names a time after the last one, and reports it", func() {
		ev, _, run := stackWithVault(ctx)
		DeferCleanup(func() { run.stop() })
		var first time.Time
		Eventually(func(g Gomega) {
			got := get(ctx, g, ev)
			g.Expect(got.Status.LastVerification).NotTo(BeNil())
			first = got.Status.LastVerification.Time.Time
		}).Should(Succeed())

		// The default interval is 24h: nothing but the annotation makes it verify again.
		requested := time.Now().Add(time.Second).UTC().Truncate(time.Second)
		Eventually(func() error {
			live := get(ctx, Default, ev)
			if live.Annotations == nil {
				live.Annotations = map[string]string{}
			}
			live.Annotations[cybercoopv1alpha1.VerifyNowAnnotation] = requested.Format(time.RFC3339)
			return k8sClient.Update(ctx, live)
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			got := get(ctx, g, ev)
			g.Expect(got.Status.LastVerification).NotTo(BeNil())
			g.Expect(got.Status.LastVerification.Time.Time).To(BeTemporally(">=", requested), "verified after the request (first at %s)", first)
			g.Expect(got.Status.LastVerification.Result).To(Equal("Passed"))
		}).WithTimeout(time.Minute).Should(Succeed())
	})
})
