package focalpoint

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

const testGatewayImage = "registry.test/cybercoop/cybercoop-operator:test"

var (
	testEnv *envtest.Environment
	// k8sClient talks to the API server directly, never through a cache, so
	// assertions see what is stored.
	k8sClient  client.Client
	scheme     *runtime.Scheme
	reconciler *Reconciler
	writes     *envtestutil.WriteCounter
	// apiReader reads from the API server, bypassing the manager's cache.
	apiReader client.Reader
	// testNow is Wednesday 18 November 2026, noon in Nairobi.
	testNow   = time.Date(2026, 11, 18, 9, 0, 0, 0, time.UTC)
	fakeClock = clocktesting.NewFakePassiveClock(testNow)
	// testNextWeek is Monday 23 November 2026, 00:00 in Nairobi.
	testNextWeek = time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC)
	cancel       context.CancelFunc
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
	logf.SetLogger(zap.New(zap.WriteTo(io.MultiWriter(GinkgoWriter, managerLog)), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)

	var err error
	testEnv, err = envtestutil.NewEnvironment()
	Expect(err).NotTo(HaveOccurred())
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())

	scheme = runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(cybercoopv1alpha1.AddToScheme(scheme))
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	// The production cache and client settings: only labelled Secrets are cached.
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  manageropts.Cache(nil, nil),
		Client:                 manageropts.Client(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptrTo(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	apiReader = mgr.GetAPIReader()
	writes = envtestutil.NewWriteCounter(mgr.GetClient())
	reconciler = &Reconciler{
		Client:       manageropts.ReconcilerClient(writes, mgr.GetAPIReader()),
		Scheme:       mgr.GetScheme(),
		Recorder:     mgr.GetEventRecorder("cybercoop-operator"),
		Clock:        fakeClock,
		GatewayImage: testGatewayImage,
	}
	Expect(reconciler.SetupWithManager(mgr)).To(Succeed())

	var ctx context.Context
	ctx, cancel = context.WithCancel(context.Background())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

func ptrTo[T any](v T) *T { return &v }
