// Package years runs a FocalPoint's certificates through years of simulated time
// against a real API server. It is a suite of its own because its reconcilers run on
// a fake clock years ahead of the main suite's manager, which must never see its
// objects.
package years

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

var (
	controlPlane *envtestutil.ControlPlane
	k8sClient    client.Client
	scheme       *runtime.Scheme
)

func TestYears(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "FocalPoint certificates over years")
}

var _ = BeforeSuite(func() {
	var err error
	controlPlane, err = envtestutil.StartControlPlane(GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	// Direct, never cached: each reconcile sees what the previous one stored.
	scheme, k8sClient = manageropts.Scheme(), controlPlane.Client
})

var _ = AfterSuite(func() {
	Expect(controlPlane.Stop()).To(Succeed())
})

// eventLog is an events.EventRecorder that keeps every event as "Type Reason: note".
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) Eventf(_ runtime.Object, _ runtime.Object, eventtype, reason, _ string, note string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, eventtype+" "+reason+": "+fmt.Sprintf(note, args...))
}

func (l *eventLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

// errCrashed is what a crashing client returns once the simulated process has died.
var errCrashed = errors.New("simulated crash: the manager process died before this write")

// crashingClient lets budget writes through and fails every later one, as if the
// manager died at that point: nothing it would have written after is stored.
type crashingClient struct {
	client.Client
	mu     sync.Mutex
	budget int
}

func (c *crashingClient) spend() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.budget <= 0 {
		return errCrashed
	}
	c.budget--
	return nil
}

func (c *crashingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if err := c.spend(); err != nil {
		return err
	}
	return c.Client.Create(ctx, obj, opts...)
}

func (c *crashingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	if err := c.spend(); err != nil {
		return err
	}
	return c.Client.Update(ctx, obj, opts...)
}

func (c *crashingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	if err := c.spend(); err != nil {
		return err
	}
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c *crashingClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	if err := c.spend(); err != nil {
		return err
	}
	return c.Client.Delete(ctx, obj, opts...)
}

func (c *crashingClient) Status() client.SubResourceWriter {
	return &crashingStatus{SubResourceWriter: c.Client.Status(), c: c}
}

type crashingStatus struct {
	client.SubResourceWriter
	c *crashingClient
}

func (s *crashingStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	if err := s.c.spend(); err != nil {
		return err
	}
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}

func (s *crashingStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if err := s.c.spend(); err != nil {
		return err
	}
	return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}
