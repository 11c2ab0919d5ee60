package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/requests"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/reload"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// Server is the gateway's mutual-TLS request API.
type Server struct {
	Paths Paths
	Log   logr.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PerPeerConcurrency bounds the requests one peer (or the officers together) has
	// in flight; more are answered 429. Default 16.
	PerPeerConcurrency int
	// ReloadInterval is how often the files are checked for changes. Default 5s.
	ReloadInterval time.Duration
	// Timeouts bound slow clients; zero fields take their defaults.
	Timeouts Timeouts
	// CaseScanInterval is how often the requests in the vault are scanned for
	// the open and overdue gauges and the overdue log lines. Default 1m.
	CaseScanInterval time.Duration

	files   *reload.Files
	current atomic.Pointer[state]
	// lastScan is the latest summary of the cases (scanCases, casesSummary).
	lastScan  atomic.Pointer[wire.CasesSummary]
	summaryMu sync.Mutex
	slots     sync.Map // peer country or "officers" -> chan struct{}
	// vaultSlots are the gateway's vault ingests in flight.
	vaultSlots chan struct{}
	receipts   receiptCache
	metrics    *metrics
}

// Timeouts bound what a slow or idle client holds.
type Timeouts struct {
	// Header is how long the request line and headers may take. Default 10s.
	Header time.Duration
	// Read is how long the whole request, body included, may take. Default 30s.
	Read time.Duration
	// Write is how long an answer may take; an outbound request waits for the
	// peer, whose client times out at 30s. Default 60s.
	Write time.Duration
	// Idle is how long a kept-alive connection may wait for its next request.
	// Default 2m.
	Idle time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	if t.Header <= 0 {
		t.Header = 10 * time.Second
	}
	if t.Read <= 0 {
		t.Read = 30 * time.Second
	}
	if t.Write <= 0 {
		t.Write = 60 * time.Second
	}
	if t.Idle <= 0 {
		t.Idle = 2 * time.Minute
	}
	return t
}

// Load reads every file once; the gateway never starts on a state it could not read.
func (s *Server) Load() error {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.PerPeerConcurrency == 0 {
		s.PerPeerConcurrency = 16
	}
	if s.ReloadInterval == 0 {
		s.ReloadInterval = 5 * time.Second
	}
	if s.metrics == nil {
		s.metrics = newMetrics()
	}
	s.vaultSlots = make(chan struct{}, vaultIngests)
	files, err := reload.NewFiles(func([][]byte) error {
		st, err := loadState(s.Paths)
		if err != nil {
			return err
		}
		if old := s.current.Swap(st); old != nil {
			old.close()
		}
		s.metrics.channels.Set(float64(len(st.channels)))
		return nil
	}, s.Paths.watched()...)
	if err != nil {
		return err
	}
	s.files = files
	return nil
}

// Ready reports whether the gateway can accept requests, and why not.
func (s *Server) Ready() error {
	st := s.current.Load()
	if st == nil {
		return errors.New("configuration not loaded")
	}
	if st.vault == nil {
		return errors.New(st.vaultError)
	}
	return nil
}

// Self is the party the gateway serves, once loaded: its State's alpha-2 code,
// or the service provider's identifier in provider mode.
func (s *Server) Self() string {
	if st := s.current.Load(); st != nil {
		return st.cfg.Self()
	}
	return ""
}

// TLSConfig takes the state current at each handshake: a renewed serving
// certificate, a new channel or a peer CA learned during a rotation is used by the
// next connection without a restart. A client whose certificate chains to no CA of
// any channel nor to the State's own CA fails the handshake.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ClientAuth: tls.RequireAndVerifyClientCert,
		NextProtos: []string{"http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			st := s.current.Load()
			if st == nil {
				return nil, errors.New("no configuration loaded")
			}
			return &tls.Config{
				MinVersion:   tls.VersionTLS13,
				Certificates: []tls.Certificate{st.serving},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    st.clientCAs,
				NextProtos:   []string{"http/1.1"},
			}, nil
		},
	}
}

// Handler is the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+wire.PathRequests, s.submit)
	mux.HandleFunc("GET "+wire.PathRequests+"/{id}", s.requestState)
	mux.HandleFunc("GET "+wire.PathTrustBundle, s.trustBundle)
	mux.HandleFunc("GET "+wire.PathOpenAPI, s.openAPI)
	mux.HandleFunc("GET "+wire.PathSchemas+"{name}", s.schema)
	mux.HandleFunc("POST "+wire.PathOutbound+"{channel}/requests", s.outbound)
	// Requests as cases (lifecycle.go, casesapi.go).
	mux.HandleFunc("POST "+wire.PathRequests+"/{id}/transitions", s.requesterAction)
	mux.HandleFunc("POST "+wire.PathUpdates, s.receiveUpdate)
	mux.HandleFunc("GET "+wire.PathCases, s.listCases)
	mux.HandleFunc("GET "+wire.PathCasesSummary, s.casesSummary)
	mux.HandleFunc("GET "+wire.PathCases+"/{direction}/{peer}/{id}", s.showCase)
	mux.HandleFunc("POST "+wire.PathCases+"/{direction}/{peer}/{id}/transitions", s.officerAction)
	mux.HandleFunc("GET "+wire.PathStatistics, s.statistics)
	// Joint investigations (joint.go).
	mux.HandleFunc("POST "+wire.PathJoint+"{case}/evidence", s.shareEvidence)
	mux.HandleFunc("GET "+wire.PathJoint+"{case}/evidence", s.listJoint)
	mux.HandleFunc("GET "+wire.PathJoint+"{case}/evidence/{digest}", s.fetchJoint)
	mux.HandleFunc("GET "+wire.PathOutbound+"{channel}/joint/{case}/evidence", s.fetchFromParty)
	mux.HandleFunc("GET "+wire.PathOutbound+"{channel}/joint/{case}/evidence/{digest}", s.fetchFromParty)
	return mux
}

// Serve serves the API on ln until ctx ends, reloading the files as they change.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	go s.files.Run(ctx, s.ReloadInterval, func(changed bool, err error) {
		switch {
		case err != nil:
			s.Log.Error(err, "reloading the gateway's files failed; serving with the previous ones")
		case changed:
			st := s.current.Load()
			s.Log.Info("files reloaded", "channels", len(st.channels), "vault", st.vault != nil)
		}
	})
	go s.scanCases(ctx)
	t := s.Timeouts.withDefaults()
	srv := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: t.Header,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    16 << 10,
		// Failed handshakes (an unknown CA, a stranger) are logged, at V(1), with
		// the rest of the gateway's log rather than on stderr.
		ErrorLog:    log.New(logrWriter{s.Log.V(1)}, "", 0),
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(ln, srv.TLSConfig)) }()
	select {
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := srv.Shutdown(shutdownCtx)
		if st := s.current.Load(); st != nil {
			st.close()
		}
		return err
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// caller is who sent a request, from its verified client certificate.
type caller struct {
	// channel is the one channel whose peer CAs verify the certificate; nil for an
	// officer or an ambiguous certificate.
	channel *channel
	officer bool
	// operator is the operator's own certificate: it reads the cases summary.
	operator bool
	identity vault.Identity
	// ambiguous is set when several channels trust the certificate's CA.
	ambiguous bool
}

// identify says who sent r, from its verified client certificate chain. The
// chains are verified against the state's CAs at the time of the request
// (x509's own clock, as in the TLS handshake); the decision is remembered for
// the chain (callerCache).
func (s *Server) identify(st *state, r *http.Request) caller {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return caller{}
	}
	return st.callers.lookup(r.TLS.PeerCertificates, time.Now(), func() caller {
		return st.decideCaller(r.TLS.PeerCertificates[0], r.TLS.PeerCertificates[1:])
	})
}

func (st *state) decideCaller(leaf *x509.Certificate, inter []*x509.Certificate) caller {
	c := caller{identity: vault.IdentityFromCertificate(leaf)}
	switch chs := st.channelsFor(leaf, inter); len(chs) {
	case 0:
	case 1:
		c.channel = chs[0]
	default:
		c.ambiguous = true
	}
	c.officer = st.isOfficer(leaf, inter)
	c.operator = st.isOperator(leaf, inter)
	return c
}

// acquire takes one of the key's in-flight slots; false means the limit is reached.
func (s *Server) acquire(key string) (release func(), ok bool) {
	v, _ := s.slots.LoadOrStore(key, make(chan struct{}, s.PerPeerConcurrency))
	slots := v.(chan struct{})
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, true
	default:
		return nil, false
	}
}

// readBody reads a complete body of at most wire.MaxRequestBody bytes. A body cut
// off before its declared length, or larger than the bound, is refused.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *refusal) {
	return readBodyUpTo(w, r, wire.MaxRequestBody)
}

// readBodyUpTo reads a whole body of at most limit bytes.
func readBodyUpTo(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *refusal) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, &refusal{http.StatusRequestEntityTooLarge, wire.Refusal{Reason: wire.ReasonRequestTooLarge,
			Error: fmt.Sprintf("the request body is larger than %d bytes", limit)}}
	case err != nil:
		return nil, &refusal{http.StatusBadRequest, wire.Refusal{Reason: wire.ReasonIncompleteBody,
			Error: "the request body ended before it was complete; nothing was recorded"}}
	}
	return body, nil
}

// refusal is an answer other than success.
type refusal struct {
	status int
	body   wire.Refusal
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, who string, f *refusal) {
	s.metrics.refused.WithLabelValues(who, f.body.Reason).Inc()
	// The refusal is logged without the request's content: reason, status, caller.
	s.Log.Info("request refused", "path", r.URL.Path, "caller", who, "status", f.status, "reason", f.body.Reason)
	if f.status == http.StatusTooManyRequests || f.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, f.status, f.body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// malformed turns field errors into a 400.
func malformed(fields []requests.FieldError) *refusal {
	return &refusal{http.StatusBadRequest, wire.Refusal{Reason: wire.ReasonMalformedRequest,
		Error:  fmt.Sprintf("the request is not valid against its schema: %d field(s) to fix", len(fields)),
		Fields: fields}}
}

func (s *Server) trustBundle(w http.ResponseWriter, r *http.Request) {
	st := s.current.Load()
	if c := s.identify(st, r); c.channel == nil && !c.officer && !c.ambiguous {
		s.refuse(w, r, "unknown", &refusal{http.StatusForbidden, wire.Refusal{Reason: wire.ReasonNoChannel,
			Error: "no channel is for this client certificate"}})
		return
	}
	signed, err := st.signer.SignTrustBundle(trustBundleOf(st, s.Now()))
	if err != nil {
		s.Log.Error(err, "signing the trust bundle")
		http.Error(w, "the trust bundle could not be signed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/jose")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, signed)
}

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(requests.OpenAPI())
}

func (s *Server) schema(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	body, ok := requests.SchemaFile(name)
	if !ok {
		// A type's name stands for its schema too: /v1/schemas/Preservation.
		body, ok = requests.Schema(requests.Type(name))
	}
	if !ok {
		writeJSON(w, http.StatusNotFound, wire.Refusal{Reason: wire.ReasonNotFound,
			Error: "no schema of that name; the schemas are " + strings.Join(requests.SchemaNames(), ", ")})
		return
	}
	w.Header().Set("Content-Type", "application/schema+json")
	_, _ = w.Write(body)
}

// logrWriter turns net/http's error log lines into log entries.
type logrWriter struct{ log logr.Logger }

func (w logrWriter) Write(p []byte) (int, error) {
	w.log.Info("connection error", "detail", strings.TrimSpace(string(p)))
	return len(p), nil
}

// Loaded reports what the gateway serves with now: the State's trust bundle as
// loaded (its PEM, for a hash) and the serving certificate. A rollout is complete
// for the gateway when both are what its pod template names.
func (s *Server) Loaded() (trustBundlePEM []byte, serving *x509.Certificate) {
	st := s.current.Load()
	if st == nil {
		return nil, nil
	}
	leaf, err := x509.ParseCertificate(st.serving.Certificate[0])
	if err != nil {
		return st.ownTrustPEM, nil
	}
	return st.ownTrustPEM, leaf
}
