package evidencevault

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/metrics"
)

var _ = Describe("EvidenceVault metrics", func() {
	ctx := context.Background()

	It("publishes objects, bytes and the last verification as status says, and forgets the vault when it is deleted", func() {
		ev, _, run := stackWithVault(ctx)
		DeferCleanup(func() { run.stop() })
		own := map[string]string{"namespace": ev.Namespace, "name": ev.Name}
		value := func(g Gomega, name string) float64 {
			v, ok := metrics.Value(name, own)
			g.Expect(ok).To(BeTrue(), "%s is not exported", name)
			return v
		}

		By("a verified vault")
		Eventually(func(g Gomega) {
			got := get(ctx, g, ev)
			g.Expect(condition(got, cybercoopv1alpha1.ConditionIntegrityVerified).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(got.Status.LastVerification).NotTo(BeNil())
			g.Expect(value(g, "cybercoop_evidence_vault_last_verification_timestamp_seconds")).To(Equal(float64(got.Status.LastVerification.Time.Unix())))
			g.Expect(value(g, "cybercoop_evidence_vault_last_verification_passed")).To(Equal(1.0))
			g.Expect(value(g, "cybercoop_evidence_vault_verification_interval_seconds")).To(Equal(verificationInterval(got).Seconds()))
			g.Expect(value(g, "cybercoop_evidence_vault_log_consistent")).To(Equal(1.0))
		}).Should(Succeed())

		By("following the counts as evidence arrives")
		run.ingest(ctx, "case-1", false)
		poke(ctx, ev)
		Eventually(func(g Gomega) {
			got := get(ctx, g, ev)
			g.Expect(got.Status.Objects).NotTo(BeNil())
			g.Expect(*got.Status.Objects).To(Equal(int64(1)))
			g.Expect(value(g, "cybercoop_evidence_vault_objects")).To(Equal(1.0))
			g.Expect(value(g, "cybercoop_evidence_vault_bytes")).To(Equal(float64(*got.Status.Bytes)))
		}).Should(Succeed())

		By("deleting the vault (Retain)")
		Expect(k8sClient.Delete(ctx, get(ctx, Default, ev))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ev), &cybercoopv1alpha1.EvidenceVault{})).NotTo(Succeed())
		}).Should(Succeed())
		for _, name := range []string{"cybercoop_evidence_vault_objects", "cybercoop_evidence_vault_bytes",
			"cybercoop_evidence_vault_last_verification_timestamp_seconds", "cybercoop_evidence_vault_last_verification_passed",
			"cybercoop_evidence_vault_verification_interval_seconds", "cybercoop_evidence_vault_log_consistent"} {
			Eventually(func() bool {
				_, ok := metrics.Value(name, own)
				return ok
			}).Should(BeFalse(), "%s of the deleted vault is still exported", name)
		}
	})
})
