// Package vaultclient is the client of an evidence vault's API for the operator
// and the gateway: the vault's inventory and keys, signed checkpoints of its custody
// log, consistency and inclusion proofs, full verifications; and for the gateway,
// ingests (relayed for a peer State, under exclusive case references), listings by
// case and reads. It speaks mutual TLS with the caller's client certificate, issued
// from the FocalPoint's national CA.
package vaultclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// maxResponse bounds what the operator reads of one answer; a vault's status,
// checkpoint or proof is a few kilobytes.
const maxResponse = 1 << 20

// defaultTimeout bounds a call whose context has no deadline. A full verification
// reads the whole store and is given its own, longer deadline by the caller.
const defaultTimeout = 30 * time.Second

// Client calls one vault.
type Client struct {
	base string
	http *http.Client

	mu sync.Mutex
	// hash is the vault's content-address algorithm, learnt from /status on
	// the first Ingest: the declared digest must use it.
	hash vault.HashAlgorithm
}

// New returns a client for the vault API at base (https://host:port). serverName is
// the name its serving certificate must carry; roots are the CAs that may issue it.
func New(base, serverName string, clientCert tls.Certificate, roots *x509.CertPool) *Client {
	return &Client{base: base, http: &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{
				MinVersion:   tls.VersionTLS13,
				ServerName:   serverName,
				RootCAs:      roots,
				Certificates: []tls.Certificate{clientCert},
			},
			// One reconcile makes a few calls; connections are not kept between them.
			DisableKeepAlives: true,
		},
	}}
}

// Status is the vault's inventory, keys and last verification.
func (c *Client) Status(ctx context.Context) (vault.Status, error) {
	return call[vault.Status](ctx, c, http.MethodGet, "/status", maxResponse)
}

// call makes one request and decodes its JSON answer into a T.
func call[T any](ctx context.Context, c *Client, method, path string, limit int64) (T, error) {
	return callWith[T](ctx, c, request{method: method, path: path, limit: limit})
}

// callWith sends rq and decodes its JSON answer into a T.
func callWith[T any](ctx context.Context, c *Client, rq request) (T, error) {
	var out T
	body, err := c.send(ctx, rq)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return out, fmt.Errorf("vault %s: not the expected JSON: %w", rq.path, err)
	}
	return out, nil
}

// Checkpoint is the vault's current signed checkpoint (a C2SP signed note).
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	return c.do(ctx, http.MethodGet, "/v1/checkpoint")
}

// Consistency is the proof that the log of size to extends the log of size from.
func (c *Client) Consistency(ctx context.Context, from, to uint64) ([][]byte, error) {
	body, err := c.do(ctx, http.MethodGet, "/v1/proof/consistency?from="+strconv.FormatUint(from, 10)+"&to="+strconv.FormatUint(to, 10))
	if err != nil {
		return nil, err
	}
	return ParseProof(body)
}

// maxProofHashes bounds a proof: a tree of 2^64 entries needs at most 128 hashes.
const maxProofHashes = 128

// ParseProof reads a proof as the vault sends it: one base64 SHA-256 hash per line.
func ParseProof(body []byte) ([][]byte, error) {
	var hashes [][]byte
	sc := bufio.NewScanner(bytes.NewReader(body))
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		h, err := base64.StdEncoding.DecodeString(sc.Text())
		if err != nil || len(h) != 32 {
			return nil, fmt.Errorf("vault proof: line %d is not a base64 SHA-256 hash", line)
		}
		if len(hashes) == maxProofHashes {
			return nil, fmt.Errorf("vault proof: more than %d hashes", maxProofHashes)
		}
		hashes = append(hashes, h)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("vault proof: %w", err)
	}
	return hashes, nil
}

// Verify runs a full verification (chain, Merkle root, every object) and returns
// its report. It takes as long as the store is large: give ctx a deadline to match.
func (c *Client) Verify(ctx context.Context) (vault.Report, error) {
	return call[vault.Report](ctx, c, http.MethodPost, "/v1/verify", maxResponse)
}

// Objects lists every live object with its retention and holds (the operator holds
// the list role).
func (c *Client) Objects(ctx context.Context) ([]vault.ObjectInfo, error) {
	return call[[]vault.ObjectInfo](ctx, c, http.MethodGet, "/v1/objects", 256<<20)
}

// maxErrorAnswer bounds what is read of an error answer: a JSON reason of one line.
const maxErrorAnswer = 64 << 10

// maxCaseListing bounds the answer to ObjectsByCase: a case holds a few objects.
const maxCaseListing = 16 << 20

// maxIngestAnswer bounds the answer to an ingest: its result carries one custody
// entry (at most vault.MaxEntryBytes, in base64) and a checkpoint.
const maxIngestAnswer = 1 << 20

// Ingest stores object with its metadata, as multipart/form-data (part "metadata",
// then part "object"), declaring the object's size and digest (in the vault's hash
// algorithm, learnt from /status on the first call) so that the vault keeps nothing
// that differs. The result carries the custody entry's log line (Entry) and a signed
// checkpoint covering it (Checkpoint); Inclusion then gives the proof. The vault
// answers 201, or 200 when it already held the content (Duplicate). m.OnBehalfOf
// needs the relay role (else 403, Field "onBehalfOf"); other content under a case
// reference taken exclusively is 409 (Field "caseReference", Digest the object it
// names if this client may see that case).
func (c *Client) Ingest(ctx context.Context, m vault.Metadata, object []byte) (vault.IngestResult, error) {
	return c.ingest(ctx, m, object, false)
}

// IngestNew is Ingest declaring the case new (vault.Expectation.NewCase): if
// m.CaseReference names an object already, whatever its content, nothing is
// stored and the vault answers 409 (Field "caseReference", Digest the object
// it names if this client may see that case). A client that records one
// object per case so learns of an earlier record without listing the case
// first.
func (c *Client) IngestNew(ctx context.Context, m vault.Metadata, object []byte) (vault.IngestResult, error) {
	return c.ingest(ctx, m, object, true)
}

func (c *Client) ingest(ctx context.Context, m vault.Metadata, object []byte, newCase bool) (vault.IngestResult, error) {
	const path = "/v1/objects"
	alg, err := c.hashAlgorithm(ctx)
	if err != nil {
		return vault.IngestResult{}, err
	}
	meta, err := metadataJSON(m)
	if err != nil {
		return vault.IngestResult{}, fmt.Errorf("vault %s: encoding the metadata: %w", path, err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, err := mw.CreateFormField("metadata")
	if err == nil {
		_, err = part.Write(meta)
	}
	if err == nil {
		part, err = mw.CreateFormFile("object", "object")
	}
	if err == nil {
		_, err = part.Write(object)
	}
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		return vault.IngestResult{}, fmt.Errorf("vault %s: building the request: %w", path, err)
	}
	header := http.Header{}
	header.Set("Content-Type", mw.FormDataContentType())
	header.Set(vault.ObjectSizeHeader, strconv.Itoa(len(object)))
	header.Set(vault.ObjectDigestHeader, string(digestOf(alg, object)))
	if newCase {
		header.Set(vault.NewCaseHeader, "true")
	}
	return callWith[vault.IngestResult](ctx, c, request{method: http.MethodPost, path: path, header: header, body: body.Bytes(), limit: maxIngestAnswer})
}

// metadataJSON encodes m as the vault expects it. Metadata.DeclineDefaultHold is
// not part of the struct's JSON; the vault reads it from "hold": false.
func metadataJSON(m vault.Metadata) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil || !m.DeclineDefaultHold || m.Hold {
		return b, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	fields["hold"] = json.RawMessage("false")
	return json.Marshal(fields)
}

// hashAlgorithm is the vault's content-address algorithm, asked once.
func (c *Client) hashAlgorithm(ctx context.Context) (vault.HashAlgorithm, error) {
	c.mu.Lock()
	alg := c.hash
	c.mu.Unlock()
	if alg != "" {
		return alg, nil
	}
	st, err := c.Status(ctx)
	if err != nil {
		return "", err
	}
	if alg, err = vault.ParseHashAlgorithm(string(st.HashAlgorithm)); err != nil {
		return "", fmt.Errorf("vault /status: hashAlgorithm: %w", err)
	}
	c.mu.Lock()
	c.hash = alg
	c.mu.Unlock()
	return alg, nil
}

// digestOf is data's content address under alg.
func digestOf(alg vault.HashAlgorithm, data []byte) vault.Digest {
	if alg == vault.SHA512 {
		sum := sha512.Sum512(data)
		return vault.Digest(string(alg) + ":" + hex.EncodeToString(sum[:]))
	}
	sum := sha256.Sum256(data)
	return vault.Digest(string(alg) + ":" + hex.EncodeToString(sum[:]))
}

// ObjectsByCase lists the live objects with a case under caseRef that this client
// may see (the cases it ingested or relayed; with the list role every case), in
// ingest order; none is an empty list, not an error. An invalid reference is 400
// with Field "case".
func (c *Client) ObjectsByCase(ctx context.Context, caseRef string) ([]vault.ObjectInfo, error) {
	return call[[]vault.ObjectInfo](ctx, c, http.MethodGet, "/v1/objects?"+url.Values{"case": {caseRef}}.Encode(), maxCaseListing)
}

// Read returns object d, presenting authorisationRef (the authorisation reference of
// one of its cases); the vault records the read in the custody log before it sends a
// byte. An object larger than limit bytes is an error, and so is one whose bytes do
// not hash to d. An object this client may not see is 404, as an absent one is; a
// wrong or expired authorisation is 403.
func (c *Client) Read(ctx context.Context, d vault.Digest, authorisationRef string, limit int64) ([]byte, error) {
	if _, err := vault.ParseDigest(string(d)); err != nil {
		return nil, err
	}
	path := "/v1/objects/" + string(d)
	header := http.Header{}
	header.Set(vault.AuthorisationHeader, authorisationRef)
	body, err := c.send(ctx, request{method: http.MethodGet, path: path, header: header, limit: limit})
	if err != nil {
		return nil, err
	}
	if got := digestOf(d.Algorithm(), body); got != d {
		return nil, fmt.Errorf("vault %s: the %d bytes received hash to %s, not to the object asked for", path, len(body), got)
	}
	return body, nil
}

// Inclusion is the proof that custody entry seq is among the first size entries of
// the log (size 0: the current size), to check with vault.VerifyInclusion against a
// checkpoint of that size. A client may ask for the entries it made or relayed and
// those naming an object it may see; others are 404.
func (c *Client) Inclusion(ctx context.Context, seq, size uint64) ([][]byte, error) {
	q := url.Values{"seq": {strconv.FormatUint(seq, 10)}}
	if size > 0 {
		q.Set("size", strconv.FormatUint(size, 10))
	}
	body, err := c.do(ctx, http.MethodGet, "/v1/proof/inclusion?"+q.Encode())
	if err != nil {
		return nil, err
	}
	return ParseProof(body)
}

// Error is an answer other than 200 or 201, with the vault's reason.
type Error struct {
	Path   string
	Status int
	Reason string
	// Field is the request field the vault names as at fault, if any (e.g.
	// "caseReference" for 409 on an exclusive case, "onBehalfOf" for 403).
	Field string
	// Digest is the object an exclusive case reference already names (409), if
	// the vault told this client.
	Digest vault.Digest
}

func (e *Error) Error() string {
	return fmt.Sprintf("vault %s answered %d: %s", e.Path, e.Status, e.Reason)
}

// IsStatus reports whether err is an answer with HTTP status code.
func IsStatus(err error, code int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == code
}

func (c *Client) do(ctx context.Context, method, path string) ([]byte, error) {
	return c.doLimit(ctx, method, path, maxResponse)
}

func (c *Client) doLimit(ctx context.Context, method, path string, limit int64) ([]byte, error) {
	return c.send(ctx, request{method: method, path: path, limit: limit})
}

// request is one call: a body (nil for none), extra headers and the most of the
// answer that is read.
type request struct {
	method, path string
	header       http.Header
	body         []byte
	limit        int64
}

// send makes one request and returns its answer's body, at most rq.limit bytes.
// An answer other than 200 or 201 is an *Error with the vault's reason and field.
func (c *Client) send(ctx context.Context, rq request) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
	}
	var reqBody io.Reader
	if rq.body != nil {
		reqBody = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, c.base+rq.path, reqBody)
	if err != nil {
		return nil, err
	}
	for k, vs := range rq.header {
		req.Header[k] = vs
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("vault %s: %w", rq.path, err)
	}
	defer resp.Body.Close()
	failed := resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated
	limit := rq.limit
	if failed {
		// An error is read within its own bound, whatever the answer's limit.
		limit = maxErrorAnswer
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("vault %s: reading the answer: %w", rq.path, err)
	}
	if int64(len(body)) > limit && !failed {
		return nil, fmt.Errorf("vault %s: the answer is larger than %d bytes", rq.path, limit)
	}
	if failed {
		var apiErr struct {
			Error  string       `json:"error"`
			Field  string       `json:"field"`
			Digest vault.Digest `json:"digest"`
		}
		e := &Error{Path: rq.path, Status: resp.StatusCode, Reason: http.StatusText(resp.StatusCode)}
		if json.Unmarshal(body, &apiErr) == nil && apiErr.Error != "" {
			e.Reason, e.Field = apiErr.Error, apiErr.Field
			if _, derr := vault.ParseDigest(string(apiErr.Digest)); derr == nil {
				e.Digest = apiErr.Digest
			}
		}
		return nil, e
	}
	return body, nil
}
