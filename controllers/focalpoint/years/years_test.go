package years

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
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
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
	"github.com/cybercoop/cybercoop-operator/test/fixtures"
)

// newFocalPoint has a one-year CA renewed 180 days early, which renews twice a year,
// so three years hold several renewals and key replacements.
func newFocalPoint(namespace string) *cybercoopv1alpha1.FocalPoint {
	fp := fixtures.Brazil(namespace)
	fp.Spec.Gateway = cybercoopv1alpha1.GatewaySpec{Replicas: ptrTo(int32(2))}
	fp.Spec.Certificates = &cybercoopv1alpha1.CertificatesSpec{
		CADuration:       &metav1.Duration{Duration: 365 * 24 * time.Hour},
		CARotationPolicy: cybercoopv1alpha1.CARotationRenewCertificate,
	}
	return fp
}

func ptrTo[T any](v T) *T { return &v }

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

var _ = Describe("a FocalPoint's certificates over three years", func() {
	It("never serves a certificate its consumers cannot verify, through renewals, key replacements and restarts at every write", func() {
		ctx := context.Background()
		start := time.Date(2027, 1, 4, 9, 30, 0, 0, time.UTC)
		clk := clocktesting.NewFakeClock(start)
		events := &eventLog{}
		crashEvents := &eventLog{}
		newReconciler := func(c client.Client, rec *eventLog) *focalpoint.Reconciler {
			return &focalpoint.Reconciler{Client: c, Scheme: scheme, Recorder: rec, Clock: clk, GatewayImage: "registry.test/cybercoop:years"}
		}
		// The reconcilers' connection counts writes: a reconcile that wrote nothing
		// changed nothing, so the test need not read everything again.
		writes := envtestutil.NewWriteCounter(k8sClient)
		r := newReconciler(writes, events)
		// The EvidenceVault's controller: its vault pods trust the CA and serve a leaf
		// of it, so every key replacement must wait for them too. No vault answers.
		newVaultReconciler := func(c client.Client, rec *eventLog) *evidencevault.Reconciler {
			return &evidencevault.Reconciler{Client: c, Scheme: scheme, Recorder: rec, Clock: clk, VaultImage: "registry.test/cybercoop:years",
				VaultEndpoint: func(*cybercoopv1alpha1.EvidenceVault) string { return "https://127.0.0.1:1" }}
		}
		rv := newVaultReconciler(writes, events)

		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "years-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		fp := newFocalPoint(ns.Name)
		Expect(k8sClient.Create(ctx, fp)).To(Succeed())
		req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(fp)}
		key := func(name string) types.NamespacedName { return types.NamespacedName{Namespace: ns.Name, Name: name} }
		ev := &cybercoopv1alpha1.EvidenceVault{
			ObjectMeta: metav1.ObjectMeta{Name: "br-evidence", Namespace: ns.Name},
			Spec: cybercoopv1alpha1.EvidenceVaultSpec{
				FocalPointRef: cybercoopv1alpha1.FocalPointReference{Name: fp.Name},
				Storage:       &cybercoopv1alpha1.VaultStorage{Size: resource.MustParse("10Gi")},
			},
		}
		Expect(k8sClient.Create(ctx, ev)).To(Succeed())
		evReq := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(ev)}
		vaultLeaf := evidencevault.ServingSecretName(ev)

		// The simulated gateway. Time inside a day is counted in steps: every reconcile
		// and every move of a rollout is one. A pod loads its mounted Secrets when it
		// starts; afterwards it sees a Secret update only propagationDelay steps after
		// it was stored (the kubelet syncs mounted Secrets with a delay), so it keeps
		// presenting the leaf it loaded until then, or until a rollout replaces it.
		const propagationDelay = 2
		step := 0
		type revision struct {
			at   int
			data map[string][]byte
		}
		// history is every content of the serving and trust bundle Secrets, with the
		// step at which it was first seen stored.
		history := map[string][]revision{}
		type gatewayPod struct {
			template int64 // the Deployment generation whose pod template it was started from
			started  int
		}
		var pods []gatewayPod
		// vaultPods is the evidence vault's one pod; a StatefulSet replaces it in place.
		var vaultPods []gatewayPod
		vaultRollouts := 0
		rollouts, maxCACount := 0, 0
		templateGeneration := int64(0) // the Deployment's generation as last seen

		// snap holds the namespace's Secrets as last listed: one request per look.
		snap := map[string]*corev1.Secret{}
		refresh := func() {
			list := &corev1.SecretList{}
			Expect(k8sClient.List(ctx, list, client.InNamespace(ns.Name))).To(Succeed())
			snap = map[string]*corev1.Secret{}
			for i := range list.Items {
				snap[list.Items[i].Name] = &list.Items[i]
			}
			for _, name := range []string{focalpoint.GatewayTLSSecretName(fp), focalpoint.TrustBundleSecretName(fp), vaultLeaf} {
				sec, ok := snap[name]
				if !ok {
					continue
				}
				revs := history[name]
				if len(revs) == 0 || !maps.EqualFunc(revs[len(revs)-1].data, sec.Data, bytes.Equal) {
					history[name] = append(revs, revision{at: step, data: sec.Data})
				}
			}
		}
		secret := func(name string) *corev1.Secret {
			s, ok := snap[name]
			Expect(ok).To(BeTrue(), "Secret %s does not exist", name)
			return s
		}
		getFP := func() *cybercoopv1alpha1.FocalPoint {
			out := &cybercoopv1alpha1.FocalPoint{}
			Expect(k8sClient.Get(ctx, req.NamespacedName, out)).To(Succeed())
			return out
		}
		// mounted is the Secret data pod p sees now: the newest content stored when
		// it started, or later by at least the propagation delay.
		mounted := func(p gatewayPod, name string) map[string][]byte {
			visible := max(p.started, step-propagationDelay)
			var data map[string][]byte
			for _, rev := range history[name] {
				if rev.at <= visible {
					data = rev.data
				}
			}
			Expect(data).NotTo(BeNil(), "pod started at step %d sees no Secret %s", p.started, name)
			return data
		}

		// rollOut plays the deployment controller for one move: a changed pod template
		// is rolled out one pod at a time (maxSurge 1, maxUnavailable 0: start a pod
		// from the new template, then retire an old one), and the status says so. It
		// reports whether it moved.
		rollOut := func() bool {
			dep := &appsv1.Deployment{}
			Expect(k8sClient.Get(ctx, key(fp.Name+"-gateway"), dep)).To(Succeed())
			templateGeneration = dep.Generation
			n := int(*dep.Spec.Replicas)
			updated := 0
			for _, p := range pods {
				if p.template == dep.Generation {
					updated++
				}
			}
			switch {
			case updated < n && len(pods) <= n:
				refresh()
				published := secret(focalpoint.TrustBundleSecretName(fp)).Data[pki.CACertKey]
				Expect(dep.Spec.Template.Annotations[ca.TrustBundleHashAnnotation]).To(Equal(sha256Hex(published)),
					"the pod template must name the bundle that is published")
				pods = append(pods, gatewayPod{template: dep.Generation, started: step})
				updated++
			case len(pods) > n:
				old := slices.IndexFunc(pods, func(p gatewayPod) bool { return p.template != dep.Generation })
				pods = slices.Delete(pods, old, old+1)
			case dep.Status.ObservedGeneration == dep.Generation:
				return false
			}
			if updated == n && len(pods) == n {
				rollouts++
			}
			step++
			live := int32(len(pods))
			dep.Status = appsv1.DeploymentStatus{
				ObservedGeneration: dep.Generation, Replicas: live, UpdatedReplicas: int32(updated), ReadyReplicas: live, AvailableReplicas: live,
				Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "Test",
					LastUpdateTime: metav1.NewTime(clk.Now()), LastTransitionTime: metav1.NewTime(clk.Now())}},
			}
			Expect(k8sClient.Status().Update(ctx, dep)).To(Succeed())
			return true
		}

		// rollVault plays the StatefulSet controller for one move: a changed pod
		// template replaces the vault's single pod (the old one stops, then the new one
		// starts and loads its Secrets). It reports whether it moved.
		rollVault := func() bool {
			sts := &appsv1.StatefulSet{}
			if err := k8sClient.Get(ctx, key(ev.Name+"-vault"), sts); apierrors.IsNotFound(err) {
				return false // made once the keyring and certificates exist
			}
			if sts.Status.ObservedGeneration == sts.Generation {
				return false
			}
			refresh()
			published := secret(focalpoint.TrustBundleSecretName(fp)).Data[pki.CACertKey]
			Expect(sts.Spec.Template.Annotations[ca.TrustBundleHashAnnotation]).To(Equal(sha256Hex(published)),
				"the vault's pod template must name the bundle that is published")
			vaultPods = []gatewayPod{{template: sts.Generation, started: step}}
			vaultRollouts++
			step++
			rev := fmt.Sprintf("r%d", sts.Generation)
			sts.Status = appsv1.StatefulSetStatus{ObservedGeneration: sts.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1,
				AvailableReplicas: 1, CurrentReplicas: 1, CurrentRevision: rev, UpdateRevision: rev}
			Expect(k8sClient.Status().Update(ctx, sts)).To(Succeed())
			return true
		}

		// check asserts the invariants at the fake now: nothing in use has expired,
		// every leaf a live gateway pod presents verifies against the bundle every
		// consumer holds (each pod, and a consumer loading the published bundle now),
		// and the stored leaf verifies against the published bundle and the serving
		// Secret's own ca.crt.
		check := func(when string) {
			now := clk.Now()
			at := fmt.Sprintf("%s (%s, step %d)", when, now.Format(time.RFC3339), step)
			serving := secret(focalpoint.GatewayTLSSecretName(fp))
			leaf, err := pki.ParseLeafSecret(serving.Data)
			Expect(err).NotTo(HaveOccurred(), at)
			Expect(now.Before(leaf.Certificate.NotAfter) && !now.Before(leaf.Certificate.NotBefore)).To(BeTrue(),
				"%s: the serving certificate is valid only from %s to %s", at, leaf.Certificate.NotBefore, leaf.Certificate.NotAfter)
			ca, err := pki.ParseCASecret(secret(focalpoint.CASecretName(fp)).Data)
			Expect(err).NotTo(HaveOccurred(), at)
			Expect(now.Before(ca.Certificate.NotAfter)).To(BeTrue(), "%s: the CA certificate expired at %s", at, ca.Certificate.NotAfter)
			published, err := pki.ParseTrustBundle(secret(focalpoint.TrustBundleSecretName(fp)).Data[pki.CACertKey])
			Expect(err).NotTo(HaveOccurred(), at)
			Expect(published.Verify(leaf.Certificate, pki.UsageServer, now)).To(Succeed(), "%s: the published bundle does not verify it", at)
			own, err := pki.NewTrustBundle(leaf.CACertificates...)
			Expect(err).NotTo(HaveOccurred(), at)
			Expect(own.Verify(leaf.Certificate, pki.UsageServer, now)).To(Succeed(), "%s: the serving Secret's ca.crt does not verify it", at)
			maxCACount = max(maxCACount, published.Len())

			Expect(pods).NotTo(BeEmpty(), at)
			consumers := map[string]*pki.TrustBundle{"a consumer loading the published bundle now": published}
			for i, p := range pods {
				b, err := pki.ParseTrustBundle(mounted(p, focalpoint.TrustBundleSecretName(fp))[pki.CACertKey])
				Expect(err).NotTo(HaveOccurred(), at)
				consumers[fmt.Sprintf("gateway pod %d (started at step %d)", i, p.started)] = b
			}
			for _, p := range vaultPods {
				b, err := pki.ParseTrustBundle(mounted(p, focalpoint.TrustBundleSecretName(fp))[pki.CACertKey])
				Expect(err).NotTo(HaveOccurred(), at)
				consumers[fmt.Sprintf("vault pod (started at step %d)", p.started)] = b
			}
			presenters := map[string]*x509.Certificate{}
			for i, p := range pods {
				presented, err := pki.ParseLeafSecret(mounted(p, focalpoint.GatewayTLSSecretName(fp)))
				Expect(err).NotTo(HaveOccurred(), at)
				presenters[fmt.Sprintf("gateway pod %d (started at step %d)", i, p.started)] = presented.Certificate
			}
			for _, p := range vaultPods {
				presented, err := pki.ParseLeafSecret(mounted(p, vaultLeaf))
				Expect(err).NotTo(HaveOccurred(), at)
				Expect(now.Before(presented.Certificate.NotAfter)).To(BeTrue(), "%s: the vault presents an expired certificate", at)
				presenters[fmt.Sprintf("vault pod (started at step %d)", p.started)] = presented.Certificate
			}
			for presenter, cert := range presenters {
				for who, b := range consumers {
					if err := b.Verify(cert, pki.UsageServer, now); err != nil {
						Fail(fmt.Sprintf("%s: %s cannot verify the serving certificate (serial %s) that %s presents: %v",
							at, who, pki.FactsOf(cert, 0).SerialNumber, presenter, err))
					}
				}
			}
		}

		wrote := false // whether the current day's reconciles wrote anything
		// settle reconciles and rolls out until nothing changes any more.
		settle := func(when string) ctrl.Result {
			for range 40 {
				before := len(writes.Writes())
				res, err := r.Reconcile(ctx, req)
				Expect(err).NotTo(HaveOccurred(), when)
				step++
				_, err = rv.Reconcile(ctx, evReq)
				Expect(err).NotTo(HaveOccurred(), when)
				step++
				changed := len(writes.Writes()) != before
				if changed {
					wrote = true
					refresh()
				}
				check(when + ", after a reconcile")
				movedGateway, movedVault := rollOut(), rollVault()
				if movedGateway || movedVault {
					check(when + ", during a rollout")
					continue
				}
				if !changed {
					return res
				}
			}
			Fail(when + ": the gateway's pod template kept changing")
			return ctrl.Result{}
		}

		caGeneration := func() int64 {
			g, _ := strconv.ParseInt(secret(focalpoint.CASecretName(fp)).Annotations[certs.CAGenerationAnnotation], 10, 64)
			return g
		}
		phase := func() string {
			return secret(focalpoint.CASecretName(fp)).Annotations[ca.RotationPhaseAnnotation]
		}

		By("starting: the first reconcile issues the CA, the bundle and the serving certificate")
		_, err := r.Reconcile(ctx, req)
		Expect(err).NotTo(HaveOccurred())
		step++
		_, err = rv.Reconcile(ctx, evReq)
		Expect(err).NotTo(HaveOccurred())
		step++
		Expect(rollOut()).To(BeTrue())
		settle("day 0")
		refresh()
		Expect(caGeneration()).To(Equal(int64(1)))

		cur := getFP() // the FocalPoint as the last reconcile left it
		crashRestarts, plainRestarts, rotationsSeen := 0, 0, 0
		var phasesSeen []string
		const days = 3 * 365
		for day := 1; day <= days; day++ {
			clk.Step(24 * time.Hour)
			// A day is far longer than the kubelet's sync delay: every pod has seen
			// every Secret update by now.
			step += propagationDelay
			when := fmt.Sprintf("day %d", day)
			wrote = false
			generationBefore := templateGeneration
			// Before the operator acts: time passing alone must not break anything
			// (nothing was written since the last look, so it is still current).
			check(when + ", before reconciling")

			if day == 400 {
				By("switching the CA rotation policy to ReplaceKey on day 400")
				cur.Spec.Certificates.CARotationPolicy = cybercoopv1alpha1.CARotationReplaceKey
				Expect(k8sClient.Update(ctx, cur)).To(Succeed())
			}

			dueCA := cur.Status.Certificates != nil && cur.Status.Certificates.CA != nil &&
				!clk.Now().Before(cur.Status.Certificates.CA.RenewalTime.Time)
			replacing := dueCA && cur.Spec.Certificates.CARotationPolicy == cybercoopv1alpha1.CARotationReplaceKey
			genBefore := caGeneration()

			if replacing && rotationsSeen == 0 {
				By(when + ": the first key replacement, with the manager crashing after every single write and restarting")
				for write := 1; ; write++ {
					Expect(write).To(BeNumerically("<", 200), "the rollout does not finish")
					// Each incarnation stores one write and dies before the next, so the
					// rollout is resumed from every state it can leave behind.
					crasher := newReconciler(&crashingClient{Client: k8sClient, budget: 1}, crashEvents)
					_, _ = crasher.Reconcile(ctx, req)
					step++
					vaultCrasher := newVaultReconciler(&crashingClient{Client: k8sClient, budget: 1}, crashEvents)
					_, _ = vaultCrasher.Reconcile(ctx, evReq)
					step++
					crashRestarts++
					refresh()
					check(fmt.Sprintf("%s, after a crash following write %d", when, write))
					if p := phase(); len(phasesSeen) == 0 || phasesSeen[len(phasesSeen)-1] != p {
						phasesSeen = append(phasesSeen, p)
					}
					if movedGateway, movedVault := rollOut(), rollVault(); movedGateway || movedVault {
						check(fmt.Sprintf("%s, after a rollout following the crash after write %d", when, write))
					}
					if caGeneration() > genBefore && phase() == string(pki.RotationIdle) {
						break
					}
				}
				r, rv = newReconciler(writes, events), newVaultReconciler(writes, events) // the restarted manager
			} else if replacing {
				By(when + ": a key replacement with a plain restart while waiting for the consumers")
				_, err := r.Reconcile(ctx, req)
				Expect(err).NotTo(HaveOccurred())
				step++
				wrote = true
				refresh()
				check(when + ", after the rollout started")
				Expect(phase()).To(Equal(string(pki.RotationBundleExtended)))
				r, rv = newReconciler(writes, events), newVaultReconciler(writes, events) // no in-memory state survives
				plainRestarts++
			}
			res := settle(when)
			if templateGeneration != generationBefore {
				Expect(dueCA).To(BeTrue(), "%s: the gateway's pods were rolled although the CA was not due; a leaf renewal must never roll them", when)
			}
			if replacing {
				rotationsSeen++
				Expect(caGeneration()).To(Equal(genBefore+1), "%s: the key replacement did not finish", when)
				Expect(phase()).To(Equal(string(pki.RotationIdle)))
			}

			// Requeue at the next renewal, never later.
			if wrote || replacing || day == 400 {
				cur = getFP()
			}
			Expect(res.RequeueAfter).To(BeNumerically(">", 0), when)
			next := clk.Now().Add(res.RequeueAfter)
			Expect(next).NotTo(BeTemporally(">", cur.Status.Certificates.CA.RenewalTime.Time), when)
			Expect(next).NotTo(BeTemporally(">", cur.Status.Certificates.GatewayServing.RenewalTime.Time), when)
			Expect(meta(cur, cybercoopv1alpha1.ConditionCertificateReady).Status).To(Equal(metav1.ConditionTrue), when)
		}

		By("having renewed and replaced as the policies say")
		all := events.all()
		count := func(reason string) int {
			n := 0
			for _, e := range all {
				if strings.Contains(e, " "+reason+":") {
					n++
				}
			}
			return n
		}
		Expect(vaultRollouts).To(BeNumerically(">=", 1+2*rotationsSeen), "the vault's pods rolled with every key replacement")
		GinkgoWriter.Printf("3 years: %d vault rollouts, ", vaultRollouts)
		GinkgoWriter.Printf("%d gateway rollouts, %d crash restarts, %d plain restarts, %d key replacements, phases %v, CA generation %d, %d leaf renewals, %d CA renewals\n",
			rollouts, crashRestarts, plainRestarts, rotationsSeen, phasesSeen, caGeneration(), count("CertificateRenewed"), count("CARenewed"))
		Expect(count("CARenewed")).To(BeNumerically(">=", 2), "the CA certificate was renewed with its key before day 400")
		Expect(rotationsSeen).To(BeNumerically(">=", 3))
		Expect(caGeneration()).To(Equal(int64(1 + rotationsSeen)))
		Expect(plainRestarts).To(BeNumerically(">=", 1))
		Expect(crashRestarts).To(BeNumerically(">=", 5))
		Expect(phasesSeen).To(ContainElements(string(pki.RotationBundleExtended), string(pki.RotationBundleObserved), string(pki.RotationLeavesReissued)))
		Expect(maxCACount).To(Equal(2), "old and new CA were published together during a replacement")
		Expect(count("CertificateRenewed")).To(BeNumerically(">=", 3*365/60))
		for _, e := range all {
			Expect(e).NotTo(HavePrefix("Warning"), "a healthy run raised a warning")
			Expect(e).NotTo(ContainSubstring("PRIVATE KEY"))
		}
		refresh()
		final, err := pki.ParseTrustBundle(secret(focalpoint.TrustBundleSecretName(fp)).Data[pki.CACertKey])
		Expect(err).NotTo(HaveOccurred())
		Expect(final.Len()).To(Equal(1), "the old CA was pruned after the last replacement")
	})
})

func meta(fp *cybercoopv1alpha1.FocalPoint, t string) metav1.Condition {
	for _, c := range fp.Status.Conditions {
		if c.Type == t {
			return c
		}
	}
	return metav1.Condition{}
}
