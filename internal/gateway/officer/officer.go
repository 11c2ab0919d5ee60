// Package officer is the client of a State's own officers for its gateway's
// cases API: list and show requests in both directions, move them through their
// lifecycle, and fetch the statistics report. `cybercoop cases` is built on it.
package officer

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/cases"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
)

// Client calls one gateway with an officer's client certificate.
type Client struct {
	base string
	http *http.Client
}

// New is a client of the gateway at endpoint (https://host:port), whose serving
// certificate must carry serverName (empty: the endpoint's host) and chain to roots.
func New(endpoint, serverName string, cert tls.Certificate, roots *x509.CertPool) (*Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("gateway endpoint %q: want https://host[:port]", endpoint)
	}
	if serverName == "" {
		serverName = u.Hostname()
	}
	return &Client{base: strings.TrimSuffix(u.String(), "/"), http: &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS13, ServerName: serverName, RootCAs: roots, Certificates: []tls.Certificate{cert},
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// LoadCredentials reads an officer's credentials from dir, laid out as the
// operator's Secret <focalpoint>-officer is: tls.crt, tls.key and ca.crt (the
// State's trust bundle, which the gateway's serving certificate chains to).
func LoadCredentials(dir string) (tls.Certificate, *x509.CertPool, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("the officer's certificate and key in %s: %w", dir, err)
	}
	bundle, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("the trust bundle: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		return tls.Certificate{}, nil, fmt.Errorf("%s holds no PEM certificate", filepath.Join(dir, "ca.crt"))
	}
	return cert, roots, nil
}

// Error is the gateway's refusal.
type Error struct {
	Status  int
	Refusal wire.Refusal
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, printable(e.Refusal.Reason), printable(e.Refusal.Error))
}

// printable drops control and direction-override characters from text that
// reaches the officer's terminal from elsewhere: a refusal may relay the peer
// State's own words, and an escape sequence in them would act on the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || (r >= 0x7f && r <= 0x9f), r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return -1
		}
		return r
	}, s)
}

// Filter selects cases in List; empty fields select all.
type Filter struct {
	Direction string // inbound or outbound
	State     cases.State
	Overdue   bool
}

// List is every request the gateway holds, newest first.
func (c *Client) List(ctx context.Context, f Filter) ([]wire.Case, error) {
	q := url.Values{}
	if f.Direction != "" {
		q.Set("direction", f.Direction)
	}
	if f.State != "" {
		q.Set("state", string(f.State))
	}
	if f.Overdue {
		q.Set("overdue", "true")
	}
	var out []wire.Case
	return out, c.do(ctx, http.MethodGet, wire.PathCases+"?"+q.Encode(), nil, http.StatusOK, &out)
}

// Show is one request with its transitions; target is direction/peer/id.
func (c *Client) Show(ctx context.Context, target string) (*wire.Case, error) {
	path, err := casePath(target)
	if err != nil {
		return nil, err
	}
	var out wire.Case
	return &out, c.do(ctx, http.MethodGet, path, nil, http.StatusOK, &out)
}

// Act takes an action on a request; target is direction/peer/id.
func (c *Client) Act(ctx context.Context, target string, a wire.CaseAction) (*wire.CaseUpdate, error) {
	path, err := casePath(target)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	var out wire.CaseUpdate
	return &out, c.do(ctx, http.MethodPost, path+"/transitions", body, http.StatusCreated, &out)
}

// Send sends a request document (JSON, one of the request types' schemas) to
// the peer of channel, through this State's gateway, which records it and the
// peer's verified receipt in the State's vault first. A retry with the same
// reference answers the same receipt.
func (c *Client) Send(ctx context.Context, channel string, doc []byte) (*wire.Accepted, error) {
	if !channelName.MatchString(channel) {
		return nil, fmt.Errorf("%q: a channel is named by its CooperationChannel, a DNS label such as to-fr", channel)
	}
	var out wire.Accepted
	return &out, c.do(ctx, http.MethodPost, wire.PathOutbound+channel+"/requests", doc, http.StatusCreated, &out)
}

// Statistics is the report over [from, to) (zero: the gateway's default, the
// last 365 days) as JSON, or as CSV.
func (c *Client) Statistics(ctx context.Context, from, to time.Time, csv bool) ([]byte, error) {
	q := url.Values{}
	if !from.IsZero() {
		q.Set("from", from.UTC().Format(time.RFC3339))
	}
	if !to.IsZero() {
		q.Set("to", to.UTC().Format(time.RFC3339))
	}
	if csv {
		q.Set("format", "csv")
	}
	var raw json.RawMessage
	if !csv {
		err := c.do(ctx, http.MethodGet, wire.PathStatistics+"?"+q.Encode(), nil, http.StatusOK, &raw)
		return raw, err
	}
	return c.raw(ctx, http.MethodGet, wire.PathStatistics+"?"+q.Encode(), nil, http.StatusOK)
}

var (
	peerCode  = regexp.MustCompile(`^([A-Z]{2}|[a-z0-9][-a-z0-9]{1,61}[a-z0-9])$`)
	requestID = regexp.MustCompile(`^rq-[0-9a-f]{32}$`)
	// channelName is a CooperationChannel's name: a Kubernetes object name,
	// kept to a DNS label so that it cannot carry a path into the URL.
	channelName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
)

// casePath checks a direction/peer/id target.
func casePath(target string) (string, error) {
	parts := strings.Split(target, "/")
	// Exact names, so that a target cannot carry a query, an escape or a dot
	// segment into the path ("inbound/../rq-…" has a two-byte peer too).
	if len(parts) != 3 || (parts[0] != "inbound" && parts[0] != "outbound") || !peerCode.MatchString(parts[1]) || !requestID.MatchString(parts[2]) {
		return "", fmt.Errorf("%q: a request is named inbound|outbound/<peer country or provider>/<request id>, e.g. inbound/FR/rq-0123…", target)
	}
	return wire.PathCases + "/" + target, nil
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, want int, out any) error {
	answer, err := c.raw(ctx, method, path, body, want)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("%s %s: the answer does not decode: %w", method, path, err)
	}
	return nil
}

func (c *Client) raw(ctx context.Context, method, path string, body []byte, want int) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(answer, &e.Refusal) != nil || e.Refusal.Reason == "" {
			e.Refusal = wire.Refusal{Reason: http.StatusText(resp.StatusCode), Error: "the answer is not a refusal document"}
		}
		return nil, e
	}
	return answer, nil
}

// ErrNotFound reports a refusal with status 404.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}
