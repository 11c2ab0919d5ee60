package focalpoint

import (
	"bytes"
	"io"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

const testGatewayImage = "registry.test/cybercoop/cybercoop-operator:test"

var (
	controlPlane *envtestutil.ControlPlane
	// k8sClient talks to the API server directly, never through a cache, so
	// assertions see what is stored.
	k8sClient    client.Client
	scheme       *runtime.Scheme
	fpReconciler *Reconciler
	writes       *envtestutil.WriteCounter
	// apiReader reads from the API server, bypassing the manager's cache.
	apiReader client.Reader
	// testNow is Wednesday 18 November 2026, noon in Nairobi.
	testNow   = time.Date(2026, 11, 18, 9, 0, 0, 0, time.UTC)
	fakeClock = clocktesting.NewFakePassiveClock(testNow)
	// testNextWeek is Monday 23 November 2026, 00:00 in Nairobi.
	testNextWeek = time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC)
	stopManager  func() error
	managerLog   = &syncBuffer{}
)

// syncBuffer is a bytes.Buffer safe for the manager's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestFocalPoint(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "FocalPoint controller")
}

var _ = BeforeSuite(func() {
	// Every log line the manager writes is kept, so a test can prove no key leaks.
	var err error
	controlPlane, err = envtestutil.StartControlPlane(io.MultiWriter(GinkgoWriter, managerLog))
	Expect(err).NotTo(HaveOccurred())
	cfg := controlPlane.Config
	scheme, k8sClient = manageropts.Scheme(), controlPlane.Client

	mgr, err := envtestutil.NewManager(cfg)
	Expect(err).NotTo(HaveOccurred())
	apiReader = mgr.GetAPIReader()
	writes = envtestutil.NewWriteCounter(mgr.GetClient())
	fpReconciler = &Reconciler{
		Client:       manageropts.ReconcilerClient(writes, mgr.GetAPIReader()),
		Scheme:       mgr.GetScheme(),
		Recorder:     mgr.GetEventRecorder("cybercoop-operator"),
		Clock:        fakeClock,
		GatewayImage: testGatewayImage,
	}
	Expect(fpReconciler.SetupWithManager(mgr)).To(Succeed())
	stopManager = envtestutil.StartManager(mgr)
})

var _ = AfterSuite(func() {
	if stopManager != nil {
		Expect(stopManager()).To(Succeed())
	}
	Expect(controlPlane.Stop()).To(Succeed())
})

func ptrTo[T any](v T) *T { return &v }
