package years

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/evidencevault"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/ca"
	"github.com/cybercoop/cybercoop-operator/internal/certs"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
)

// A workload of another kind — an EvidenceVault's StatefulSet, run by its own
// controller — that trusts the FocalPoint's CA and serves a leaf issued from it
// through the shared call is part of every CA key replacement: the old CA is not pruned until it, too,
// has rolled out with the new bundle and the new leaf. Every reconcile, of the
// FocalPoint and of the workload's own controller, runs in a fresh incarnation that
// dies after its first write.
var _ = Describe("a CA key replacement with a consumer of another kind", func() {
	It("waits for every consumer's rollouts before moving on, with a restart after every write", func() {
		ctx := context.Background()
		clk := clocktesting.NewFakeClock(time.Date(2027, 6, 1, 8, 0, 0, 0, time.UTC))
		events := &eventLog{}

		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "consumers-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		fp := newFocalPoint(ns.Name)
		fp.Spec.Gateway.Replicas = ptrTo(int32(1))
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(fp)}
		key := func(name string) types.NamespacedName { return types.NamespacedName{Namespace: ns.Name, Name: name} }
		ref := focalpoint.CARef(fp)

		// The other kind: an EvidenceVault, whose StatefulSet declares that it trusts
		// the CA and serves a leaf issued from it through the shared call. Its
		// controller runs here as the manager would run it; no vault pod answers.
		ev := &cybercoopv1alpha1.EvidenceVault{
			ObjectMeta: metav1.ObjectMeta{Name: "evidence", Namespace: ns.Name},
			Spec: cybercoopv1alpha1.EvidenceVaultSpec{
				FocalPointRef: cybercoopv1alpha1.FocalPointReference{Name: fp.Name},
				Storage:       &cybercoopv1alpha1.VaultStorage{Size: resource.MustParse("1Gi")},
			},
		}
		Expect(k8sClient.Create(ctx, ev)).To(Succeed())
		sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: ev.Name + "-vault", Namespace: ns.Name}}
		vaultLeafSecret := evidencevault.ServingSecretName(ev)
		reconcileVault := func(c client.Client) {
			r := &evidencevault.Reconciler{Client: c, Scheme: scheme, Recorder: events, Clock: clk, VaultImage: "registry.test/cybercoop:consumers",
				VaultEndpoint: func(*cybercoopv1alpha1.EvidenceVault) string { return "https://127.0.0.1:1" }}
			_, _ = r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(ev)})
		}

		// The pods of both workloads load the bundle and the leaf when they start and
		// keep them (the kubelet's later updates are not counted on).
		type pods struct{ bundle, leaf []byte }
		loaded := map[string]*pods{}
		secretData := func(name, dataKey string) []byte {
			s := &corev1.Secret{}
			Expect(k8sClient.Get(ctx, key(name), s)).To(Succeed())
			return s.Data[dataKey]
		}
		start := func(workload, leafSecret string) {
			loaded[workload] = &pods{bundle: secretData(ref.BundleSecretName, pki.CACertKey), leaf: secretData(leafSecret, pki.TLSCertKey)}
		}
		// rollGateway plays the deployment controller: a new template is rolled out at once.
		rollGateway := func() {
			dep := &appsv1.Deployment{}
			if err := k8sClient.Get(ctx, key(fp.Name+"-gateway"), dep); apierrors.IsNotFound(err) {
				return // not created yet
			}
			if dep.Status.ObservedGeneration == dep.Generation {
				return
			}
			start("gateway", focalpoint.GatewayTLSSecretName(fp))
			dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
			Expect(k8sClient.Status().Update(ctx, dep)).To(Succeed())
		}
		// rollVault plays the StatefulSet controller, unless the test holds it.
		held := false
		rollVault := func() {
			live := &appsv1.StatefulSet{}
			if err := k8sClient.Get(ctx, key(sts.Name), live); apierrors.IsNotFound(err) {
				return // not created yet
			}
			if held || live.Status.ObservedGeneration == live.Generation || live.Spec.Template.Annotations[ca.TrustBundleHashAnnotation] == "" {
				return
			}
			start("vault", vaultLeafSecret)
			rev := fmt.Sprintf("evidence-vault-%d", live.Generation)
			live.Status = appsv1.StatefulSetStatus{ObservedGeneration: live.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1,
				AvailableReplicas: 1, CurrentReplicas: 1, CurrentRevision: rev, UpdateRevision: rev}
			Expect(k8sClient.Status().Update(ctx, live)).To(Succeed())
		}

		caSecret := func() *corev1.Secret {
			s := &corev1.Secret{}
			Expect(k8sClient.Get(ctx, key(ref.SecretName), s)).To(Succeed())
			return s
		}
		phase := func() string { return caSecret().Annotations[ca.RotationPhaseAnnotation] }
		bundleHasCA := func(caCert *x509.Certificate) bool {
			b, err := pki.ParseTrustBundle(secretData(ref.BundleSecretName, pki.CACertKey))
			Expect(err).NotTo(HaveOccurred())
			return b.Contains(caCert)
		}
		// check: every leaf a pod presents verifies against every pod's bundle and the
		// published one.
		check := func(when string) {
			now := clk.Now()
			if len(loaded) == 0 {
				return // no pod has started yet
			}
			published, err := pki.ParseTrustBundle(secretData(ref.BundleSecretName, pki.CACertKey))
			Expect(err).NotTo(HaveOccurred(), when)
			bundles := map[string]*pki.TrustBundle{"the published bundle": published}
			for who, p := range loaded {
				b, err := pki.ParseTrustBundle(p.bundle)
				Expect(err).NotTo(HaveOccurred(), when)
				bundles[who+" pods"] = b
			}
			for presenter, p := range loaded {
				cs, err := pki.ParseCertificatesPEM(p.leaf)
				Expect(err).NotTo(HaveOccurred(), when)
				for who, b := range bundles {
					Expect(b.Verify(cs[0], pki.UsageServer, now)).To(Succeed(),
						"%s: %s cannot verify the leaf the %s pods present", when, who, presenter)
				}
			}
		}
		// round is one reconcile of each controller, each in incarnations that die after
		// one write, until a reconcile of each writes nothing; then the rollouts move.
		writes := 0
		round := func(when string, stop func() bool) {
			for range 30 {
				before := writes
				for _, reconcile := range []func(client.Client){
					func(c client.Client) {
						r := &focalpoint.Reconciler{Client: c, Scheme: scheme, Recorder: events, Clock: clk, GatewayImage: "registry.test/cybercoop:consumers"}
						_, _ = r.Reconcile(ctx, req)
					},
					reconcileVault,
				} {
					crasher := &crashingClient{Client: k8sClient, budget: 1}
					reconcile(crasher)
					writes += 1 - crasher.budget
					check(when)
					if stop != nil && stop() {
						return
					}
				}
				rollGateway()
				rollVault()
				check(when + ", after the rollouts")
				if writes == before {
					return
				}
			}
			Fail(when + ": the controllers kept writing")
		}

		By("starting: the CA, both leaves, both rollouts")
		round("start", nil)
		Expect(phase()).To(Equal(string(pki.RotationIdle)))
		oldCA, err := pki.ParseCASecret(caSecret().Data)
		Expect(err).NotTo(HaveOccurred())
		vault := &appsv1.StatefulSet{}
		Expect(k8sClient.Get(ctx, key(sts.Name), vault)).To(Succeed())
		Expect(vault.Spec.Template.Annotations).To(HaveKey(ca.TrustBundleHashAnnotation))

		By("asking for a key replacement while the vault's rollouts are held")
		live := &cybercoopv1alpha1.FocalPoint{}
		Expect(k8sClient.Get(ctx, req.NamespacedName, live)).To(Succeed())
		live.Annotations = map[string]string{cybercoopv1alpha1.ForceReplaceCAAnnotation: "consumers-1"}
		Expect(k8sClient.Update(ctx, live)).To(Succeed())
		held = true
		for i := range 3 {
			clk.Step(time.Minute)
			round(fmt.Sprintf("held at the extended bundle, round %d", i), nil)
			Expect(phase()).To(Equal(string(pki.RotationBundleExtended)),
				"the gateway has the extended bundle, but the vault has not rolled out with it")
		}

		By("letting the vault roll out with the extended bundle, then holding it again before its new leaf is loaded")
		held = false
		leavesReissued := func() bool { return phase() == string(pki.RotationLeavesReissued) }
		for range 10 {
			clk.Step(time.Minute)
			if round("until the leaves are re-issued", leavesReissued); leavesReissued() {
				break
			}
		}
		Expect(phase()).To(Equal(string(pki.RotationLeavesReissued)))
		held = true
		for i := range 3 {
			clk.Step(time.Minute)
			round(fmt.Sprintf("held before the vault loads its new leaf, round %d", i), nil)
			Expect(phase()).To(Equal(string(pki.RotationLeavesReissued)))
			Expect(bundleHasCA(oldCA.Certificate)).To(BeTrue(), "the old CA was pruned while the vault's pods still present a leaf it signed")
		}

		By("letting the vault roll out its new leaf: only then is the old CA pruned")
		held = false
		for range 10 {
			clk.Step(time.Minute)
			round("until the replacement ends", nil)
			if phase() == string(pki.RotationIdle) {
				break
			}
		}
		Expect(phase()).To(Equal(string(pki.RotationIdle)))
		Expect(bundleHasCA(oldCA.Certificate)).To(BeFalse(), "the old CA is pruned")
		Expect(caSecret().Annotations[certs.CAGenerationAnnotation]).To(Equal("2"))
		vaultCert, err := pki.ParseCertificatesPEM(loaded["vault"].leaf)
		Expect(err).NotTo(HaveOccurred())
		newCA, err := pki.ParseCASecret(caSecret().Data)
		Expect(err).NotTo(HaveOccurred())
		Expect(vaultCert[0].CheckSignatureFrom(newCA.Certificate)).To(Succeed(), "the vault's pods present a leaf from the new CA")
		Expect(vault.Spec.Template.Annotations).NotTo(HaveKey(ca.ServingCertificateAnnotation))
		Expect(writes).To(BeNumerically(">", 10), "every incarnation died after one write")
		for _, e := range events.all() {
			if !strings.Contains(e, errCrashed.Error()) { // a write the dying incarnation could not make
				Expect(e).NotTo(HavePrefix("Warning"))
			}
			Expect(e).NotTo(ContainSubstring("PRIVATE KEY"))
		}
	})
})
