// Package peer is the client side of the gateway's API towards a peer State's
// gateway: submitting a request and checking the receipt, and probing the peer
// (a mutual-TLS handshake and its signed trust bundle). The gateway uses it for
// outbound requests and the operator for a CooperationChannel's probe, so both
// check the peer the same way.
package peer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
)

// maxAnswer bounds what is read of one answer: a receipt with its inclusion proof
// and checkpoint is a few kilobytes, a trust bundle a few certificates.
const maxAnswer = 1 << 20

// TrustBundleMaxAge is the oldest signed trust bundle a probe accepts; a gateway
// signs its bundle when asked, so an older one is a replay.
const TrustBundleMaxAge = 10 * time.Minute

// Client calls one peer gateway with one channel's client certificate.
type Client struct {
	// Party is the peer: a State's alpha-2 code or a service provider's identifier.
	Party string
	// Self is this State; a receipt must name it as the sender. Empty skips the check
	// (a probe sends nothing).
	Self string
	// ServerName is the name the peer's serving certificate must carry.
	ServerName string
	// Roots are the peer CAs the channel trusts.
	Roots *x509.CertPool

	base *url.URL
	http *http.Client
}

// Options tune a Client.
type Options struct {
	// Timeout bounds one call whose context has no deadline. Default 30s.
	Timeout time.Duration
	// KeepAlive keeps connections open between calls (the gateway's outbound path);
	// a probe wants a fresh handshake every time and leaves it off.
	KeepAlive bool
}

// New returns a client for the gateway of party (a State's alpha-2 code or a
// service provider's identifier) at endpoint.
func New(party, endpoint, serverName string, cert tls.Certificate, roots *x509.CertPool, opts Options) (*Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("peer endpoint %q must be an https URL with a host and no credentials, query or fragment", endpoint)
	}
	if serverName == "" {
		serverName = u.Hostname()
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			ServerName:   serverName,
			RootCAs:      roots,
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"http/1.1"},
		},
		DisableKeepAlives:     !opts.KeepAlive,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: opts.Timeout,
		Proxy:                 http.ProxyFromEnvironment,
		ForceAttemptHTTP2:     false,
	}
	return &Client{
		Party: party, ServerName: serverName, Roots: roots,
		base: u, http: &http.Client{Transport: tr, Timeout: opts.Timeout,
			// A peer's redirect is never followed: it could send the request in clear,
			// or make this gateway call an address of the peer's choosing.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}, nil
}

// Close drops the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

func (c *Client) url(path string) string {
	return strings.TrimSuffix(c.base.String(), "/") + path
}

// Error is a refusal from the peer.
type Error struct {
	Status  int
	Refusal wire.Refusal
}

func (e *Error) Error() string {
	return fmt.Sprintf("peer answered %d %s: %s", e.Status, e.Refusal.Reason, e.Refusal.Error)
}

// Submitted is the peer's verified answer to a request.
type Submitted struct {
	Accepted wire.Accepted
	Receipt  *receipt.Receipt
	// New is true when the peer recorded the request now (201), false when it had
	// recorded it before (200).
	New bool
}

// Submit sends one request document (its RFC 8785 canonical form, of the given
// reference and type) and verifies the receipt: signed by the peer's gateway under
// the channel's trust, for this document's digest, reference and type, from this
// State to the peer, recorded in the peer's vault. A refusal is an *Error; a
// server error or a redirect is ErrPeerUnavailable.
func (c *Client) Submit(ctx context.Context, canonical []byte, reference, requestType string, now func() time.Time) (*Submitted, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(wire.PathRequests), bytes.NewReader(canonical))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	status, body, err := c.do(req)
	if err != nil {
		return nil, err
	}
	switch {
	case status >= 300 && status < 400:
		return nil, fmt.Errorf("%w: it answered a redirect (%d), which is not followed", ErrPeerUnavailable, status)
	case status >= 500:
		return nil, fmt.Errorf("%w: it answered %d: %w", ErrPeerUnavailable, status, refusal(status, body))
	case status != http.StatusCreated && status != http.StatusOK:
		return nil, refusal(status, body)
	}
	var acc wire.Accepted
	if err := json.Unmarshal(body, &acc); err != nil {
		return nil, fmt.Errorf("peer %s answered %d with a body that is not an acceptance: %w", c.Party, status, err)
	}
	rc, _, err := receipt.Verify(acc.Receipt, c.Roots, c.ServerName, now())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReceiptInvalid, err)
	}
	sum := sha256.Sum256(canonical)
	if want := "sha256:" + hex.EncodeToString(sum[:]); rc.Digest != want {
		return nil, fmt.Errorf("%w: the receipt is for digest %s, not for the request sent (%s)", ErrReceiptInvalid, rc.Digest, want)
	}
	if rc.To != c.Party {
		return nil, fmt.Errorf("%w: the receipt is from %q, not from the channel's peer %s", ErrReceiptInvalid, rc.To, c.Party)
	}
	if c.Self != "" && rc.From != c.Self {
		return nil, fmt.Errorf("%w: the receipt names %q as the sender, not %s", ErrReceiptInvalid, rc.From, c.Self)
	}
	if rc.RequestID != acc.RequestID {
		return nil, fmt.Errorf("%w: the receipt names request %q, the answer %q", ErrReceiptInvalid, rc.RequestID, acc.RequestID)
	}
	if rc.Reference != reference || rc.Type != requestType {
		return nil, fmt.Errorf("%w: the receipt is for a %s request of another reference, not for the %s request sent", ErrReceiptInvalid, rc.Type, requestType)
	}
	if rc.Received.After(now().Add(maxClockSkew)) {
		return nil, fmt.Errorf("%w: the receipt says the request was received at %s, in the future", ErrReceiptInvalid, rc.Received.UTC().Format(time.RFC3339))
	}
	return &Submitted{Accepted: acc, Receipt: rc, New: status == http.StatusCreated}, nil
}

// ErrReceiptInvalid marks a receipt that did not verify.
var ErrReceiptInvalid = errors.New("the peer's receipt does not verify")

// ErrPeerUnavailable marks a peer that could not take the request: a server error or
// a redirect. A retry with the same reference is safe.
var ErrPeerUnavailable = errors.New("the peer could not take the request")

// maxClockSkew is how far in the future a receipt's received time may be.
const maxClockSkew = 5 * time.Minute

// Probed is what a probe learned.
type Probed struct {
	// RoundTrip is connection, handshake and the trust-bundle request.
	RoundTrip time.Duration
	// PeerCertificate is the certificate the peer served.
	PeerCertificate *x509.Certificate
	// Bundle is the peer's signed trust bundle and its CA certificates, verified
	// against the CAs the channel trusted before.
	Bundle *receipt.TrustBundle
	CAs    []*x509.Certificate
}

// Probe opens a fresh mutual-TLS connection, fetches the peer's signed trust bundle
// and verifies it.
func (c *Client) Probe(ctx context.Context, now time.Time) (*Probed, error) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(wire.PathTrustBundle), nil)
	if err != nil {
		return nil, err
	}
	var served *x509.Certificate
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, describeDialError(err)
	}
	defer resp.Body.Close()
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		served = resp.TLS.PeerCertificates[0]
	}
	body, err := readAll(resp.Body)
	if err != nil {
		return nil, err
	}
	rtt := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the peer answered %d to GET %s: %w", resp.StatusCode, wire.PathTrustBundle, refusal(resp.StatusCode, body))
	}
	bundle, cas, err := receipt.VerifyTrustBundle(strings.TrimSpace(string(body)), c.Roots, c.Party, c.ServerName, now, TrustBundleMaxAge)
	if err != nil {
		return nil, fmt.Errorf("the peer's signed trust bundle does not verify: %w", err)
	}
	return &Probed{RoundTrip: rtt, PeerCertificate: served, Bundle: bundle, CAs: cas}, nil
}

func (c *Client) do(req *http.Request) (int, []byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, describeDialError(err)
	}
	defer resp.Body.Close()
	body, err := readAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

func readAll(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("reading the peer's answer: %w", err)
	}
	if len(body) > maxAnswer {
		return nil, fmt.Errorf("the peer's answer is larger than %d bytes", maxAnswer)
	}
	return body, nil
}

func refusal(status int, body []byte) error {
	e := &Error{Status: status}
	if err := json.Unmarshal(body, &e.Refusal); err != nil || e.Refusal.Reason == "" {
		e.Refusal = wire.Refusal{Reason: http.StatusText(status), Error: "the peer's answer is not a refusal document"}
	}
	return e
}

// describeDialError keeps the transport's error (it names the address and what
// failed: refused, timeout, unknown authority, bad certificate) and adds nothing
// secret: no key or certificate material reaches these messages.
func describeDialError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return fmt.Errorf("%s %s: %w", uerr.Op, uerr.URL, uerr.Err)
	}
	return err
}
