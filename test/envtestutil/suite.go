package envtestutil

import (
	"io"
	"time"

	. "github.com/onsi/gomega" //nolint:staticcheck // the suites' assertion language
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
)

// ControlPlane is a suite's kube-apiserver and etcd, with a client that talks to
// the API server directly, never through a cache, so assertions see what is stored.
type ControlPlane struct {
	Env    *envtest.Environment
	Config *rest.Config
	Client client.Client
}

// StartControlPlane is every envtest suite's start-up: the manager's log goes to
// logTo, Eventually waits up to 30 seconds polling every 100 milliseconds, and the
// API server serves the project's CRDs and those in extraCRDs.
func StartControlPlane(logTo io.Writer, extraCRDs ...string) (*ControlPlane, error) {
	logf.SetLogger(zap.New(zap.WriteTo(logTo), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	env, err := NewEnvironment(extraCRDs...)
	if err != nil {
		return nil, err
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: manageropts.Scheme()})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &ControlPlane{Env: env, Config: cfg, Client: c}, nil
}

// Stop stops the API server and etcd; a nil control plane (start-up failed) is fine.
func (cp *ControlPlane) Stop() error {
	if cp == nil {
		return nil
	}
	return cp.Env.Stop()
}
