package perf

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/gateway"
	"github.com/cybercoop/cybercoop-operator/internal/metrics"
	"github.com/cybercoop/cybercoop-operator/test/fixtures"
)

// structureChannels is how many channels the structural specs create at once.
const structureChannels = 6

// channelWrites keeps the writes to a channel's own objects: its status and its
// client Secret (certificate and peer trust), and any to the trust ConfigMap
// earlier releases wrote, which a new channel must not.
func channelWrites(cc *cybercoopv1alpha1.CooperationChannel) func(apiRequest) bool {
	names := []string{cc.Name, gateway.ChannelClientSecretName(cc.Name), gateway.ChannelTrustConfigMapName(cc.Name)}
	return func(r apiRequest) bool {
		return r.write() && r.namespace == cc.Namespace && slices.Contains(names, r.name) && notEvent(r)
	}
}

// eventsAbout keeps the events recorded about a channel (the recorder names an
// event after the object it is about: <name>.<time in hex>).
func eventsAbout(cc *cybercoopv1alpha1.CooperationChannel) func(apiRequest) bool {
	return func(r apiRequest) bool {
		return !notEvent(r) && r.namespace == cc.Namespace && strings.HasPrefix(r.name, cc.Name+".")
	}
}

// gatewayChannels reads the channels file of the FocalPoint's gateway.
func gatewayChannels(ctx context.Context, g Gomega, fp *cybercoopv1alpha1.FocalPoint) gateway.Channels {
	s := &corev1.Secret{}
	g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: focalpoint.ChannelsSecretName(fp)}, s)).To(Succeed())
	var list gateway.Channels
	g.Expect(json.Unmarshal(s.Data[gateway.ChannelsFile], &list)).To(Succeed())
	return list
}

// quiet waits until the manager has sent no write for three seconds (longer than
// a FocalPoint waits for a batch of channel changes to end): the work a change set
// off is done.
func quiet() {
	GinkgoHelper()
	var last, lastChange = -1, time.Now()
	Eventually(func() bool {
		n := count(counter.since(0), nil).writes
		if n != last {
			last, lastChange = n, time.Now()
		}
		return time.Since(lastChange) >= 3*time.Second
	}).WithTimeout(60 * time.Second).Should(BeTrue())
}

var _ = Describe("The operator's cost", Ordered, func() {
	var ke *country

	BeforeAll(func(ctx SpecContext) {
		ns, err := fixtures.Namespace(ctx, k8sClient, "perf-")
		Expect(err).NotTo(HaveOccurred())
		peers, err := peerCountries("KE")
		Expect(err).NotTo(HaveOccurred())
		ke = newCountry(ns, peers[:structureChannels], farm)
	})

	It("creates a channel with at most 2 writes to its own objects, no conflicts and one channels file write per batch", func(ctx SpecContext) {
		// The country first, as channels are added to a running point of contact;
		// its national CA issued.
		Expect(createAll(ctx, k8sClient, 2, []client.Object{ke.fp, ke.ev})).To(Succeed())
		Eventually(func(g Gomega) {
			s := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ke.namespace, Name: focalpoint.TrustBundleSecretName(ke.fp)}, s)).To(Succeed())
		}).Should(Succeed())
		quiet()

		mark, fpReconciles := counter.mark(), reconciles("focalpoint")
		var channels []client.Object
		for _, cc := range ke.channels {
			channels = append(channels, cc)
		}
		Expect(createAll(ctx, k8sClient, 4, channels)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(readyChannels(ctx, k8sClient, ke.namespace)).To(Equal(structureChannels))
			g.Expect(gatewayChannels(ctx, g, ke.fp).Channels).To(HaveLen(structureChannels))
		}).WithTimeout(60 * time.Second).Should(Succeed())
		quiet()
		reqs := counter.since(mark)
		for _, cc := range ke.channels {
			t := count(reqs, channelWrites(cc))
			// Its client Secret, certificate and peer trust in one write, and its status.
			Expect(t.writes).To(BeNumerically("<=", 2), "channel %s: %s", cc.Name, t.describeWrites())
			// One event tells of a new channel's provisioning: its certificate issued.
			Expect(count(reqs, eventsAbout(cc)).writes).To(Equal(1), "events about channel %s", cc.Name)
		}
		all := count(reqs, notEvent)
		Expect(all.conflicts).To(BeZero(), "writes: %s", all.describeWrites())
		Expect(channelsSecretWrites(reqs, ke.fp)).To(Equal(1), "writes: %s", all.describeWrites())
		// The channels reach their FocalPoint as one batch, not one reconcile each
		// (a client certificate Secret is also a leaf of the FocalPoint's CA).
		Expect(reconciles("focalpoint")-fpReconciles).To(BeNumerically("<", structureChannels), "FocalPoint reconciles")
		// An object that does not exist yet is known absent from the names cache, not
		// asked for.
		Expect(all.describeGets()).NotTo(ContainSubstring(" 404"), "reads sent to the API server")
	})

	It("writes the gateway's channels Secret once for a batch of channel changes", func(ctx SpecContext) {
		quiet()
		mark := counter.mark()
		for _, cc := range ke.channels {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
			cc.Spec.RequestTypes = append(cc.Spec.RequestTypes, cybercoopv1alpha1.RequestTrafficDataDisclosure)
			Expect(k8sClient.Update(ctx, cc)).To(Succeed())
		}
		Eventually(func(g Gomega) {
			for _, ch := range gatewayChannels(ctx, g, ke.fp).Channels {
				g.Expect(ch.RequestTypes).To(ContainElement(string(cybercoopv1alpha1.RequestTrafficDataDisclosure)), "channel %s", ch.Name)
			}
		}).Should(Succeed())
		quiet()
		reqs := counter.since(mark)
		Expect(channelsSecretWrites(reqs, ke.fp)).To(Equal(1),
			"writes: %s", count(reqs, notEvent).describeWrites())
	})

	It("writes nothing while idle, nor when a restarted operator reconciles everything again", func(ctx SpecContext) {
		quiet()
		mark := counter.mark()
		Consistently(func() string { return count(counter.since(mark), notEvent).describeWrites() }).
			WithTimeout(3 * time.Second).WithPolling(250 * time.Millisecond).Should(BeEmpty())

		// A new manager lists everything and reconciles every object once.
		Expect(op.stop()).To(Succeed())
		var err error
		reconciled := counter.mark()
		op, err = startOperator(counter.wrap(controlPlane.Config), clock, operatorOptions{})
		Expect(err).NotTo(HaveOccurred())
		// Every channel was read from the cache and its status compared: the
		// channels' client Secrets, which each reconcile reads, were listed.
		Eventually(func() int { return count(counter.since(reconciled), nil).byVerb["list"] }).Should(BeNumerically(">", 0))
		quiet()
		Expect(fmt.Sprint(count(counter.since(mark), notEvent).describeWrites())).To(BeEmpty())
	})

	It("writes nothing while every channel's peer is probed again and again", func(ctx SpecContext) {
		// The operator again, probing every second instead of every 5 minutes: each
		// probe succeeds and finds what status already reports, which is no reason to
		// write (the time of each probe and its round trip are metrics).
		Expect(op.stop()).To(Succeed())
		var err error
		op, err = startOperator(counter.wrap(controlPlane.Config), clock, operatorOptions{ProbeInterval: time.Second})
		Expect(err).NotTo(HaveOccurred())
		quiet()
		mark := counter.mark()
		before := map[string]float64{}
		for _, cc := range ke.channels {
			before[cc.Name] = successfulProbes(cc)
		}
		Eventually(func(g Gomega) {
			for _, cc := range ke.channels {
				g.Expect(successfulProbes(cc)-before[cc.Name]).To(BeNumerically(">=", 3), "channel %s", cc.Name)
			}
		}).WithTimeout(60 * time.Second).Should(Succeed())
		Expect(count(counter.since(mark), notEvent).describeWrites()).To(BeEmpty())
		Expect(readyChannels(ctx, k8sClient, ke.namespace)).To(Equal(structureChannels))
	})
})

// successfulProbes is the manager's count of successful probes of the channel's peer.
func successfulProbes(cc *cybercoopv1alpha1.CooperationChannel) float64 {
	v, _ := metrics.Value("cybercoop_channel_probes_total", map[string]string{"namespace": cc.Namespace, "name": cc.Name, "result": metrics.ProbeSuccess})
	return v
}

var _ = Describe("A State applying its whole stack at once", func() {
	It("costs each channel at most 2 writes to its own objects", func(ctx SpecContext) {
		ns, err := fixtures.Namespace(ctx, k8sClient, "perf-at-once-")
		Expect(err).NotTo(HaveOccurred())
		peers, err := peerCountries("KE")
		Expect(err).NotTo(HaveOccurred())
		c := newCountry(ns, peers[:structureChannels], farm)
		quiet()
		mark := counter.mark()
		// As kubectl apply -f stack/ or helm install sends them, side by side, but
		// the FocalPoint known to the operator first (its finalizer added), so that
		// no channel reports FocalPointNotFound, which is a report to make: the
		// first channels are reconciled before their FocalPoint's CA exists, and do
		// not write a status that says only that (test/perf's mesh: 8 to 11 of 192
		// channels wrote their status twice).
		Expect(k8sClient.Create(ctx, c.fp)).To(Succeed())
		Eventually(func(g Gomega) {
			fp := &cybercoopv1alpha1.FocalPoint{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c.fp), fp)).To(Succeed())
			g.Expect(fp.Finalizers).To(ContainElement(focalpoint.Finalizer))
		}).Should(Succeed())
		Expect(createAll(ctx, k8sClient, 4, c.objects()[1:])).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(readyChannels(ctx, k8sClient, ns)).To(Equal(structureChannels))
		}).WithTimeout(60 * time.Second).Should(Succeed())
		quiet()
		reqs := counter.since(mark)
		for _, cc := range c.channels {
			t := count(reqs, channelWrites(cc))
			Expect(t.writes).To(BeNumerically("<=", 2), "channel %s: %s", cc.Name, t.describeWrites())
		}
	})
})
