package cooperationchannel

import (
	"context"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"

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
			"cybercoop_channel_last_probe_timestamp_seconds", "cybercoop_channel_last_handshake_timestamp_seconds",
			"cybercoop_certificate_expiration_timestamp_seconds", "cybercoop_certificate_renewal_timestamp_seconds"} {
			Eventually(func() bool {
				_, ok := metrics.Value(name, own)
				return ok
			}).Should(BeFalse(), "%s of the deleted channel is still exported", name)
		}
	})
})

// lastProbe is the Unix time of the channel's latest probe as its metric gives it;
// zero when it was never probed.
func lastProbe(cc *cybercoopv1alpha1.CooperationChannel) float64 {
	v, _ := metrics.Value("cybercoop_channel_last_probe_timestamp_seconds", map[string]string{"namespace": cc.Namespace, "name": cc.Name})
	return v
}

// lastHandshake is the Unix time of the channel's latest successful probe; zero
// when none succeeded.
func lastHandshake(cc *cybercoopv1alpha1.CooperationChannel) float64 {
	v, _ := metrics.Value("cybercoop_channel_last_handshake_timestamp_seconds", map[string]string{"namespace": cc.Namespace, "name": cc.Name})
	return v
}

// probeCount is how many times the channel's peer was probed, whatever the result.
func probeCount(cc *cybercoopv1alpha1.CooperationChannel) float64 {
	total := 0.0
	for _, result := range []string{metrics.ProbeSuccess, metrics.ProbeFailure} {
		v, _ := metrics.Value("cybercoop_channel_probes_total", map[string]string{"namespace": cc.Namespace, "name": cc.Name, "result": result})
		total += v
	}
	return total
}
