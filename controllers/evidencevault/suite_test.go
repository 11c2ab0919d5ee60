package evidencevault

import (
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/internal/vault/s3test"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

const testImage = "registry.test/cybercoop/cybercoop-operator:test"

var (
	controlPlane *envtestutil.ControlPlane
	k8sClient    client.Client // direct, never cached
	scheme       *runtime.Scheme
	vaults       *Reconciler
	// evClock is the EvidenceVault controller's clock; the FocalPoint's is real.
	evClock     = clocktesting.NewFakeClock(time.Now())
	stopManager func() error

	// endpoints are the vault processes the specs run, by EvidenceVault; any other
	// vault is unreachable, as in a cluster without pods.
	endpointsMu sync.Mutex
	endpoints   = map[string]string{}
)

func TestEvidenceVault(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "EvidenceVault controller")
}

var _ = BeforeSuite(func() {
	var err error
	controlPlane, err = envtestutil.StartControlPlane(GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	cfg := controlPlane.Config
	scheme, k8sClient = manageropts.Scheme(), controlPlane.Client

	mgr, err := envtestutil.NewManager(cfg)
	Expect(err).NotTo(HaveOccurred())
	c := manageropts.ReconcilerClient(mgr.GetClient(), mgr.GetAPIReader())
	Expect((&focalpoint.Reconciler{Client: c, Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder("cybercoop-operator"),
		GatewayImage: testImage}).SetupWithManager(mgr)).To(Succeed())
	vaults = &Reconciler{Client: c, Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder("cybercoop-operator"),
		Clock: evClock, VaultImage: testImage, PollInterval: time.Second,
		VaultEndpoint: func(ev *cybercoopv1alpha1.EvidenceVault) string {
			endpointsMu.Lock()
			defer endpointsMu.Unlock()
			if e, ok := endpoints[ev.Namespace+"/"+ev.Name]; ok {
				return e
			}
			return "https://127.0.0.1:1" // nothing listens: the vault is unreachable
		}}
	Expect(vaults.SetupWithManager(mgr)).To(Succeed())
	stopManager = envtestutil.StartManager(mgr)
})

var _ = AfterSuite(func() {
	if stopManager != nil {
		Expect(stopManager()).To(Succeed())
	}
	Expect(controlPlane.Stop()).To(Succeed())
	s3test.Stop()
})
