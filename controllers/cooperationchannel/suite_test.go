package cooperationchannel

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

const testImage = "registry.test/cybercoop/cybercoop-operator:test"

// testProbeInterval is how often the suite's manager probes peers of channels that
// set no spec.probe.interval, so a spec sees a peer's change within seconds.
const testProbeInterval = 2 * time.Second

var (
	controlPlane *envtestutil.ControlPlane
	k8sClient    client.Client // direct, never cached
	scheme       *runtime.Scheme
	channels     *Reconciler
	stopManager  func() error
)

func TestCooperationChannel(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "CooperationChannel controller")
}

var _ = BeforeSuite(func() {
	var err error
	controlPlane, err = envtestutil.StartControlPlane(GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	scheme, k8sClient = manageropts.Scheme(), controlPlane.Client

	mgr, err := envtestutil.NewManager(controlPlane.Config)
	Expect(err).NotTo(HaveOccurred())
	// The reconciler client with the names cache, as cmd/cybercoop wires it; the
	// channel's watch of the Secrets people name shares that cache.
	names, err := manageropts.NamesCache(mgr, nil)
	Expect(err).NotTo(HaveOccurred())
	c := manageropts.ReconcilerClientWithNames(mgr.GetClient(), mgr.GetAPIReader(), names)
	// The FocalPoint's controller runs the national CA the channels' certificates
	// come from. Both run on the real clock: the probes verify real handshakes.
	Expect((&focalpoint.Reconciler{Client: c, Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder("cybercoop-operator"),
		GatewayImage: testImage}).SetupWithManager(mgr)).To(Succeed())
	channels = &Reconciler{Client: c, APIReader: mgr.GetAPIReader(), SecretNames: names, Scheme: mgr.GetScheme(),
		Recorder: mgr.GetEventRecorder("cybercoop-operator"), ProbeInterval: testProbeInterval}
	Expect(channels.SetupWithManager(mgr)).To(Succeed())
	stopManager = envtestutil.StartManager(mgr)
})

var _ = AfterSuite(func() {
	if stopManager != nil {
		Expect(stopManager()).To(Succeed())
	}
	Expect(controlPlane.Stop()).To(Succeed())
})
