// Package twocountry is the evidence that two States cooperate: Viet Nam and France,
// each with a FocalPoint, an EvidenceVault and a CooperationChannel to the other,
// reconciled by the operator against a real API server; each country's vault and
// gateway run as processes of the test on loopback ports with the files the
// operator's Secrets and ConfigMaps hold, as a kubelet would mount them.
package twocountry

import (
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/controllers/cooperationchannel"
	"github.com/cybercoop/cybercoop-operator/controllers/evidencevault"
	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/controllers/jointinvestigation"
	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

const testImage = "registry.test/cybercoop/cybercoop-operator:test"

var (
	controlPlane *envtestutil.ControlPlane
	k8sClient    client.Client // direct, never cached
	stopManager  func() error

	// vaultEndpoints are the vault processes the test runs, by EvidenceVault.
	vaultEndpointsMu sync.Mutex
	vaultEndpoints   = map[string]string{}
	// gatewayEndpoints are the gateway processes the test runs, by FocalPoint
	// (guarded by vaultEndpointsMu too).
	gatewayEndpoints = map[string]string{}
)

func TestTwoCountries(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Two countries")
}

var _ = BeforeSuite(func() {
	var err error
	controlPlane, err = envtestutil.StartControlPlane(GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	k8sClient = controlPlane.Client

	mgr, err := envtestutil.NewManager(controlPlane.Config)
	Expect(err).NotTo(HaveOccurred())
	c := manageropts.ReconcilerClient(mgr.GetClient(), mgr.GetAPIReader())
	recorder := mgr.GetEventRecorder("cybercoop-operator")
	Expect((&focalpoint.Reconciler{Client: c, Scheme: mgr.GetScheme(), Recorder: recorder, GatewayImage: testImage}).SetupWithManager(mgr)).To(Succeed())
	Expect((&evidencevault.Reconciler{Client: c, Scheme: mgr.GetScheme(), Recorder: recorder, VaultImage: testImage, PollInterval: time.Second,
		VaultEndpoint: func(ev *cybercoopv1alpha1.EvidenceVault) string {
			vaultEndpointsMu.Lock()
			defer vaultEndpointsMu.Unlock()
			if e, ok := vaultEndpoints[ev.Namespace+"/"+ev.Name]; ok {
				return e
			}
			return "https://127.0.0.1:1"
		}}).SetupWithManager(mgr)).To(Succeed())
	Expect((&cooperationchannel.Reconciler{Client: c, Scheme: mgr.GetScheme(), Recorder: recorder, ProbeInterval: time.Second,
		GatewayEndpoint: func(fp *cybercoopv1alpha1.FocalPoint) (string, string) {
			vaultEndpointsMu.Lock()
			defer vaultEndpointsMu.Unlock()
			return gatewayEndpoints[fp.Namespace+"/"+fp.Name], fp.Name + "-gateway." + fp.Namespace + ".svc"
		}}).SetupWithManager(mgr)).To(Succeed())
	Expect((&jointinvestigation.Reconciler{Client: c, Scheme: mgr.GetScheme(), RefreshInterval: 2 * time.Second,
		GatewayEndpoint: func(fp *cybercoopv1alpha1.FocalPoint) (string, string) {
			vaultEndpointsMu.Lock()
			defer vaultEndpointsMu.Unlock()
			return gatewayEndpoints[fp.Namespace+"/"+fp.Name], fp.Name + "-gateway." + fp.Namespace + ".svc"
		}}).SetupWithManager(mgr)).To(Succeed())
	stopManager = envtestutil.StartManager(mgr)
})

var _ = AfterSuite(func() {
	if stopManager != nil {
		Expect(stopManager()).To(Succeed())
	}
	if controlPlane != nil {
		Expect(controlPlane.Stop()).To(Succeed())
	}
})
