// Package gateway is the FocalPoint's 24/7 intake service: the mutual-TLS API
// peer States send requests to (recorded in the evidence vault and answered with a
// signed receipt) and local officers send requests out through, plus its health,
// readiness and metrics endpoints.
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

// HealthServer answers /healthz (the process is alive), /readyz (the
// configuration loaded and the gateway can serve) and /metrics.
type HealthServer struct {
	Addr string
	// Gateway is the request API whose state /readyz reports; nil is not ready.
	Gateway *Server
	Log     logr.Logger
}

// Handler returns the probe endpoints.
func (h *HealthServer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if h.Gateway == nil || h.Gateway.Self() == "" {
			http.Error(w, "configuration not loaded", http.StatusServiceUnavailable)
			return
		}
		// Without a vault the gateway still serves its trust bundle and schemas, and
		// refuses requests with 503; it is ready, and says what is missing.
		note := "requests are recorded in the vault"
		if err := h.Gateway.Ready(); err != nil {
			note = "requests are refused: " + err.Error()
		}
		_, _ = fmt.Fprintf(w, "ok: point of contact for %s; %s\n", h.Gateway.Self(), note)
	})
	if h.Gateway != nil {
		mux.Handle("GET /metrics", h.Gateway.MetricsHandler())
	}
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
