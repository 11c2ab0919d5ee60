package vault

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cybercoop/cybercoop-operator/internal/reload"
)

// HTTP API (mutual TLS only; the actor is the client certificate's subject):
//
//	POST   /v1/objects                  ingest: multipart/form-data, part "metadata" (JSON Metadata) then part "object"
//	GET    /v1/objects                  list live objects
//	GET    /v1/objects/{digest}         read; header Cybercoop-Authorisation-Reference required
//	GET    /v1/objects/{digest}/export  tar of manifest, custody record and object; same header
//	POST   /v1/objects/{digest}/hold    place a legal hold: {"reference": …, "legalBasis": …}
//	POST   /v1/objects/{digest}/release release a legal hold: same body
//	DELETE /v1/objects/{digest}         expire one object (refused before retention ends or under hold)
//	POST   /v1/expire                   expire every object whose retention ended and that is not held
//	POST   /v1/verify                   verify chain and objects; 200 with the report either way
//	GET    /status                      Status
//
// Health port (plain HTTP, like kubelet probes; no evidence is reachable):
//
//	GET /healthz, /readyz, /metrics
const (
	// AuthorisationHeader carries the authorisation reference a reader presents.
	AuthorisationHeader = "Cybercoop-Authorisation-Reference"
	// DigestHeader carries an object's content address in responses.
	DigestHeader = "Cybercoop-Digest"
	maxJSONBody  = 16 << 10
)

// HoldRequest is the body of hold and release requests.
type HoldRequest struct {
	Reference  string `json:"reference"`
	LegalBasis string `json:"legalBasis"`
}

type apiError struct {
	Error string `json:"error"`
}

// NewHandler returns the evidence API. It must be served over the mutual-TLS
// listener; requests without a verified client certificate are refused.
func NewHandler(v *Vault, log logr.Logger) http.Handler {
	h := &handler{v: v, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/objects", h.ingest)
	mux.HandleFunc("GET /v1/objects", h.list)
	mux.HandleFunc("GET /v1/objects/{digest}", h.read)
	mux.HandleFunc("GET /v1/objects/{digest}/export", h.export)
	mux.HandleFunc("POST /v1/objects/{digest}/hold", h.hold)
	mux.HandleFunc("POST /v1/objects/{digest}/release", h.release)
	mux.HandleFunc("DELETE /v1/objects/{digest}", h.expireOne)
	mux.HandleFunc("POST /v1/expire", h.expireAll)
	mux.HandleFunc("POST /v1/verify", h.verify)
	mux.HandleFunc("GET /status", h.status)
	return h.authenticate(mux)
}

type handler struct {
	v   *Vault
	log logr.Logger
}

type actorKey struct{}

// authenticate puts the verified client certificate's subject in the context.
// The TLS layer has already required and verified the certificate; this is
// the second lock on the door in case the handler is ever mounted elsewhere.
func (h *handler) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
			writeJSON(w, http.StatusUnauthorized, apiError{"a client certificate signed by the vault's client CA is required"})
			return
		}
		actor := r.TLS.PeerCertificates[0].Subject.String()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, actor)))
	})
}

func actorOf(r *http.Request) string { return r.Context().Value(actorKey{}).(string) }

func writeJSON(w http.ResponseWriter, code int, body any) {
	// Encode before sending the status line, so a value that cannot be
	// encoded becomes a 500 instead of a 200 with a truncated body.
	data, err := json.MarshalIndent(body, "", "  ")
	if err != nil {
		http.Error(w, "encoding the response failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	// The status line is sent; a failed write means the client went away and
	// there is nobody left to tell.
	w.Write(append(data, '\n')) //nolint:errcheck // response already committed; the client is gone
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrInvalidMetadata):
		code = http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrNotAuthorised):
		code = http.StatusForbidden
	case errors.Is(err, ErrRetentionActive), errors.Is(err, ErrUnderHold), errors.Is(err, ErrHoldConflict):
		code = http.StatusConflict
	}
	if code == http.StatusInternalServerError {
		h.log.Error(err, "request failed", "method", r.Method, "path", r.URL.Path, "actor", actorOf(r))
	}
	writeJSON(w, code, apiError{err.Error()})
}

func (h *handler) digest(w http.ResponseWriter, r *http.Request) (Digest, bool) {
	d, err := ParseDigest(r.PathValue("digest"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return "", false
	}
	return d, true
}

// ingest reads the metadata part whole (it is small and bounded) and streams
// the object part straight into the sealing pipeline.
func (h *handler) ingest(w http.ResponseWriter, r *http.Request) {
	mr, err := r.MultipartReader()
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"ingest expects multipart/form-data with parts \"metadata\" then \"object\": " + err.Error()})
		return
	}
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "metadata" {
		writeJSON(w, http.StatusBadRequest, apiError{"ingest: the first part must be \"metadata\" (JSON)"})
		return
	}
	raw, err := io.ReadAll(io.LimitReader(part, MaxMetadataBytes+1))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"ingest: reading metadata: " + err.Error()})
		return
	}
	if len(raw) > MaxMetadataBytes {
		writeJSON(w, http.StatusRequestEntityTooLarge, apiError{fmt.Sprintf("ingest: metadata exceeds the limit of %d bytes", MaxMetadataBytes)})
		return
	}
	meta, err := ParseMetadata(raw, h.v.now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	part, err = mr.NextPart()
	if err != nil || part.FormName() != "object" {
		writeJSON(w, http.StatusBadRequest, apiError{"ingest: the second part must be \"object\" (the evidence bytes)"})
		return
	}
	res, err := h.v.Ingest(r.Context(), actorOf(r), meta, part)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	code := http.StatusCreated
	if res.Duplicate {
		code = http.StatusOK
	}
	writeJSON(w, code, res)
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.v.List())
}

// read sends the verified plaintext. Content-Length is set, and the final
// chunk is released only after the digest verified (see ObjectReader), so on a
// mismatch the handler aborts the connection and the client sees a short,
// failed body — never a complete-looking unverified one. The first chunk is
// decrypted before the status line, so small objects fail with a clean 500.
func (h *handler) read(w http.ResponseWriter, r *http.Request) {
	d, ok := h.digest(w, r)
	if !ok {
		return
	}
	obj, err := h.v.Read(r.Context(), actorOf(r), d, r.Header.Get(AuthorisationHeader))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer obj.Close()
	buf := make([]byte, 64<<10)
	n, err := io.ReadFull(obj, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		h.fail(w, r, err)
		return
	}
	info := obj.Info()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	w.Header().Set(DigestHeader, string(info.Digest))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(buf[:n]); err != nil {
		return
	}
	if _, err := io.CopyBuffer(w, obj, buf); err != nil {
		h.log.Error(err, "aborting object response", "object", d, "actor", actorOf(r))
		panic(http.ErrAbortHandler)
	}
}

func (h *handler) export(w http.ResponseWriter, r *http.Request) {
	d, ok := h.digest(w, r)
	if !ok {
		return
	}
	// Authorisation errors must become clean responses, so the archive
	// starts only once the first byte is written.
	lw := &lazyHeaderWriter{w: w, header: func() {
		w.Header().Set("Content-Type", "application/x-tar")
		w.Header().Set(DigestHeader, string(d))
		w.WriteHeader(http.StatusOK)
	}}
	if err := h.v.Export(r.Context(), actorOf(r), d, r.Header.Get(AuthorisationHeader), lw); err != nil {
		if !lw.started {
			h.fail(w, r, err)
			return
		}
		h.log.Error(err, "aborting export response", "object", d, "actor", actorOf(r))
		panic(http.ErrAbortHandler)
	}
}

type lazyHeaderWriter struct {
	w       io.Writer
	header  func()
	started bool
}

func (l *lazyHeaderWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.header()
	}
	return l.w.Write(p)
}

func (h *handler) decodeHold(w http.ResponseWriter, r *http.Request) (Digest, HoldRequest, bool) {
	d, ok := h.digest(w, r)
	if !ok {
		return "", HoldRequest{}, false
	}
	var req HoldRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{`expected JSON {"reference": "…", "legalBasis": "…"}: ` + err.Error()})
		return "", HoldRequest{}, false
	}
	return d, req, true
}

func (h *handler) hold(w http.ResponseWriter, r *http.Request) {
	if d, req, ok := h.decodeHold(w, r); ok {
		e, err := h.v.Hold(actorOf(r), d, req.Reference, req.LegalBasis)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, e)
	}
}

func (h *handler) release(w http.ResponseWriter, r *http.Request) {
	if d, req, ok := h.decodeHold(w, r); ok {
		e, err := h.v.Release(actorOf(r), d, req.Reference, req.LegalBasis)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, e)
	}
}

func (h *handler) expireOne(w http.ResponseWriter, r *http.Request) {
	d, ok := h.digest(w, r)
	if !ok {
		return
	}
	if err := h.v.ExpireObject(actorOf(r), d); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]Digest{"expired": {d}})
}

func (h *handler) expireAll(w http.ResponseWriter, r *http.Request) {
	expired, err := h.v.Expire(actorOf(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if expired == nil {
		expired = []Digest{}
	}
	writeJSON(w, http.StatusOK, map[string][]Digest{"expired": expired})
}

func (h *handler) verify(w http.ResponseWriter, r *http.Request) {
	rep, err := h.v.Verify(r.Context(), actorOf(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.v.Status())
}

// NewHealthHandler serves probes and metrics. Readiness means the vault is
// open and its last verification, if any, found nothing wrong.
func NewHealthHandler(v *Vault) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n") //nolint:errcheck // probe response; a failed write means the prober went away
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		s := v.Status()
		if s.LastVerification != nil && !s.LastVerification.OK {
			http.Error(w, fmt.Sprintf("last verification (entry %d) found %d problems", s.LastVerification.Sequence, s.LastVerification.Findings), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n") //nolint:errcheck // probe response; a failed write means the prober went away
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(v.metrics.Registry, promhttp.HandlerOpts{}))
	return mux
}

// ServeConfig configures Serve.
type ServeConfig struct {
	// Listen is the mutual-TLS evidence API address, e.g. ":8443".
	Listen string
	// HealthListen is the plain-HTTP probe and metrics address; empty disables it.
	HealthListen string
	// CertFile, KeyFile: the server certificate and key (PEM).
	CertFile, KeyFile string
	// ClientCAFile is the PEM bundle client certificates must chain to.
	ClientCAFile string
	// ReloadInterval is how often certificate and keyring files are re-read.
	ReloadInterval time.Duration
	// KeyringPath, if set, is re-read every ReloadInterval.
	KeyringPath string
	Logger      logr.Logger
	// Ready, if set, is called with the bound addresses once both listen.
	Ready func(api, health net.Addr)
}

// Serve runs the evidence API and the health endpoints until ctx ends, then
// shuts down gracefully, letting requests in flight finish.
func Serve(ctx context.Context, v *Vault, cfg ServeConfig) error {
	if cfg.ReloadInterval <= 0 {
		cfg.ReloadInterval = 30 * time.Second
	}
	tlsFiles, err := reload.NewMutualTLS(cfg.CertFile, cfg.KeyFile, cfg.ClientCAFile)
	if err != nil {
		return fmt.Errorf("TLS files: %w", err)
	}
	apiLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on --listen %s: %w", cfg.Listen, err)
	}
	servers := []*http.Server{{
		Handler:           NewHandler(v, cfg.Logger),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(logrWriter{cfg.Logger}, "", 0),
	}}
	listeners := []net.Listener{tls.NewListener(apiLn, tlsFiles.ServerConfig())}
	var healthAddr net.Addr
	if cfg.HealthListen != "" {
		hl, err := net.Listen("tcp", cfg.HealthListen)
		if err != nil {
			apiLn.Close()
			return fmt.Errorf("listening on --health-listen %s: %w", cfg.HealthListen, err)
		}
		healthAddr = hl.Addr()
		servers = append(servers, &http.Server{Handler: NewHealthHandler(v), ReadHeaderTimeout: 10 * time.Second})
		listeners = append(listeners, hl)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		tlsFiles.Run(ctx, cfg.ReloadInterval, func(_ bool, err error) {
			if err != nil {
				v.metrics.certReloads.WithLabelValues("failed").Inc()
				cfg.Logger.Error(err, "TLS reload failed; still serving the previous certificate")
				return
			}
			v.metrics.certReloads.WithLabelValues("loaded").Inc()
			cfg.Logger.Info("TLS certificate or client CA reloaded", "cert", cfg.CertFile, "clientCA", cfg.ClientCAFile)
		})
	})
	if cfg.KeyringPath != "" {
		keyringFiles, err := watchKeyring(v, cfg.KeyringPath)
		if err != nil {
			apiLn.Close()
			return err
		}
		wg.Go(func() {
			keyringFiles.Run(ctx, cfg.ReloadInterval, func(_ bool, err error) {
				if err != nil {
					cfg.Logger.Error(err, "keyring reload failed or refused; keeping the current keyring")
					return
				}
				cfg.Logger.Info("keyring reloaded", "keyring", v.Keyring().String())
			})
		})
	}
	errs := make(chan error, len(servers))
	for i, srv := range servers {
		wg.Go(func() {
			if err := srv.Serve(listeners[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- err
				cancel()
			}
		})
	}
	if cfg.Ready != nil {
		cfg.Ready(apiLn.Addr(), healthAddr)
	}
	<-ctx.Done()
	shutdownCtx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	for i, srv := range servers {
		if err := srv.Shutdown(shutdownCtx); err != nil {
			// Requests still running after the grace period are cut off
			// rather than left to hold the process open.
			cfg.Logger.Error(err, "graceful shutdown did not finish; closing remaining connections", "addr", listeners[i].Addr().String())
			if err := srv.Close(); err != nil {
				cfg.Logger.Error(err, "closing server")
			}
		}
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// watchKeyring re-reads the keyring file when it changes and hands it to the
// vault, which refuses a keyring that cannot read what is stored. The first
// load only records the file's contents: the vault was opened with it.
func watchKeyring(v *Vault, path string) (*reload.Files, error) {
	first := true
	return reload.NewFiles(func([][]byte) error {
		if first {
			first = false
			return nil
		}
		kr, err := LoadKeyring(path)
		if err != nil {
			return err
		}
		if kr.String() == v.Keyring().String() {
			return nil
		}
		return v.ReloadKeyring(kr)
	}, path)
}

// logrWriter routes net/http's own messages (TLS handshake failures: wrong
// CA, expired or missing client certificates) into the structured log.
type logrWriter struct{ log logr.Logger }

func (w logrWriter) Write(p []byte) (int, error) {
	w.log.Info(strings.TrimSpace(string(p)), "component", "http")
	return len(p), nil
}
