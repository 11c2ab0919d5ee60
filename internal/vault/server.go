package vault

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cybercoop/cybercoop-operator/internal/reload"
)

// HTTP API (mutual TLS only; the actor is the client certificate: its URI
// SAN, else its subject, with issuer, serial and fingerprint recorded):
//
//	POST   /v1/objects                  ingest (role ingest): multipart/form-data, part "metadata" (JSON
//	                                    Metadata) then part "object"; optional headers Cybercoop-Object-Size
//	                                    and Cybercoop-Object-Digest are checked before anything is kept, and
//	                                    Cybercoop-New-Case: true refuses (409, field caseReference) a case
//	                                    reference that names an object already, of any content;
//	                                    201 (200: content already held) with IngestResult, its custody entry's
//	                                    line and a checkpoint signed after it; metadata onBehalfOf needs role
//	                                    relay (else 403, field onBehalfOf); other content under an exclusive
//	                                    case reference is 409, field caseReference
//	GET    /v1/objects[?case=R]         list the objects the caller may see (role list: all); with case, only
//	                                    those with a case R the caller may see (400 with "field" case if R is
//	                                    not a valid reference)
//	GET    /v1/objects/{digest}         read (role read); header Cybercoop-Authorisation-Reference required
//	GET    /v1/objects/{digest}/export  verifiable tar (see Vault.Export; format v3: entries the caller may not
//	                                    see in full are redacted copies, proven by their leaf hash); same role and header
//	POST   /v1/objects/{digest}/hold    place a legal hold (role hold): {"reference": …, "legalBasis": …}
//	POST   /v1/objects/{digest}/release release a legal hold (role release): same body
//	DELETE /v1/objects/{digest}         expire one object (role expire; refused before retention ends or under hold)
//	POST   /v1/expire                   expire every object whose retention ended and that is not held (role expire)
//	POST   /v1/verify                   verify chain and objects (role verify, one at a time)
//	GET    /v1/checkpoint               signed checkpoint of the custody log (C2SP signed note)
//	GET    /v1/proof/consistency?from=N[&to=M]  consistency proof, one base64 hash per line
//	GET    /v1/proof/inclusion?seq=N[&size=M]   inclusion proof of custody entry N in the log of M entries
//	                                    (default: the current size; header Cybercoop-Tree-Size says which), one
//	                                    base64 hash per line; entries the caller made (or relayed) or that name an object it
//	                                    may see (role list: every entry), others 404 like an absent entry; 400
//	                                    with "field" for N=0, N>M or M beyond the log
//	GET    /v1/custody?object=D|case=R  chain-of-custody report (role list; other clients'
//	                                    authorisation references left out)
//	GET    /status                      Status
//
// Health port (plain HTTP, like kubelet probes; no evidence is reachable;
// bound to loopback unless --health-listen says otherwise):
//
//	GET /healthz, /readyz, /metrics
const (
	// AuthorisationHeader carries the authorisation reference a reader presents.
	AuthorisationHeader = "Cybercoop-Authorisation-Reference"
	// DigestHeader carries an object's content address in responses.
	DigestHeader = "Cybercoop-Digest"
	// ObjectDigestHeader declares the digest of the object an ingest sends.
	ObjectDigestHeader = "Cybercoop-Object-Digest"
	// ObjectSizeHeader declares the size in bytes of the object an ingest sends.
	ObjectSizeHeader = "Cybercoop-Object-Size"
	// NewCaseHeader, "true" on an ingest, declares its case reference new
	// (Expectation.NewCase).
	NewCaseHeader = "Cybercoop-New-Case"
	// TreeSizeHeader says which log size an inclusion proof is for.
	TreeSizeHeader = "Cybercoop-Tree-Size"
	maxJSONBody    = 16 << 10
)

// Limits bound what clients can make the vault hold.
type Limits struct {
	// MaxIngests is how many ingests may run at once; default 8.
	MaxIngests int
	// MaxIngestsPerClient is how many of them one client may run; default 2. A
	// client holding the relay role may run MaxIngests.
	MaxIngestsPerClient int
	// BodyIdleTimeout ends a request whose body sends nothing for this
	// long; default 30s.
	BodyIdleTimeout time.Duration
	// MinBodyRate is the slowest body, in bytes per second averaged over
	// each BodyRateWindow, that is accepted; default 1024.
	MinBodyRate int64
	// BodyRateWindow is the span MinBodyRate is measured over; default 30s.
	BodyRateWindow time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxIngests <= 0 {
		l.MaxIngests = 8
	}
	if l.MaxIngestsPerClient <= 0 {
		l.MaxIngestsPerClient = 2
	}
	if l.BodyIdleTimeout <= 0 {
		l.BodyIdleTimeout = 30 * time.Second
	}
	if l.MinBodyRate <= 0 {
		l.MinBodyRate = 1024
	}
	if l.BodyRateWindow <= 0 {
		l.BodyRateWindow = 30 * time.Second
	}
	return l
}

// HoldRequest is the body of hold and release requests.
type HoldRequest struct {
	Reference  string `json:"reference"`
	LegalBasis string `json:"legalBasis"`
}

type apiError struct {
	Error string `json:"error"`
	// Field names the request field at fault, when one is.
	Field string `json:"field,omitempty"`
	// Digest names the object an exclusive case reference already names
	// (409, field caseReference), to a client that may see that case.
	Digest Digest `json:"digest,omitempty"`
}

// ErrBusy means the ingest limits are reached; the client may retry.
var ErrBusy = errors.New("too many ingests in progress")

// errSlowBody means a request body stalled or arrived below the minimum rate.
var errSlowBody = errors.New("request body too slow")

// NewHandler returns the evidence API. It must be served over the mutual-TLS
// listener; requests without a verified client certificate are refused.
func NewHandler(v *Vault, log logr.Logger, limits Limits) http.Handler {
	limits = limits.withDefaults()
	h := &handler{v: v, log: log, limits: limits, slots: make(chan struct{}, limits.MaxIngests), perClient: map[string]int{}}
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
	mux.HandleFunc("GET /v1/checkpoint", h.checkpoint)
	mux.HandleFunc("GET /v1/proof/consistency", h.consistency)
	mux.HandleFunc("GET /v1/proof/inclusion", h.inclusion)
	mux.HandleFunc("GET /v1/custody", h.custody)
	mux.HandleFunc("GET /status", h.status)
	return h.authenticate(h.boundedBodies(mux))
}

type handler struct {
	v      *Vault
	log    logr.Logger
	limits Limits

	slots     chan struct{} // one per ingest in progress
	mu        sync.Mutex
	perClient map[string]int // client name → ingests in progress
}

type actorKey struct{}

// authenticate puts the verified client certificate's identity in the
// context. The TLS layer has already required and verified the certificate;
// this is the second lock on the door in case the handler is ever mounted
// elsewhere.
func (h *handler) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "a client certificate signed by the vault's client CA is required"})
			return
		}
		id := IdentityFromCertificate(r.TLS.PeerCertificates[0])
		if err := id.check(); err != nil {
			writeJSON(w, http.StatusForbidden, apiError{Error: err.Error()})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, id)))
	})
}

func actorOf(r *http.Request) Identity { return r.Context().Value(actorKey{}).(Identity) }

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

// statusOf maps an error to its HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrInvalidMetadata), errors.Is(err, ErrIncompleteBody), errors.Is(err, ErrExpectation), errors.Is(err, errMalformed):
		return http.StatusBadRequest
	case errors.Is(err, errSlowBody):
		return http.StatusRequestTimeout
	case errors.Is(err, context.Canceled):
		// The client closed the connection; nothing was acknowledged.
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrNotAuthorised):
		return http.StatusForbidden
	case errors.Is(err, ErrRetentionActive), errors.Is(err, ErrUnderHold), errors.Is(err, ErrHoldConflict), errors.Is(err, ErrVerifyRunning),
		errors.Is(err, ErrCaseTaken):
		return http.StatusConflict
	case errors.Is(err, ErrBusy):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrUnknownKeyVersion), errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	if code >= 500 {
		h.log.Error(err, "request failed", "method", r.Method, "path", r.URL.Path, "actor", actorOf(r).Name(), "status", code)
	}
	body := apiError{Error: err.Error()}
	var fe *FieldError
	if errors.As(err, &fe) {
		body.Field = fe.Field
	}
	var taken *CaseTakenError
	if errors.As(err, &taken) {
		body.Field, body.Digest = "caseReference", taken.Digest
	}
	if code == http.StatusInsufficientStorage {
		body.Error = "the vault's storage is full; nothing was stored: " + err.Error()
	}
	writeJSON(w, code, body)
}

func (h *handler) digest(w http.ResponseWriter, r *http.Request) (Digest, bool) {
	d, err := ParseDigest(r.PathValue("digest"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error(), Field: "digest"})
		return "", false
	}
	return d, true
}

// acquire takes an ingest slot for client, or reports ErrBusy.
func (h *handler) acquire(client string, perClient int) (func(), error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.perClient[client] >= perClient {
		return nil, fmt.Errorf("%w: this client already runs %d ingests (the limit per client); retry when one finishes", ErrBusy, h.perClient[client])
	}
	select {
	case h.slots <- struct{}{}:
	default:
		return nil, fmt.Errorf("%w: the vault runs %d ingests (its limit); retry shortly", ErrBusy, h.limits.MaxIngests)
	}
	h.perClient[client]++
	h.v.metrics.ingestsInFlight.Inc()
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		<-h.slots
		if h.perClient[client]--; h.perClient[client] == 0 {
			delete(h.perClient, client)
		}
		h.v.metrics.ingestsInFlight.Dec()
	}, nil
}

// ingest reads the metadata part whole (it is small and bounded) and streams
// the object part straight into the sealing pipeline. The object counts as
// complete only if its part ends at a boundary and the body then ends with
// the closing boundary; any other end (a client killed, a connection closed
// cleanly after a short body) fails the ingest and nothing is kept.
func (h *handler) ingest(w http.ResponseWriter, r *http.Request) {
	actor := actorOf(r)
	if err := h.v.authorise(actor, RoleIngest); err != nil {
		h.fail(w, r, err)
		return
	}
	// A relay (a gateway) ingests for many parties at once; only the vault-wide
	// bound applies to it.
	perClient := h.limits.MaxIngestsPerClient
	if h.v.grants.Allows(actor, RoleRelay) {
		perClient = h.limits.MaxIngests
	}
	release, err := h.acquire(actor.Name(), perClient)
	if err != nil {
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Connection", "close")
		h.fail(w, r, err)
		return
	}
	defer release()
	tail := &tailReader{r: newBodyGuard(w, r.Body, h.limits)}
	r.Body = tail
	// A refusal that comes before the body is read through (metadata, role,
	// an exclusive case taken) first reads a small remainder, so that a
	// client still sending receives the answer rather than a connection
	// reset under it; a larger remainder is cut off, as net/http would.
	drain := func() {
		if n, _ := io.CopyN(io.Discard, tail, maxRefusalDrain+1); n > maxRefusalDrain {
			w.Header().Set("Connection", "close")
		}
	}
	refuse := func(err error) {
		drain()
		h.fail(w, r, err)
	}
	want, err := declaredExpectation(r.Header)
	if err != nil {
		refuse(err)
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		drain()
		writeJSON(w, http.StatusBadRequest, apiError{Error: "ingest expects multipart/form-data with parts \"metadata\" then \"object\": " + err.Error()})
		return
	}
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "metadata" {
		refuse(bodyErr(err, errors.New("ingest: the first part must be \"metadata\" (JSON)")))
		return
	}
	raw, err := io.ReadAll(io.LimitReader(part, MaxMetadataBytes+1))
	if err != nil {
		refuse(bodyErr(err, fmt.Errorf("%w: ingest: reading metadata: %w", ErrIncompleteBody, err)))
		return
	}
	if len(raw) > MaxMetadataBytes {
		drain()
		writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: fmt.Sprintf("ingest: metadata exceeds the limit of %d bytes", MaxMetadataBytes), Field: "metadata"})
		return
	}
	meta, err := ParseMetadata(raw, h.v.now(), h.v.Policy())
	if err != nil {
		refuse(err)
		return
	}
	part, err = mr.NextPart()
	if err != nil || part.FormName() != "object" {
		refuse(bodyErr(err, errors.New("ingest: the second part must be \"object\" (the evidence bytes)")))
		return
	}
	_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	// Not the request's context: net/http cancels it when the client half-closes
	// its connection, which a client may do as soon as it has sent a complete body.
	// A body that really is cut off fails in reading (lastPart, the body idle timer);
	// a complete one is kept and answered.
	res, err := h.v.Ingest(context.WithoutCancel(r.Context()), actor, meta, &lastPart{part: part, mr: mr, body: tail, boundary: params["boundary"]}, want)
	if err != nil {
		refuse(err)
		return
	}
	code := http.StatusCreated
	if res.Duplicate {
		code = http.StatusOK
	}
	writeJSON(w, code, res)
}

// errMalformed marks a request the multipart reader could not parse.
var errMalformed = errors.New("malformed request")

// bodyErr returns the body's own failure (cut off, too slow) if there was
// one, else the protocol error; either is the client's (4xx).
func bodyErr(readErr, protocolErr error) error {
	switch {
	case readErr == nil || readErr == io.EOF: //nolint:errorlint // only an unwrapped io.EOF is a clean end
		return fmt.Errorf("%w: %w", errMalformed, protocolErr)
	case errors.Is(readErr, errSlowBody):
		return readErr
	case errors.Is(readErr, io.ErrUnexpectedEOF) || errors.Is(readErr, io.EOF):
		return fmt.Errorf("%w: %w", ErrIncompleteBody, readErr)
	}
	return fmt.Errorf("%w: %w: %w", errMalformed, protocolErr, readErr)
}

func declaredExpectation(hdr http.Header) (Expectation, error) {
	want := NoExpectation
	if s := hdr.Get(ObjectSizeHeader); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return want, fieldErr(ObjectSizeHeader, "must be the object's length in bytes (a decimal number)")
		}
		want.Size = n
	}
	if s := hdr.Get(ObjectDigestHeader); s != "" {
		d, err := ParseDigest(s)
		if err != nil {
			return want, fieldErr(ObjectDigestHeader, "%v", err)
		}
		want.Digest = d
	}
	switch s := hdr.Get(NewCaseHeader); s {
	case "":
	case "true":
		want.NewCase = true
	default:
		return want, fieldErr(NewCaseHeader, "must be true, or absent")
	}
	return want, nil
}

// lastPart reads the object part and turns its end into io.EOF only if the
// multipart body then ends with its closing boundary: an end without it (a
// client stopped after a boundary line, or mid-part), or a further part, is
// an error. mime/multipart alone cannot tell: its NextPart also answers a
// bare io.EOF when the body ends inside the headers of another part.
type lastPart struct {
	part     io.Reader
	mr       *multipart.Reader
	body     *tailReader
	boundary string
	done     bool
}

// Read implements io.Reader.
func (l *lastPart) Read(p []byte) (int, error) {
	if l.done {
		return 0, io.EOF
	}
	n, err := l.part.Read(p)
	if err != io.EOF { //nolint:errorlint // only an unwrapped io.EOF ends a part; multipart wraps cut-offs
		if err != nil && !errors.Is(err, errSlowBody) {
			err = fmt.Errorf("%w: object part: %w", ErrIncompleteBody, err)
		}
		return n, err
	}
	next, nerr := l.mr.NextPart()
	switch {
	case nerr == nil:
		return n, fmt.Errorf("%w: unexpected part %q after \"object\"", ErrIncompleteBody, truncateForError(next.FormName()))
	case errors.Is(nerr, errSlowBody):
		return n, nerr
	case nerr != io.EOF:
		return n, fmt.Errorf("%w: the body ended without the closing multipart boundary: %w", ErrIncompleteBody, nerr)
	}
	// Read to the end of the body (an epilogue is allowed but bounded) and
	// check that the last thing in it is the closing delimiter.
	if _, err := io.Copy(io.Discard, io.LimitReader(l.body, maxEpilogue+1)); err != nil {
		return n, fmt.Errorf("%w: after the closing boundary: %w", ErrIncompleteBody, err)
	}
	if !l.body.eof || !l.body.endsWithDelimiter(l.boundary) {
		return n, fmt.Errorf("%w: the body does not end with the closing multipart boundary --%s--", ErrIncompleteBody, truncateForError(l.boundary))
	}
	l.done = true
	return n, io.EOF
}

// maxRefusalDrain bounds what an ingest refused before its body was read
// through reads of the rest, to answer rather than reset the connection.
const maxRefusalDrain = 256 << 10

// maxEpilogue bounds what may follow the closing boundary.
const maxEpilogue = 0

// tailReader remembers the last bytes of a stream and whether it ended.
type tailReader struct {
	r    io.ReadCloser
	tail []byte
	eof  bool
}

const tailSize = 128

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.tail = append(t.tail, p[:n]...)
		if len(t.tail) > 2*tailSize {
			t.tail = append(t.tail[:0], t.tail[len(t.tail)-tailSize:]...)
		}
	}
	if err == io.EOF {
		t.eof = true
	}
	return n, err
}

func (t *tailReader) Close() error { return t.r.Close() }

// endsWithDelimiter reports whether the stream ended with the closing
// delimiter, "--" boundary "--", followed by nothing but line breaks or
// white space (the multipart epilogue is not accepted).
func (t *tailReader) endsWithDelimiter(boundary string) bool {
	return boundary != "" && bytes.HasSuffix(bytes.TrimRight(t.tail, " \t\r\n"), []byte("--"+boundary+"--"))
}

// bodyGuard ends a request body that stalls (nothing for BodyIdleTimeout)
// or trickles (less than MinBodyRate over a BodyRateWindow), so slow clients
// cannot hold goroutines, buffers and ingest slots indefinitely.
type bodyGuard struct {
	body        io.ReadCloser
	rc          *http.ResponseController
	limits      Limits
	windowStart time.Time
	windowBytes int64
	deadlineAt  time.Time // when the read deadline was last moved
	finished    bool
}

func newBodyGuard(w http.ResponseWriter, body io.ReadCloser, l Limits) *bodyGuard {
	return &bodyGuard{body: body, rc: http.NewResponseController(w), limits: l, windowStart: time.Now()}
}

func (g *bodyGuard) Read(p []byte) (int, error) {
	if g.finished {
		return g.body.Read(p)
	}
	now := time.Now()
	if elapsed := now.Sub(g.windowStart); elapsed >= g.limits.BodyRateWindow {
		if rate := float64(g.windowBytes) / elapsed.Seconds(); rate < float64(g.limits.MinBodyRate) {
			return 0, fmt.Errorf("%w: the body arrived at %.0f bytes/s over the last %s; the minimum is %d bytes/s", errSlowBody, rate, elapsed.Round(time.Second), g.limits.MinBodyRate)
		}
		g.windowStart, g.windowBytes = now, 0
	}
	// Moving the deadline costs a timer update, so it is moved only when a
	// quarter of the idle timeout has passed.
	if now.Sub(g.deadlineAt) >= g.limits.BodyIdleTimeout/4 {
		// Where deadlines are not supported (tests with a recorder) the
		// server's own timeouts are all there is.
		_ = g.rc.SetReadDeadline(now.Add(g.limits.BodyIdleTimeout))
		g.deadlineAt = now
	}
	n, err := g.body.Read(p)
	g.windowBytes += int64(n)
	if err == io.EOF {
		// The server reads ahead once the body is done; a deadline left
		// set would cancel the request while the vault commits.
		_ = g.rc.SetReadDeadline(time.Time{})
		g.finished = true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return n, fmt.Errorf("%w: no body bytes for %s", errSlowBody, g.limits.BodyIdleTimeout)
	}
	return n, err
}

func (g *bodyGuard) Close() error { return g.body.Close() }

// boundedBodies reads the body of every request but an ingest before the
// handler runs: at most maxJSONBody bytes, under the same idle and rate
// limits as an ingest body. Without it a client could trickle a hold body,
// or a body no handler reads (net/http drains it after the response), and
// keep a connection and goroutine for as long as it likes.
func (h *handler) boundedBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/objects" || r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(newBodyGuard(w, r.Body, h.limits), maxJSONBody+1))
		switch {
		case err != nil:
			w.Header().Set("Connection", "close")
			h.fail(w, r, bodyErr(err, errors.New("reading the request body")))
			return
		case len(body) > maxJSONBody:
			w.Header().Set("Connection", "close")
			writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: fmt.Sprintf("request bodies other than ingests are limited to %d bytes", maxJSONBody)})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// sendGuard ends a response the client stops reading: each write must make
// progress within BodyIdleTimeout, so a client that requests a large object
// and never reads it cannot hold the object open and a goroutine forever.
// The deadline is cleared when the handler is done with it (release), so
// that it does not carry over to the next request on the connection.
type sendGuard struct {
	w          io.Writer
	rc         *http.ResponseController
	idle       time.Duration
	deadlineAt time.Time
}

func newSendGuard(w http.ResponseWriter, l Limits) *sendGuard {
	return &sendGuard{w: w, rc: http.NewResponseController(w), idle: l.BodyIdleTimeout}
}

func (g *sendGuard) Write(p []byte) (int, error) {
	if now := time.Now(); now.Sub(g.deadlineAt) >= g.idle/4 {
		_ = g.rc.SetWriteDeadline(now.Add(g.idle))
		g.deadlineAt = now
	}
	return g.w.Write(p)
}

// release sends what is buffered under the deadline, then clears it.
func (g *sendGuard) release() {
	_ = g.rc.Flush()
	_ = g.rc.SetWriteDeadline(time.Time{})
}

// list answers GET /v1/objects, or with ?case=REF the objects of one case
// (through the vault's case index, without scanning every object).
func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	var objects []ObjectInfo
	var err error
	if q := r.URL.Query(); q.Has("case") {
		objects, err = h.v.ListCase(actorOf(r), q.Get("case"))
	} else {
		objects, err = h.v.List(actorOf(r))
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, objects)
}

// read sends the verified plaintext. The whole object is decrypted and
// hashed before the status line is sent, so a damaged object is answered
// with an error, never with 200 and a body that breaks off. The copy that
// is then sent is verified again on the way out (the file could change in
// between); should that fail, the final chunk is withheld and the connection
// aborted, so the body is visibly short of its Content-Length.
func (h *handler) read(w http.ResponseWriter, r *http.Request) {
	d, ok := h.digest(w, r)
	if !ok {
		return
	}
	ref := r.Header.Get(AuthorisationHeader)
	if err := h.v.AuthoriseRead(actorOf(r), d, ref); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.v.CheckObject(d); err != nil {
		h.fail(w, r, err)
		return
	}
	obj, err := h.v.Read(r.Context(), actorOf(r), d, ref)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer obj.Close()
	info := obj.Info()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	w.Header().Set(DigestHeader, string(info.Digest))
	w.WriteHeader(http.StatusOK)
	send := newSendGuard(w, h.limits)
	if _, err := io.CopyBuffer(send, obj, make([]byte, 64<<10)); err != nil {
		h.log.Error(err, "aborting object response", "object", d, "actor", actorOf(r).Name())
		panic(http.ErrAbortHandler)
	}
	send.release()
}

func (h *handler) export(w http.ResponseWriter, r *http.Request) {
	d, ok := h.digest(w, r)
	if !ok {
		return
	}
	// Authorisation errors must become clean responses, so the archive
	// starts only once the first byte is written.
	send := newSendGuard(w, h.limits)
	lw := &lazyHeaderWriter{w: send, header: func() {
		w.Header().Set("Content-Type", "application/x-tar")
		w.Header().Set(DigestHeader, string(d))
		w.WriteHeader(http.StatusOK)
	}}
	if err := h.v.Export(r.Context(), actorOf(r), d, r.Header.Get(AuthorisationHeader), lw); err != nil {
		if !lw.started {
			h.fail(w, r, err)
			return
		}
		h.log.Error(err, "aborting export response", "object", d, "actor", actorOf(r).Name())
		panic(http.ErrAbortHandler)
	}
	send.release()
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
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err == nil {
		err = decodeStrictJSON(raw, &req, []string{"reference", "legalBasis"})
	}
	if err != nil {
		h.fail(w, r, fmt.Errorf(`%w (expected JSON {"reference": "…", "legalBasis": "…"})`, err))
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

func (h *handler) checkpoint(w http.ResponseWriter, r *http.Request) {
	cp, err := h.v.Checkpoint()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(cp.Note) //nolint:errcheck // the client went away
}

func (h *handler) consistency(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err := strconv.ParseUint(q.Get("from"), 10, 64)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "from must be the size of the older checkpoint (a decimal number)", Field: "from"})
		return
	}
	var to uint64
	if s := q.Get("to"); s != "" {
		if to, err = strconv.ParseUint(s, 10, 64); err != nil || to == 0 {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "to must be the size of the newer checkpoint (a decimal number)", Field: "to"})
			return
		}
	}
	hashes, err := h.v.ConsistencyProof(from, to)
	if err != nil {
		if statusOf(err) == http.StatusInternalServerError {
			err = fmt.Errorf("%w: %w", ErrInvalidMetadata, err)
		}
		h.fail(w, r, err)
		return
	}
	writeHashes(w, hashes)
}

// writeHashes answers a proof: one base64 hash per line.
func writeHashes(w http.ResponseWriter, hashes [][]byte) {
	var b strings.Builder
	for _, hsh := range hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(hsh))
		b.WriteByte('\n')
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, b.String()) //nolint:errcheck // the client went away
}

func (h *handler) inclusion(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	seq, err := strconv.ParseUint(q.Get("seq"), 10, 64)
	if err != nil || seq == 0 {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "seq must be the number of a custody entry (a decimal number from 1)", Field: "seq"})
		return
	}
	var size uint64
	if s := q.Get("size"); s != "" {
		if size, err = strconv.ParseUint(s, 10, 64); err != nil || size == 0 {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "size must be the size of a checkpoint (a decimal number from 1)", Field: "size"})
			return
		}
	}
	size, hashes, err := h.v.InclusionProof(actorOf(r), seq, size)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set(TreeSizeHeader, strconv.FormatUint(size, 10))
	writeHashes(w, hashes)
}

func (h *handler) custody(w http.ResponseWriter, r *http.Request) {
	actor := actorOf(r)
	if err := h.v.authorise(actor, RoleList); err != nil {
		h.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	f := ReportFilter{Object: Digest(q.Get("object")), Case: q.Get("case"), Actor: q.Get("actor")}
	rep, err := h.v.CustodyReport(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Authorisation references are shown only to the client that used them:
	// the same name and the same certificate identity, not a name alone (a
	// URI SAN or a second issuer could spell another client's name).
	for i, e := range rep.Entries {
		if h.ownsEntry(e, actor) {
			continue
		}
		if e.Metadata != nil {
			m := *e.Metadata
			m.AuthorisationReference = ""
			rep.Entries[i].Metadata = &m
		}
		if e.Action == ActionRead || e.Action == ActionExport {
			rep.Entries[i].Reference = ""
		}
	}
	writeJSON(w, http.StatusOK, rep)
}

// ownsEntry reports whether actor made entry e, or relayed it (Via): the
// same name and the same certificate identity, not a name alone (a second
// issuer could spell it).
func (h *handler) ownsEntry(e Entry, actor Identity) bool {
	if e.Via != nil {
		return e.Via.Name() == actor.Name() && sameClient(*e.Via, actor)
	}
	return e.Actor == actor.Name() && e.Cert != nil && sameClient(*e.Cert, actor)
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.v.statusFor(actorOf(r)))
}

// NewHealthHandler serves probes and metrics. Readiness means the vault is
// open, has no fault (such as missing acknowledged custody entries) and its
// last verification, if any, found nothing wrong.
func NewHealthHandler(v *Vault) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n") //nolint:errcheck // probe response; a failed write means the prober went away
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		s := v.Status()
		if s.Fault != "" {
			http.Error(w, "refusing to serve: "+s.Fault, http.StatusServiceUnavailable)
			return
		}
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
	// Limits bound concurrent ingests and slow request bodies.
	Limits Limits
	Logger logr.Logger
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
		Handler:           NewHandler(v, cfg.Logger, cfg.Limits),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
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
		servers = append(servers, &http.Server{Handler: NewHealthHandler(v), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second})
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
		// The files changed (Files compares contents), so the keyring is
		// offered to the vault even if its versions are the same: a changed
		// key under an old version must be refused, not overlooked.
		kr, err := LoadKeyring(path)
		if err != nil {
			return err
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
