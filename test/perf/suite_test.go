// Package perf measures the operator at the scale of the convention and asserts
// the structural facts the measurements rest on.
//
// Without build tags (make test) it runs a small envtest suite that asserts only
// counts, never times: a channel's creation costs a fixed number of writes, a
// batch of channel changes costs one write of the gateway's channels Secret, and
// an idle operator writes nothing. With -tags perf (make bench) TestHarness runs
// the scenarios of issue 15 at full size and writes docs/performance.md.
package perf

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

var (
	controlPlane *envtestutil.ControlPlane
	k8sClient    client.Client // direct, never cached, not counted
	counter      *apiCounter
	clock        *shiftedClock
	farm         *peerFarm
	op           *operator
)

func TestStructure(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Operator cost structure")
}

var _ = BeforeSuite(func() {
	var err error
	controlPlane, err = envtestutil.StartControlPlane(GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	k8sClient = controlPlane.Client
	counter, clock = &apiCounter{}, &shiftedClock{}
	countries, err := peerCountries("KE")
	Expect(err).NotTo(HaveOccurred())
	farm, err = startPeerFarm(countries, clock.Now)
	Expect(err).NotTo(HaveOccurred())
	// The operator's default probe interval (5 minutes) is far longer than any
	// spec here, as in production: an idle channel is not probed during a spec.
	op, err = startOperator(counter.wrap(controlPlane.Config), clock, operatorOptions{})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if op != nil {
		Expect(op.stop()).To(Succeed())
	}
	if farm != nil {
		farm.stop()
	}
	Expect(controlPlane.Stop()).To(Succeed())
})
