// Package certmanager tests the FocalPoint controller's cert-manager mode
// (spec.certificates.issuerRef) against an API server that serves cert-manager's
// Certificate CRD, loaded from the cert-manager module pinned in hack/certmanager.
// No cert-manager runs: the tests play its part. The FocalPoint suite next door runs
// without these CRDs and proves the operator works without cert-manager.
package certmanager

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cybercoop/cybercoop-operator/controllers/focalpoint"
	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

var (
	controlPlane *envtestutil.ControlPlane
	// k8sClient talks to the API server directly, never through a cache.
	k8sClient  client.Client
	reconciler *focalpoint.Reconciler
	writes     *envtestutil.WriteCounter
	// testNow is Wednesday 18 November 2026, noon in Nairobi.
	testNow   = time.Date(2026, 11, 18, 9, 0, 0, 0, time.UTC)
	fakeClock = clocktesting.NewFakePassiveClock(testNow)
	// testNextWeek is Monday 23 November 2026, 00:00 in Nairobi.
	testNextWeek = time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC)
	stopManager  func() error
)

func TestCertManagerMode(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "FocalPoint controller with cert-manager")
}

// certificateCRD is cert-manager's Certificate CRD from the module pinned in
// hack/certmanager, found through the Go module cache (downloaded into it first when
// it is not there yet, as on a fresh CI runner).
func certificateCRD() (string, error) {
	const module = "github.com/cert-manager/cert-manager"
	pinned := filepath.Join(envtestutil.RepoRoot(), "hack", "certmanager")
	moduleDir := func() (string, error) {
		cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
		cmd.Dir = pinned
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	dir, err := moduleDir()
	if err == nil && dir == "" {
		download := exec.Command("go", "mod", "download", module)
		download.Dir = pinned
		if out, derr := download.CombinedOutput(); derr != nil {
			return "", fmt.Errorf("downloading %s pinned in hack/certmanager: %w: %s", module, derr, out)
		}
		dir, err = moduleDir()
	}
	if err != nil {
		return "", fmt.Errorf("locating %s pinned in hack/certmanager: %w", module, err)
	}
	if dir == "" {
		return "", fmt.Errorf("%s pinned in hack/certmanager is not in the module cache: run `cd hack/certmanager && go mod download`", module)
	}
	crd := filepath.Join(dir, "deploy", "crds", "cert-manager.io_certificates.yaml")
	if _, err := os.Stat(crd); err != nil {
		return "", fmt.Errorf("cert-manager's Certificate CRD is not where the pinned version keeps it: %w", err)
	}
	return crd, nil
}

var _ = BeforeSuite(func() {
	crd, err := certificateCRD()
	Expect(err).NotTo(HaveOccurred())
	controlPlane, err = envtestutil.StartControlPlane(GinkgoWriter, crd)
	Expect(err).NotTo(HaveOccurred())
	cfg := controlPlane.Config
	k8sClient = controlPlane.Client

	mgr, err := envtestutil.NewManager(cfg)
	Expect(err).NotTo(HaveOccurred())
	installed, err := focalpoint.CertManagerInstalled(mgr.GetRESTMapper())
	Expect(err).NotTo(HaveOccurred())
	Expect(installed).To(BeTrue(), "the Certificate CRD was loaded, so cert-manager must be found")

	writes = envtestutil.NewWriteCounter(mgr.GetClient())
	reconciler = &focalpoint.Reconciler{
		Client:       manageropts.ReconcilerClient(writes, mgr.GetAPIReader()),
		Scheme:       mgr.GetScheme(),
		Recorder:     mgr.GetEventRecorder("cybercoop-operator"),
		Clock:        fakeClock,
		GatewayImage: "registry.test/cybercoop/cybercoop-operator:test",
	}
	Expect(reconciler.SetupWithManager(mgr)).To(Succeed())
	stopManager = envtestutil.StartManager(mgr)
})

var _ = AfterSuite(func() {
	if stopManager != nil {
		Expect(stopManager()).To(Succeed())
	}
	Expect(controlPlane.Stop()).To(Succeed())
})
