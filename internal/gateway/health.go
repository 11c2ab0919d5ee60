// Package gateway is the FocalPoint's 24/7 intake service. In this release it
// serves only its liveness and readiness endpoints: the mutual-TLS request API
// arrives in a later release, and until then the gateway accepts no requests.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/go-logr/logr"
)

// Config is the configuration file the operator writes into the gateway's ConfigMap.
// It mirrors the FocalPoint's spec; unknown fields are rejected so that a version
// mismatch between operator and gateway is loud.
type Config struct {
	Country   string            `json:"country"`
	Authority string            `json:"authority"`
	Languages []string          `json:"languages"`
	Services  []string          `json:"services"`
	Contacts  []json.RawMessage `json:"contacts"`
	Roster    json.RawMessage   `json:"roster"`
}

// LoadConfig reads and checks the configuration file at path.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gateway configuration: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("gateway configuration %s: %w", path, err)
	}
	if len(cfg.Country) != 2 {
		return nil, fmt.Errorf("gateway configuration %s: country: %q is not an ISO 3166-1 alpha-2 code", path, cfg.Country)
	}
	return &cfg, nil
}

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
