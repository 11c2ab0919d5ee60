package conventionprofile

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

// The suite runs the ConventionProfile controller alone against a real API server:
// the specs write the inputs (FocalPoints, EvidenceVaults, CooperationChannels with
// their status, the gateway's Deployment and disruption budget) as the other
// controllers and the cluster would, so each spec decides exactly what breaks.
var (
	controlPlane *envtestutil.ControlPlane
	// k8sClient talks to the API server directly, never through a cache.
	k8sClient   client.Client
	stopManager func() error
)

func TestConventionProfile(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "ConventionProfile controller")
}

var _ = BeforeSuite(func() {
	var err error
	controlPlane, err = envtestutil.StartControlPlane(GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	k8sClient = controlPlane.Client

	mgr, err := envtestutil.NewManager(controlPlane.Config)
	Expect(err).NotTo(HaveOccurred())
	// The real clock: a peer CA expiring a few seconds from now must flip its
	// control at that time through the controller's own requeue.
	Expect((&Reconciler{
		Client:   manageropts.ReconcilerClient(mgr.GetClient(), mgr.GetAPIReader()),
		Recorder: mgr.GetEventRecorder("cybercoop-operator"),
	}).SetupWithManager(mgr)).To(Succeed())
	stopManager = envtestutil.StartManager(mgr)
})

var _ = AfterSuite(func() {
	if stopManager != nil {
		Expect(stopManager()).To(Succeed())
	}
	Expect(controlPlane.Stop()).To(Succeed())
})
