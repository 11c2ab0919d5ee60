// Package gateway is the FocalPoint's 24/7 intake service. In this release it
// serves only its liveness and readiness endpoints: the mutual-TLS request API
// arrives in a later release, and until then the gateway accepts no requests.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
)

// HealthServer answers /healthz (the process is alive) and /readyz (the
// configuration loaded and the gateway can serve).
type HealthServer struct {
	Addr   string
	Config *Config
	Log    logr.Logger
}

// Handler returns the probe endpoints.
func (h *HealthServer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if h.Config == nil {
			http.Error(w, "configuration not loaded", http.StatusServiceUnavailable)
			return
		}
		_, _ = fmt.Fprintf(w, "ok: point of contact for %s\n", h.Config.Country)
	})
	return mux
}

// Run serves until ctx is done, then shuts down gracefully.
func (h *HealthServer) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", h.Addr)
	if err != nil {
		return fmt.Errorf("--health-addr %s: %w", h.Addr, err)
	}
	srv := &http.Server{Handler: h.Handler(), ReadHeaderTimeout: 5 * time.Second}
	h.Log.Info("serving health and readiness probes", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
