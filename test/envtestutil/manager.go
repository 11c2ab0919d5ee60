package envtestutil

import (
	"context"
	"fmt"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
)

// NewManager returns a manager for cfg with the operator's production scheme, cache
// and client settings (manageropts), and without metrics or probe listeners, so
// several suites can run side by side.
func NewManager(cfg *rest.Config) (ctrl.Manager, error) {
	skipNameValidation := true
	return ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 manageropts.Scheme(),
		Cache:                  manageropts.Cache(nil, nil),
		Client:                 manageropts.Client(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: &skipNameValidation},
	})
}

// StartManager runs mgr in the background until the returned stop function is
// called; stop waits for the manager to return and reports its error.
func StartManager(mgr ctrl.Manager) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return func() error {
		cancel()
		if err := <-done; err != nil {
			return fmt.Errorf("manager: %w", err)
		}
		return nil
	}
}

// ResourceVersions reads each object from c (normally a direct, uncached client)
// and returns its resourceVersion by name, so a test can show that nothing was
// written between two snapshots.
func ResourceVersions(ctx context.Context, c client.Client, objects map[string]client.Object) (map[string]string, error) {
	out := make(map[string]string, len(objects))
	for what, obj := range objects {
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return nil, fmt.Errorf("reading %s: %w", what, err)
		}
		out[what] = obj.GetResourceVersion()
	}
	return out, nil
}
