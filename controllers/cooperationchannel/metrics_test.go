package cooperationchannel

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/cybercoop/cybercoop-operator/internal/metrics"
)

var _ = Describe("CooperationChannel metrics", func() {
	ctx := context.Background()

	It("counts probes by result with the round trip of the successful ones, and forgets the channel when it is deleted", func() {
		fp, bundle := kenya(ctx)
		fr := startPeer("FR", "KE", bundle)
		cc := newChannel(ctx, fp.Namespace, fr.url, inline(pemOf(fr.ca)), nil)
		probes := func(result string) func() float64 {
			return func() float64 {
				v, _ := metrics.Value("cybercoop_channel_probes_total", map[string]string{"namespace": cc.Namespace, "name": cc.Name, "result": result})
				return v
			}
		}
		own := map[string]string{"namespace": cc.Namespace, "name": cc.Name}

		By("a successful probe")
		Eventually(probes(metrics.ProbeSuccess)).Should(BeNumerically(">=", 1))
		Eventually(func() float64 {
			v, _ := metrics.Value("cybercoop_channel_probe_round_trip_seconds", own)
			return v
		}).Should(BeNumerically(">=", 1), "one round trip observed per successful probe")

		By("failed probes once the peer's gateway stops")
		fr.stop()
		Eventually(probes(metrics.ProbeFailure)).Should(BeNumerically(">=", 1))

		By("deleting the channel")
		Expect(k8sClient.Delete(ctx, get(ctx, Default, cc))).To(Succeed())
		for _, name := range []string{"cybercoop_channel_probes_total", "cybercoop_channel_probe_round_trip_seconds",
			"cybercoop_certificate_expiration_timestamp_seconds", "cybercoop_certificate_renewal_timestamp_seconds"} {
			Eventually(func() bool {
				_, ok := metrics.Value(name, own)
				return ok
			}).Should(BeFalse(), "%s of the deleted channel is still exported", name)
		}
	})
})
