package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// CertReloader serves the evidence API's TLS configuration from files and
// picks up new certificates, keys and client CA bundles without a restart.
// Each handshake takes the configuration current at that moment (through
// GetConfigForClient), so established connections keep the configuration
// they were made with and new ones get the new files.
//
// A reload that fails — say the certificate was replaced but its key not
// yet, as happens between two file writes — keeps the last good
// configuration and is retried at the next poll.
type CertReloader struct {
	certFile, keyFile, caFile string
	log                       logr.Logger
	metrics                   *Metrics

	mu          sync.Mutex // serialises reloads
	fingerprint [sha256.Size]byte
	current     atomic.Pointer[tls.Config]
}

// NewCertReloader loads the server certificate and key and the client CA
// bundle (PEM). It fails if any of them is unusable, so a vault never starts
// without mutual TLS. metrics may be nil.
func NewCertReloader(certFile, keyFile, caFile string, log logr.Logger, metrics *Metrics) (*CertReloader, error) {
	r := &CertReloader{certFile: certFile, keyFile: keyFile, caFile: caFile, log: log, metrics: metrics}
	if _, err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload re-reads the files and switches to them if their contents changed.
// It compares contents, not modification times, because Kubernetes updates a
// mounted Secret by swapping a symlink, which mtime polling can miss.
func (r *CertReloader) Reload() (changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() {
		if r.metrics == nil || (!changed && err == nil) {
			return
		}
		result := "loaded"
		if err != nil {
			result = "failed"
		}
		r.metrics.certReloads.WithLabelValues(result).Inc()
	}()
	var contents [3][]byte
	for i, name := range []string{r.certFile, r.keyFile, r.caFile} {
		if contents[i], err = os.ReadFile(name); err != nil {
			return false, fmt.Errorf("TLS files: %w", err)
		}
	}
	fp := sha256.Sum256(bytes.Join(contents[:], []byte{0}))
	if fp == r.fingerprint && r.current.Load() != nil {
		return false, nil
	}
	cert, err := tls.X509KeyPair(contents[0], contents[1])
	if err != nil {
		// tls errors name the mismatch, never the key bytes.
		return false, fmt.Errorf("server certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(contents[2]) {
		return false, fmt.Errorf("client CA bundle %s holds no PEM certificates", r.caFile)
	}
	r.current.Store(&tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		// HTTP/1.1 only: an aborted response (digest mismatch) then closes the
		// connection, which every client reports as a truncated body.
		NextProtos: []string{"http/1.1"},
	})
	r.fingerprint = fp
	return true, nil
}

// Run polls the files every interval until ctx ends.
func (r *CertReloader) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			changed, err := r.Reload()
			if err != nil {
				r.log.Error(err, "TLS reload failed; still serving the previous certificate")
			} else if changed {
				r.log.Info("TLS certificate or client CA reloaded", "cert", r.certFile, "clientCA", r.caFile)
			}
		}
	}
}

// ServerConfig returns the listener's TLS configuration.
func (r *CertReloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ClientAuth: tls.RequireAndVerifyClientCert,
		NextProtos: []string{"http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			if c := r.current.Load(); c != nil {
				return c, nil
			}
			return nil, errors.New("no TLS configuration loaded")
		},
	}
}
