package gateway

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// country is one State's gateway and vault, running in the test process on
// loopback ports with certificates from its own national CA, laid out in files as
// the operator mounts them.
type country struct {
	t    testing.TB
	code string
	// provider, when set, makes this a service provider's gateway (provider
	// mode), established in code.
	provider string
	ca       *pki.KeyPair
	paths    Paths
	channels Channels
	gw       *Server
	url      string
	vault    *vault.Vault
	vaultURL string
	// officer is a local officer's client certificate.
	officer tls.Certificate
}

func (c *country) serverName() string { return "gateway." + strings.ToLower(c.code) + ".test" }

// party is how peers name c: its country code, or its provider identifier.
func (c *country) party() string {
	if c.provider != "" {
		return c.provider
	}
	return c.code
}

func (c *country) gatewayIdentity() string {
	return "spiffe://cybercoop.io/ns/" + strings.ToLower(c.code) + "/focalpoint/poc/gateway"
}

func (c *country) officerIdentity() string {
	return "spiffe://cybercoop.io/ns/" + strings.ToLower(c.code) + "/focalpoint/poc/officer"
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// issuePEM issues a leaf from the country's CA.
func (c *country) issuePEM(spec pki.LeafSpec) (certPEM, keyPEM []byte) {
	c.t.Helper()
	leaf, err := pki.IssueLeaf(c.ca, spec, time.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	keyPEM, err = pki.EncodePrivateKeyPEM(leaf.PrivateKey)
	if err != nil {
		c.t.Fatal(err)
	}
	return pki.EncodeCertificatesPEM(leaf.Certificate), keyPEM
}

// issue writes a leaf from the country's CA into dir as tls.crt, tls.key, ca.crt
// (unless dir is empty) and returns it as a TLS certificate.
func (c *country) issue(dir string, spec pki.LeafSpec) tls.Certificate {
	c.t.Helper()
	certPEM, keyPEM := c.issuePEM(spec)
	if dir != "" {
		writeFile(c.t, filepath.Join(dir, "tls.crt"), certPEM)
		writeFile(c.t, filepath.Join(dir, "tls.key"), keyPEM)
		writeFile(c.t, filepath.Join(dir, "ca.crt"), c.trustPEM())
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		c.t.Fatal(err)
	}
	return cert
}

func (c *country) trustPEM() []byte { return pki.EncodeCertificatesPEM(c.ca.Certificate) }

func (c *country) trustPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.ca.Certificate)
	return p
}

func newCA(t testing.TB, code string) *pki.KeyPair {
	t.Helper()
	ca, err := pki.CreateCA(pki.CASpec{CommonName: code + " national CA", Country: code, Organization: "Point of contact " + code}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// newCountry starts a country's vault and gateway with the gateway's defaults.
func newCountry(t testing.TB, code string) *country {
	t.Helper()
	c, _ := startCountry(t, code, nil)
	return c
}

func (c *country) writeConfig() {
	cfg := Config{Country: c.code, Authority: "Point of contact " + c.code,
		Vault:           &VaultEndpoint{URL: c.vaultURL, ServerName: "vault." + strings.ToLower(c.code) + ".test"},
		OfficerIdentity: c.officerIdentity()}
	if c.provider != "" {
		cfg.Provider = &Provider{ID: c.provider, Name: "Provider " + c.provider}
	}
	body, err := json.Marshal(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	writeFile(c.t, c.paths.Config, body)
}

// connect gives c a channel to peer permitting types (the peer's requests to c);
// the file is rewritten and reloaded as the operator's aggregation would.
func (c *country) connect(peer *country, types ...string) string {
	name := "to-" + strings.ToLower(peer.party())
	ch := Channel{Name: name, Country: peer.code, Endpoint: peer.url, ServerName: peer.serverName(), RequestTypes: types,
		LegalBasis: "UNCC art. 40-42; test channel " + c.code + "-" + peer.code, OnwardTransfer: "Prohibited", RetentionDays: 365}
	if peer.provider != "" {
		ch.Country, ch.Provider = "", peer.provider
	}
	certPEM, keyPEM := c.issuePEM(pki.LeafSpec{CommonName: c.party() + " channel to " + peer.party(), Usages: []pki.Usage{pki.UsageClient}})
	writeFile(c.t, filepath.Join(c.paths.ChannelsDir, ch.ClientCertFile()), certPEM)
	writeFile(c.t, filepath.Join(c.paths.ChannelsDir, ch.ClientKeyFile()), keyPEM)
	writeFile(c.t, filepath.Join(c.paths.ChannelsDir, ch.TrustFile()), peer.trustPEM())
	c.channels.Channels = append(c.channels.Channels, ch)
	c.writeChannels()
	return name
}

func (c *country) writeChannels() {
	body, err := json.Marshal(c.channels)
	if err != nil {
		c.t.Fatal(err)
	}
	writeFile(c.t, filepath.Join(c.paths.ChannelsDir, ChannelsFile), body)
	c.reload()
}

func (c *country) reload() {
	c.t.Helper()
	if _, err := c.gw.files.Reload(); err != nil {
		c.t.Fatalf("reloading %s's gateway: %v", c.code, err)
	}
}

// channelCert is the client certificate c's gateway presents over a channel.
func (c *country) channelCert(name string) tls.Certificate {
	cert, err := tls.LoadX509KeyPair(filepath.Join(c.paths.ChannelsDir, name+".crt"), filepath.Join(c.paths.ChannelsDir, name+".key"))
	if err != nil {
		c.t.Fatal(err)
	}
	return cert
}

// client calls a gateway with a client certificate, trusting the gateway's CA.
type client struct {
	t    testing.TB
	http *http.Client
	base string
}

func (c *country) clientFor(cert tls.Certificate, roots *x509.CertPool) *client {
	return &client{t: c.t, base: c.url, http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS13, ServerName: c.serverName(), RootCAs: roots, Certificates: []tls.Certificate{cert},
	}}}}
}

// call returns status and body; a transport error fails the test unless wantErr.
func (cl *client) call(method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, cl.base+path, bytes.NewReader(body))
	if err != nil {
		cl.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

func (cl *client) mustCall(method, path string, body []byte) (int, []byte) {
	cl.t.Helper()
	status, out, err := cl.call(method, path, body)
	if err != nil {
		cl.t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, out
}

func refusalOf(t testing.TB, body []byte) wire.Refusal {
	t.Helper()
	var r wire.Refusal
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("not a refusal: %s", body)
	}
	return r
}

// example reads a request document from the requests package's examples and applies
// edits (JSON Pointer-ish paths of object members; nil deletes).
func example(t testing.TB, name string, edits map[string]any) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("requests", "testdata", "valid", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for path, v := range edits {
		parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
		node := doc
		for _, p := range parts[:len(parts)-1] {
			next, ok := node[p].(map[string]any)
			if !ok {
				t.Fatalf("example %s has no object at %s", name, p)
			}
			node = next
		}
		if v == nil {
			delete(node, parts[len(parts)-1])
		} else {
			node[parts[len(parts)-1]] = v
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func reference(t testing.TB) string {
	return fmt.Sprintf("T-%d-%s", time.Now().UnixNano(), strings.ReplaceAll(t.Name(), "/", "."))
}

// channelCertAt parses the tls.crt in dir.
func (c *country) channelCertAt(dir string) *x509.Certificate {
	c.t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		c.t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		c.t.Fatal(err)
	}
	return leaf
}
