// Package vaultclient is the operator's client for an evidence vault's API: its
// inventory and keys, signed checkpoints of its custody log, consistency proofs
// between two of them, and full verifications. It speaks mutual TLS with the
// operator's client certificate, issued from the FocalPoint's national CA.
package vaultclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
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
	var out T
	body, err := c.doLimit(ctx, method, path, limit)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return out, fmt.Errorf("vault %s: not the expected JSON: %w", path, err)
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

// Error is an answer other than 200, with the vault's reason.
type Error struct {
	Path   string
	Status int
	Reason string
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
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("vault %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("vault %s: reading the answer: %w", path, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("vault %s: the answer is larger than %d bytes", path, limit)
	}
	if resp.StatusCode != http.StatusOK {
		var apiErr struct {
			Error string `json:"error"`
		}
		reason := http.StatusText(resp.StatusCode)
		if json.Unmarshal(body, &apiErr) == nil && apiErr.Error != "" {
			reason = apiErr.Error
		}
		return nil, &Error{Path: path, Status: resp.StatusCode, Reason: reason}
	}
	return body, nil
}
