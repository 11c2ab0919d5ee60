package gateway

// The gateway tried as an adversary would (STYLE.md item 13): certificates that
// are almost right, one peer reaching for another's requests, bodies cut off or
// oversized, slow and greedy clients, lookalike JSON, races on one reference,
// forged receipts, a vault that stops mid-stream, secrets in refusals and logs,
// and files edited under a running gateway.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	dto "github.com/prometheus/client_model/go"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/receipt"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/requests"
	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
	"github.com/cybercoop/cybercoop-operator/internal/vaultclient"
)

// secretValue is planted in request fields; no refusal or log line may repeat it.
const secretValue = "SECRET-VALUE-123"

// logLines collects a gateway's log lines, to grep them for what must not be there.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 10})
}

func (l *logLines) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// vaultProcess is a country's vault that a test can stop mid-stream and start
// again on the same data directory and address.
type vaultProcess struct {
	t       testing.TB
	c       *country
	cfg     vault.Config
	addr    string
	serving string
	cancel  context.CancelFunc
	done    chan error
}

func newVaultProcess(c *country, dir string) *vaultProcess {
	t := c.t
	t.Helper()
	vp := &vaultProcess{t: t, c: c, serving: filepath.Join(dir, "files", "serving")}
	name := "vault." + strings.ToLower(c.code) + ".test"
	c.issue(vp.serving, pki.LeafSpec{CommonName: name, DNSNames: []string{name}, Usages: []pki.Usage{pki.UsageServer}})
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	kr, err := vault.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	skey, _, err := vault.GenerateSigningKey("vault-" + strings.ToLower(c.code))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := vault.LoadSigner([]byte(skey))
	if err != nil {
		t.Fatal(err)
	}
	relay, err := vault.ParsePrincipals("--relay", []string{c.gatewayIdentity()})
	if err != nil {
		t.Fatal(err)
	}
	grants := vault.DefaultGrants()
	grants[vault.RoleRelay] = relay
	grants[vault.RoleList], grants[vault.RoleVerify] = relay, relay
	vp.cfg = vault.Config{Dir: filepath.Join(dir, "data"), Keyring: kr, Signer: signer, Grants: grants}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	vp.addr = ln.Addr().String()
	_ = ln.Close()
	c.vaultURL = "https://" + vp.addr
	vp.start()
	t.Cleanup(vp.stop)
	return vp
}

// start opens the vault on its data directory and serves it.
func (vp *vaultProcess) start() {
	t := vp.t
	t.Helper()
	v, err := vault.Open(vp.cfg)
	if err != nil {
		t.Fatalf("opening %s's vault: %v", vp.c.code, err)
	}
	vp.c.vault = v
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- vault.Serve(ctx, v, vault.ServeConfig{Listen: vp.addr, CertFile: filepath.Join(vp.serving, "tls.crt"), KeyFile: filepath.Join(vp.serving, "tls.key"),
			ClientCAFile: filepath.Join(vp.serving, "ca.crt"), ReloadInterval: time.Hour, Logger: logr.Discard(),
			Ready: func(net.Addr, net.Addr) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("vault %s: %v", vp.c.code, err)
	}
	vp.cancel, vp.done = cancel, done
}

// stop closes the vault first, so ingests in flight fail as if the process had
// gone, then stops serving.
func (vp *vaultProcess) stop() {
	if vp.cancel == nil {
		return
	}
	_ = vp.c.vault.Close()
	vp.cancel()
	<-vp.done
	vp.cancel = nil
}

// startCountry is newCountry with the gateway's settings chosen by the test
// (configure runs before Load) and a vault the test can stop.
func startCountry(t testing.TB, code string, configure func(*Server)) (*country, *vaultProcess) {
	t.Helper()
	dir := t.TempDir()
	c := &country{t: t, code: code, ca: newCA(t, code), paths: Paths{
		Config: filepath.Join(dir, "config", ConfigFile), TLSDir: filepath.Join(dir, "tls"), TrustDir: filepath.Join(dir, "trust"),
		ChannelsDir: filepath.Join(dir, "channels"), VaultClientDir: filepath.Join(dir, "vault-client"),
	}}
	writeFile(t, filepath.Join(c.paths.TrustDir, "ca.crt"), c.trustPEM())
	if err := os.MkdirAll(c.paths.ChannelsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	c.issue(c.paths.TLSDir, pki.LeafSpec{CommonName: c.serverName(), DNSNames: []string{c.serverName()}, Usages: []pki.Usage{pki.UsageServer}})
	c.issue(c.paths.VaultClientDir, pki.LeafSpec{CommonName: "gateway", URIs: []string{c.gatewayIdentity()}, Usages: []pki.Usage{pki.UsageClient}})
	c.officer = c.issue("", pki.LeafSpec{CommonName: "duty officer", URIs: []string{c.officerIdentity()}, Usages: []pki.Usage{pki.UsageClient}})
	vp := newVaultProcess(c, filepath.Join(dir, "vault"))
	c.writeConfig()
	c.gw = &Server{Paths: c.paths, Log: logr.Discard(), ReloadInterval: time.Hour}
	if configure != nil {
		configure(c.gw)
	}
	if err := c.gw.Load(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.url = "https://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.gw.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway %s: %v", code, err)
		}
	})
	return c, vp
}

// forgeCert issues a leaf from ca exactly as tmpl says, bypassing pki's checks,
// for certificates the operator would never issue.
func forgeCert(t testing.TB, ca *pki.KeyPair, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	if tmpl.NotAfter.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	}
	if tmpl.KeyUsage == 0 {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Certificate, key.Public(), ca.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// insistingClient presents cert whatever CAs the gateway says it accepts (Go's
// client would otherwise send no certificate at all to a gateway that does not
// name its CA), as an attacker's client does.
func insistingClient(c *country, cert tls.Certificate) *client {
	cl := c.clientFor(cert, c.trustPool())
	tr := cl.http.Transport.(*http.Transport)
	tr.TLSClientConfig.Certificates = nil
	tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	return cl
}

func mustURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// canonicalDigest is the digest a receipt must carry for doc.
func canonicalDigest(t testing.TB, doc []byte) string {
	t.Helper()
	canonical, err := requests.Canonical(doc)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(canonical)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// checkAccepted decodes an acceptance and verifies its receipt against the
// receiving State's CA: signed by its gateway, for doc, from sender to receiver.
func checkAccepted(t testing.TB, receiver *country, from string, doc, body []byte) (wire.Accepted, *receipt.Receipt) {
	t.Helper()
	var acc wire.Accepted
	if err := json.Unmarshal(body, &acc); err != nil || acc.Receipt == "" {
		t.Fatalf("not an acceptance: %s (%v)", body, err)
	}
	rc, _, err := receipt.Verify(acc.Receipt, receiver.trustPool(), receiver.serverName(), time.Now())
	if err != nil {
		t.Fatalf("the receipt of %s does not verify against %s's CA: %v", acc.RequestID, receiver.code, err)
	}
	if rc.From != from || rc.To != receiver.code || rc.Channel != from+"-"+receiver.code || rc.RequestID != acc.RequestID {
		t.Fatalf("receipt names %s→%s (%s), request %s; want %s→%s, request %s", rc.From, rc.To, rc.Channel, rc.RequestID, from, receiver.code, acc.RequestID)
	}
	if want := canonicalDigest(t, doc); rc.Digest != want {
		t.Fatalf("receipt digest %s, the document's is %s", rc.Digest, want)
	}
	return acc, rc
}

// holds reports whether a country's vault holds the object with these bytes.
func holds(t testing.TB, v *vault.Vault, body []byte) bool {
	t.Helper()
	sum := sha256.Sum256(body)
	_, err := v.Stat(vault.Digest("sha256:" + hex.EncodeToString(sum[:])))
	return err == nil
}

// dialGateway opens a mutual-TLS connection to c's gateway with cert.
func dialGateway(t testing.TB, c *country, cert tls.Certificate) *tls.Conn {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(c.url, "https://"), &tls.Config{
		MinVersion: tls.VersionTLS13, ServerName: c.serverName(), RootCAs: c.trustPool(),
		Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// rawAnswer is one HTTP answer read off a raw connection.
type rawAnswer struct {
	StatusCode int
	Header     http.Header
}

// readAnswer reads one HTTP answer from conn within d.
func readAnswer(conn net.Conn, d time.Duration) (rawAnswer, []byte, error) {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return rawAnswer{}, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return rawAnswer{resp.StatusCode, resp.Header}, body, err
}

// adversaryPair is Viet Nam with adjustable settings and France as in newPair.
type adversaryPair struct {
	vn, fr       *country
	vnVault      *vaultProcess
	frToVN       string
	vnToFR       string
	frClientAtVN *client
	vnLog        *logLines
}

func newAdversaryPair(t testing.TB, configure func(*Server)) *adversaryPair {
	t.Helper()
	log := &logLines{}
	vn, vp := startCountry(t, "VN", func(s *Server) {
		s.Log = log.logger()
		if configure != nil {
			configure(s)
		}
	})
	p := &adversaryPair{vn: vn, vnVault: vp, fr: newCountry(t, "FR"), vnLog: log}
	p.vnToFR = p.vn.connect(p.fr, "Preservation", "SubscriberInformation", "StoredDataAccess")
	p.frToVN = p.fr.connect(p.vn, "Preservation")
	p.frClientAtVN = p.vn.clientFor(p.fr.channelCert(p.frToVN), p.vn.trustPool())
	return p
}

// TestAdversaryIdentity: certificates that are almost those of a peer or an
// officer are refused, at the handshake when no CA vouches for them, by the API
// when one does but for another role.
func TestAdversaryIdentity(t *testing.T) {
	p := newPair(t)
	doc := example(t, "Preservation", map[string]any{"/reference": reference(t)})
	outbound := wire.PathOutbound + p.vnToFR + "/requests"
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	officerURI := mustURL(t, p.vn.officerIdentity())
	de := newCA(t, "DE")
	frCA, vnCA := p.fr.ca, p.vn.ca
	frCACert := p.fr.ca.Certificate

	cases := []struct {
		name string
		cert tls.Certificate
		// extra certificates sent after the leaf, as a client may.
		chain  []*x509.Certificate
		method string
		path   string
		body   []byte
		// handshake: the TLS handshake (or the first read) must fail.
		handshake bool
		status    int
		reason    string
	}{
		{name: "a peer's channel certificate on the officers' API",
			cert: p.fr.channelCert(p.frToVN), method: http.MethodPost, path: outbound, body: doc,
			status: http.StatusForbidden, reason: wire.ReasonNotAnOfficer},
		{name: "the officer identity in a certificate from the peer's CA",
			cert:   forgeCert(t, frCA, &x509.Certificate{Subject: pkix.Name{CommonName: "duty officer"}, URIs: []*url.URL{officerURI}, ExtKeyUsage: clientAuth}),
			method: http.MethodPost, path: outbound, body: doc,
			status: http.StatusForbidden, reason: wire.ReasonNotAnOfficer},
		{name: "the officer identity in a certificate from a CA nobody trusts",
			cert:   forgeCert(t, de, &x509.Certificate{Subject: pkix.Name{CommonName: "duty officer"}, URIs: []*url.URL{officerURI}, ExtKeyUsage: clientAuth}),
			method: http.MethodPost, path: outbound, body: doc, handshake: true},
		{name: "an officer identity with a trailing slash",
			cert:   forgeCert(t, vnCA, &x509.Certificate{Subject: pkix.Name{CommonName: "duty officer"}, URIs: []*url.URL{mustURL(t, p.vn.officerIdentity()+"/")}, ExtKeyUsage: clientAuth}),
			method: http.MethodPost, path: outbound, body: doc,
			status: http.StatusForbidden, reason: wire.ReasonNotAnOfficer},
		{name: "an officer identity in upper case",
			cert:   forgeCert(t, vnCA, &x509.Certificate{Subject: pkix.Name{CommonName: "duty officer"}, URIs: []*url.URL{mustURL(t, strings.ToUpper(p.vn.officerIdentity()))}, ExtKeyUsage: clientAuth}),
			method: http.MethodPost, path: outbound, body: doc,
			status: http.StatusForbidden, reason: wire.ReasonNotAnOfficer},
		{name: "the officer identity as a DNS name instead of a URI",
			cert:   forgeCert(t, vnCA, &x509.Certificate{Subject: pkix.Name{CommonName: p.vn.officerIdentity()}, DNSNames: []string{"officer.vn.test"}, ExtKeyUsage: clientAuth}),
			method: http.MethodPost, path: outbound, body: doc,
			status: http.StatusForbidden, reason: wire.ReasonNotAnOfficer},
		{name: "an officer certificate with only the serverAuth usage",
			cert:   forgeCert(t, vnCA, &x509.Certificate{Subject: pkix.Name{CommonName: "duty officer"}, URIs: []*url.URL{officerURI}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}),
			method: http.MethodPost, path: outbound, body: doc, handshake: true},
		{name: "a certificate from the peer's CA with only the serverAuth usage",
			cert:   forgeCert(t, frCA, &x509.Certificate{Subject: pkix.Name{CommonName: "FR channel to VN"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}),
			method: http.MethodPost, path: wire.PathRequests, body: doc, handshake: true},
		{name: "an expired certificate from the peer's CA",
			cert: forgeCert(t, frCA, &x509.Certificate{Subject: pkix.Name{CommonName: "FR channel to VN"}, ExtKeyUsage: clientAuth,
				NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}),
			method: http.MethodPost, path: wire.PathRequests, body: doc, handshake: true},
		{name: "a not yet valid certificate from the peer's CA",
			cert: forgeCert(t, frCA, &x509.Certificate{Subject: pkix.Name{CommonName: "FR channel to VN"}, ExtKeyUsage: clientAuth,
				NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(48 * time.Hour)}),
			method: http.MethodPost, path: wire.PathRequests, body: doc, handshake: true},
		{name: "an expired officer certificate",
			cert: forgeCert(t, vnCA, &x509.Certificate{Subject: pkix.Name{CommonName: "duty officer"}, URIs: []*url.URL{officerURI}, ExtKeyUsage: clientAuth,
				NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}),
			method: http.MethodPost, path: outbound, body: doc, handshake: true},
		{name: "a certificate from a CA nobody trusts on the trust bundle",
			cert:   forgeCert(t, de, &x509.Certificate{Subject: pkix.Name{CommonName: "DE channel to VN"}, ExtKeyUsage: clientAuth}),
			method: http.MethodGet, path: wire.PathTrustBundle, handshake: true},
		{name: "an officer certificate padded with the peer's CA on the peer API",
			cert: p.vn.officer, chain: []*x509.Certificate{frCACert}, method: http.MethodPost, path: wire.PathRequests, body: doc,
			status: http.StatusForbidden, reason: wire.ReasonNoChannel},
		{name: "a peer certificate padded with the State's own CA on the officers' API",
			cert: p.fr.channelCert(p.frToVN), chain: []*x509.Certificate{vnCA.Certificate}, method: http.MethodPost, path: outbound, body: doc,
			status: http.StatusForbidden, reason: wire.ReasonNotAnOfficer},
		{name: "a leaf from the State's own CA (not an officer) on the peer API",
			cert:   p.vn.issue("", pki.LeafSpec{CommonName: "FR channel to VN", Usages: []pki.Usage{pki.UsageClient}}),
			method: http.MethodPost, path: wire.PathRequests, body: doc,
			status: http.StatusForbidden, reason: wire.ReasonNoChannel},
		{name: "the State's own officer reading a request",
			cert: p.vn.officer, method: http.MethodGet, path: wire.PathRequests + "/rq-" + strings.Repeat("0", 32),
			status: http.StatusForbidden, reason: wire.ReasonNoChannel},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cert := tc.cert
			for _, c := range tc.chain {
				cert.Certificate = append(append([][]byte(nil), cert.Certificate...), c.Raw)
			}
			status, body, err := insistingClient(p.vn, cert).call(tc.method, tc.path, tc.body)
			if tc.handshake {
				if err == nil {
					t.Fatalf("the handshake succeeded and the gateway answered %d %s", status, body)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s %s: %v", tc.method, tc.path, err)
			}
			if r := refusalOf(t, body); status != tc.status || r.Reason != tc.reason {
				t.Fatalf("%d %s, want %d %s", status, body, tc.status, tc.reason)
			}
		})
	}
	for _, c := range []*country{p.vn, p.fr} {
		if n := objectCount(t, c.vault); n != 0 {
			t.Errorf("%s's vault holds %d objects after the attempts", c.code, n)
		}
	}
}

// TestAdversaryAmbiguousPeerCA: when two channels trust the CA of a client
// certificate, the gateway cannot tell which State is calling; it refuses rather
// than map the caller to either.
func TestAdversaryAmbiguousPeerCA(t *testing.T) {
	p := newPair(t)
	ref := reference(t)
	doc := example(t, "Preservation", map[string]any{"/reference": ref})
	status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, doc)
	if status != http.StatusCreated {
		t.Fatalf("before the second channel: %d %s", status, body)
	}
	acc, _ := checkAccepted(t, p.vn, "FR", doc, body)

	// A channel to Germany whose trust file also holds France's CA (a copy-paste
	// mistake, or two States behind one CA).
	de := &country{t: t, code: "DE", ca: newCA(t, "DE")}
	ch := Channel{Name: "to-de", Country: "DE", Endpoint: "https://gateway.de.test", ServerName: "gateway.de.test",
		RequestTypes: []string{"Preservation", "EmergencyDisclosure"}, LegalBasis: "UNCC art. 40-42; test channel VN-DE",
		OnwardTransfer: "Prohibited", RetentionDays: 365}
	certPEM, keyPEM := p.vn.issuePEM(pki.LeafSpec{CommonName: "VN channel to DE", Usages: []pki.Usage{pki.UsageClient}})
	writeFile(t, filepath.Join(p.vn.paths.ChannelsDir, ch.ClientCertFile()), certPEM)
	writeFile(t, filepath.Join(p.vn.paths.ChannelsDir, ch.ClientKeyFile()), keyPEM)
	writeFile(t, filepath.Join(p.vn.paths.ChannelsDir, ch.TrustFile()), append(de.trustPEM(), p.fr.trustPEM()...))
	p.vn.channels.Channels = append(p.vn.channels.Channels, ch)
	p.vn.writeChannels()

	before := objectCount(t, p.vn.vault)
	cases := []struct {
		name, method, path string
		body               []byte
	}{
		{"a new request", http.MethodPost, wire.PathRequests, example(t, "Preservation", map[string]any{"/reference": reference(t)})},
		{"a type only the other channel permits", http.MethodPost, wire.PathRequests, example(t, "EmergencyDisclosure", map[string]any{"/reference": reference(t)})},
		{"the earlier request again", http.MethodPost, wire.PathRequests, doc},
		{"the earlier request's state", http.MethodGet, wire.PathRequests + "/" + acc.RequestID, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := p.frClientAtVN.mustCall(tc.method, tc.path, tc.body)
			if r := refusalOf(t, body); status != http.StatusForbidden || r.Reason != wire.ReasonNoChannel {
				t.Fatalf("%d %s, want 403 %s", status, body, wire.ReasonNoChannel)
			}
			if strings.Contains(string(body), ref) || strings.Contains(string(body), acc.Receipt) {
				t.Fatalf("the refusal shows the request: %s", body)
			}
		})
	}
	if n := objectCount(t, p.vn.vault); n != before {
		t.Fatalf("an ambiguous caller left %d objects", n-before)
	}
	// A DE certificate is not ambiguous: only the DE channel trusts its CA.
	deCert := de.issue("", pki.LeafSpec{CommonName: "DE channel to VN", Usages: []pki.Usage{pki.UsageClient}})
	deDoc := example(t, "Preservation", map[string]any{"/reference": reference(t)})
	status, body = p.vn.clientFor(deCert, p.vn.trustPool()).mustCall(http.MethodPost, wire.PathRequests, deDoc)
	if status != http.StatusCreated {
		t.Fatalf("DE: %d %s", status, body)
	}
	checkAccepted(t, p.vn, "DE", deDoc, body)
}

// TestAdversaryReadingRequests: a peer reaches for another peer's request by its
// id, spelt every way a path can spell it, and for ids that are not ids. It is
// never shown the request; its own request is found only by its exact id.
func TestAdversaryReadingRequests(t *testing.T) {
	p := newPair(t)
	de := newCountry(t, "DE")
	p.vn.connect(de, "Preservation")
	deAtVN := p.vn.clientFor(de.channelCert(de.connect(p.vn, "Preservation")), p.vn.trustPool())
	noRedirect := func(cl *client) *client {
		cl.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return cl
	}
	noRedirect(deAtVN)
	fr := noRedirect(p.vn.clientFor(p.fr.channelCert(p.frToVN), p.vn.trustPool()))

	ref := reference(t)
	doc := example(t, "Preservation", map[string]any{"/reference": ref})
	status, body := fr.mustCall(http.MethodPost, wire.PathRequests, doc)
	if status != http.StatusCreated {
		t.Fatalf("FR's request: %d %s", status, body)
	}
	acc, _ := checkAccepted(t, p.vn, "FR", doc, body)
	id := acc.RequestID
	// DE's own request under FR's reference is DE's, with another id.
	deDoc := example(t, "Preservation", map[string]any{"/reference": ref, "/factsSummary": "Germany's own summary of the facts."})
	status, body = deAtVN.mustCall(http.MethodPost, wire.PathRequests, deDoc)
	if status != http.StatusCreated {
		t.Fatalf("DE's request under FR's reference: %d %s", status, body)
	}
	deAcc, _ := checkAccepted(t, p.vn, "DE", deDoc, body)
	if deAcc.RequestID == id {
		t.Fatalf("DE's request has FR's id %s", id)
	}

	escapeAll := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			fmt.Fprintf(&b, "%%%02X", s[i])
		}
		return b.String()
	}
	paths := map[string]string{
		"the id":                       id,
		"the id in upper case":         strings.ToUpper(id),
		"the hex in upper case":        "rq-" + strings.ToUpper(id[3:]),
		"the id with a trailing slash": id + "/",
		"the id percent-encoded":       escapeAll(id),
		"the id with an encoded slash and the sender's country": "..%2FFR%2F" + id,
		"a dot-dot path to the id":                              "x/../" + id,
		"an encoded dot-dot path":                               "%2E%2E%2Finbound%2FFR%2F" + id,
		"the id and a query":                                    id + "?sender=FR",
		"the id with a NUL":                                     id + "%00",
		"the receipt case":                                      id + "/receipt",
		"one character short":                                   id[:len(id)-1],
		"one character long":                                    id + "0",
		"empty":                                                 "",
		"not hex":                                               "rq-" + strings.Repeat("z", 32),
		"very long":                                             "rq-" + strings.Repeat("0", 8000),
	}
	for name, path := range paths {
		t.Run("DE reads FR's request by "+name, func(t *testing.T) {
			status, body := deAtVN.mustCall(http.MethodGet, wire.PathRequests+"/"+path, nil)
			if status < 300 || status >= 500 {
				t.Fatalf("%d %s", status, body)
			}
			if strings.Contains(string(body), acc.Receipt) || strings.Contains(string(body), ref) {
				t.Fatalf("DE was shown FR's request: %s", body)
			}
		})
	}
	// FR itself finds its request by its id, escaped or not, and by nothing else.
	for name, path := range paths {
		t.Run("FR reads its request by "+name, func(t *testing.T) {
			status, body := fr.mustCall(http.MethodGet, wire.PathRequests+"/"+path, nil)
			switch name {
			case "the id", "the id percent-encoded", "the id and a query":
				var st wire.RequestState
				if status != http.StatusOK || json.Unmarshal(body, &st) != nil || st.Receipt != acc.Receipt || st.RequestID != id {
					t.Fatalf("%d %s", status, body)
				}
			default:
				if status < 300 || status >= 500 || strings.Contains(string(body), acc.Receipt) {
					t.Fatalf("%d %s", status, body)
				}
			}
		})
	}
	// Nor does FR see DE's request, although DE's reference is its own.
	status, body = fr.mustCall(http.MethodGet, wire.PathRequests+"/"+deAcc.RequestID, nil)
	if status != http.StatusNotFound || refusalOf(t, body).Reason != wire.ReasonNotFound {
		t.Fatalf("FR read DE's request: %d %s", status, body)
	}
}

// refusedCount is how many refusals of reason the gateway counted for caller.
func refusedCount(s *Server, caller, reason string) float64 {
	var m dto.Metric
	if err := s.metrics.refused.WithLabelValues(caller, reason).Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// waitFor waits up to d for cond, checking it every 5ms.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("after %s: %s", d, what)
		case <-tick.C:
		}
	}
}

// safeReference is reference(t) with the characters a subtest's name may hold
// and a reference may not replaced.
func safeReference(t testing.TB) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', strings.ContainsRune("_./:-", r):
			return r
		}
		return '_'
	}, reference(t))
}

// padTo pads a JSON document with trailing spaces to n bytes.
func padTo(t testing.TB, doc []byte, n int) []byte {
	t.Helper()
	if len(doc) > n {
		t.Fatalf("the document is %d bytes, more than %d", len(doc), n)
	}
	return append(append([]byte(nil), doc...), []byte(strings.Repeat(" ", n-len(doc)))...)
}

// TestAdversaryBodySizeBounds: a body of exactly wire.MaxRequestBody bytes is
// read whole and accepted; one byte more is refused 413 and nothing is kept.
func TestAdversaryBodySizeBounds(t *testing.T) {
	p := newPair(t)
	for _, tc := range []struct {
		name   string
		size   int
		status int
	}{
		{"exactly the bound", wire.MaxRequestBody, http.StatusCreated},
		{"one byte more", wire.MaxRequestBody + 1, http.StatusRequestEntityTooLarge},
		{"a mebibyte more", wire.MaxRequestBody + 1<<20, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := objectCount(t, p.vn.vault)
			doc := padTo(t, example(t, "Preservation", map[string]any{"/reference": reference(t)}), tc.size)
			status, body, err := p.frClientAtVN.call(http.MethodPost, wire.PathRequests, doc)
			if err != nil {
				// The gateway may close the connection once it has answered 413
				// to a body it stopped reading; the answer is then lost to the client.
				if tc.status != http.StatusRequestEntityTooLarge {
					t.Fatal(err)
				}
			} else if status != tc.status {
				t.Fatalf("%d bytes: %d %s, want %d", tc.size, status, body, tc.status)
			}
			if status == http.StatusCreated {
				checkAccepted(t, p.vn, "FR", doc, body)
				if n := objectCount(t, p.vn.vault); n != before+2 {
					t.Fatalf("%d objects more, want the request and its receipt", n-before)
				}
				return
			}
			if err == nil && refusalOf(t, body).Reason != wire.ReasonRequestTooLarge {
				t.Fatalf("reason %s", body)
			}
			if n := objectCount(t, p.vn.vault); n != before {
				t.Fatalf("an oversized body left %d objects", n-before)
			}
		})
	}
}

// TestAdversaryCutOffBodies: a body that ends before it is complete is never
// recorded, even when the part that arrived is itself a valid document (the
// declared rest being padding), and whether the client half-closes (and reads
// the refusal) or drops the connection.
func TestAdversaryCutOffBodies(t *testing.T) {
	p := newPair(t)
	type attempt struct {
		name string
		// wire builds what is sent for doc: the head and the part of the body
		// that arrives.
		wire func(doc []byte) string
		// drop closes the connection without a TLS close_notify instead of
		// half-closing it and reading the answer.
		drop bool
	}
	head := func(extra string) string {
		return "POST " + wire.PathRequests + " HTTP/1.1\r\nHost: " + p.vn.serverName() + "\r\nContent-Type: application/json\r\n" + extra + "\r\n"
	}
	attempts := []attempt{
		{"a valid document, then less padding than declared", func(doc []byte) string {
			return head(fmt.Sprintf("Content-Length: %d\r\n", len(doc)+100)) + string(doc) + "   "
		}, false},
		{"half a document", func(doc []byte) string {
			return head(fmt.Sprintf("Content-Length: %d\r\n", len(doc))) + string(doc[:len(doc)/2])
		}, false},
		{"a declared length far beyond the bound", func(doc []byte) string {
			return head(fmt.Sprintf("Content-Length: %d\r\n", 1<<40)) + string(doc)
		}, false},
		{"chunked, cut off mid-chunk", func(doc []byte) string {
			return head("Transfer-Encoding: chunked\r\n") + fmt.Sprintf("%x\r\n", len(doc)+10) + string(doc)
		}, false},
		{"chunked, a whole valid document but no last chunk", func(doc []byte) string {
			return head("Transfer-Encoding: chunked\r\n") + fmt.Sprintf("%x\r\n", len(doc)) + string(doc) + "\r\n"
		}, false},
		{"chunked, cut off in a chunk size line", func(doc []byte) string {
			return head("Transfer-Encoding: chunked\r\n") + fmt.Sprintf("%x\r\n", len(doc)) + string(doc) + "\r\n1"
		}, false},
		{"a valid document, then less padding than declared, dropped", func(doc []byte) string {
			return head(fmt.Sprintf("Content-Length: %d\r\n", len(doc)+100)) + string(doc) + "   "
		}, true},
		{"chunked, a whole valid document but no last chunk, dropped", func(doc []byte) string {
			return head("Transfer-Encoding: chunked\r\n") + fmt.Sprintf("%x\r\n", len(doc)) + string(doc) + "\r\n"
		}, true},
	}
	for _, a := range attempts {
		t.Run(a.name, func(t *testing.T) {
			before := objectCount(t, p.vn.vault)
			incomplete := refusedCount(p.vn.gw, "FR", wire.ReasonIncompleteBody)
			doc := example(t, "Preservation", map[string]any{"/reference": safeReference(t)})
			conn := dialGateway(t, p.vn, p.fr.channelCert(p.frToVN))
			defer conn.Close()
			if _, err := io.WriteString(conn, a.wire(doc)); err != nil {
				t.Fatal(err)
			}
			if a.drop {
				// Without close_notify the gateway sees the TCP connection end.
				tcp := conn.NetConn().(*net.TCPConn)
				if err := tcp.Close(); err != nil {
					t.Fatal(err)
				}
				waitFor(t, 10*time.Second, "the gateway counted no incomplete body", func() bool {
					return refusedCount(p.vn.gw, "FR", wire.ReasonIncompleteBody) > incomplete
				})
			} else {
				if err := conn.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				resp, body, err := readAnswer(conn, 10*time.Second)
				var ne net.Error
				switch {
				case errors.As(err, &ne) && ne.Timeout():
					t.Fatal("no answer to a cut-off body within 10s")
				case err == nil && resp.StatusCode < 400:
					t.Fatalf("a cut-off body was answered %d %s", resp.StatusCode, body)
				case err == nil && resp.StatusCode >= 500:
					t.Fatalf("a cut-off body was answered %d %s", resp.StatusCode, body)
				}
			}
			if n := objectCount(t, p.vn.vault); n != before {
				t.Fatalf("a cut-off body left %d objects", n-before)
			}
			// The document sent whole afterwards is new: nothing of the cut-off one was recorded.
			status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, doc)
			if status != http.StatusCreated {
				t.Fatalf("the whole document afterwards: %d %s", status, body)
			}
			checkAccepted(t, p.vn, "FR", doc, body)
		})
	}
}

// TestAdversaryLengthAndChunked: a body framed both ways (the request-smuggling
// shape) is read by its chunks, as RFC 9112 says: the declared length, shorter
// than the chunked body, neither truncates the document nor lets what follows it
// be read as a second request.
func TestAdversaryLengthAndChunked(t *testing.T) {
	p := newPair(t)
	doc := example(t, "Preservation", map[string]any{"/reference": reference(t)})
	smuggled := "GET " + wire.PathTrustBundle + " HTTP/1.1\r\nHost: x\r\n\r\n"
	chunk := string(doc) + smuggled
	conn := dialGateway(t, p.vn, p.fr.channelCert(p.frToVN))
	defer conn.Close()
	msg := "POST " + wire.PathRequests + " HTTP/1.1\r\nHost: " + p.vn.serverName() + "\r\nContent-Type: application/json\r\n" +
		fmt.Sprintf("Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n", len(doc)) +
		fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(chunk), chunk)
	if _, err := io.WriteString(conn, msg); err != nil {
		t.Fatal(err)
	}
	resp, body, err := readAnswer(conn, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The chunked body is the document followed by text: not one JSON document.
	if resp.StatusCode != http.StatusBadRequest || refusalOf(t, body).Reason != wire.ReasonMalformedRequest {
		t.Fatalf("%d %s, want 400 %s", resp.StatusCode, body, wire.ReasonMalformedRequest)
	}
	if _, _, err := readAnswer(conn, 500*time.Millisecond); err == nil {
		t.Fatal("a second answer came: the smuggled request was served")
	}
	if n := objectCount(t, p.vn.vault); n != 0 {
		t.Fatalf("%d objects", n)
	}
}

// gatewayHeaderTimeout is the header timeout the slow-client test gives the
// gateway (Server.Timeouts.Header; 10s by default).
const gatewayHeaderTimeout = 2 * time.Second

// TestAdversarySlowClients: a client that opens a connection and never
// completes the handshake, one that completes it and sends nothing, and one that
// sends its request head a byte at a time are all cut off by the server's
// header timeout, not held open for as long as they keep trickling.
func TestAdversarySlowClients(t *testing.T) {
	p := newAdversaryPair(t, func(s *Server) { s.Timeouts.Header = gatewayHeaderTimeout })
	addr := strings.TrimPrefix(p.vn.url, "https://")
	frCert := p.fr.channelCert(p.frToVN)
	cases := []struct {
		name string
		open func(t *testing.T) net.Conn
		// trickle sends the request head a byte every eighth of the timeout.
		trickle bool
	}{
		{"no handshake", func(t *testing.T) net.Conn {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			return conn
		}, false},
		{"a handshake, then silence", func(t *testing.T) net.Conn { return dialGateway(t, p.vn, frCert) }, false},
		{"a request head a byte at a time", func(t *testing.T) net.Conn { return dialGateway(t, p.vn, frCert) }, true},
	}
	// All at once, so the test waits for the timeout once.
	conns := make([]net.Conn, len(cases))
	for i, tc := range cases {
		conns[i] = tc.open(t)
		defer conns[i].Close()
	}
	stop := make(chan struct{})
	defer close(stop)
	start := time.Now()
	failures := make(chan string, len(cases))
	var wg sync.WaitGroup
	for i, tc := range cases {
		conn := conns[i]
		if tc.trickle {
			go func() {
				head := "POST " + wire.PathRequests + " HTTP/1.1\r\nHost: " + p.vn.serverName() + "\r\nX-Padding: " + strings.Repeat("a", 100)
				for i := 0; i < len(head); i++ {
					select {
					case <-stop:
						return
					case <-time.After(gatewayHeaderTimeout / 8):
					}
					if _, err := conn.Write([]byte{head[i]}); err != nil {
						return
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The connection must end (EOF, reset, or an error answer and then
			// the close) before the deadline; a read timeout means the gateway
			// still holds it.
			_ = conn.SetReadDeadline(start.Add(gatewayHeaderTimeout + 5*time.Second))
			buf := make([]byte, 4096)
			for {
				_, err := conn.Read(buf)
				if err == nil {
					continue
				}
				var ne net.Error
				took := time.Since(start).Round(100 * time.Millisecond)
				switch {
				case errors.As(err, &ne) && ne.Timeout():
					failures <- fmt.Sprintf("%s: the gateway still held the connection after %s", tc.name, took)
				case took < gatewayHeaderTimeout/2:
					failures <- fmt.Sprintf("%s: the connection ended after %s, before the header timeout: %v", tc.name, took, err)
				}
				return
			}
		}()
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
}

// TestAdversaryGreedyPeer: a peer with more requests in flight than
// PerPeerConcurrency is answered 429 with Retry-After, never 5xx; its requests
// in flight complete; another peer is not slowed by it.
func TestAdversaryGreedyPeer(t *testing.T) {
	const limit = 2
	p := newAdversaryPair(t, func(s *Server) { s.PerPeerConcurrency = limit })
	de := newCountry(t, "DE")
	p.vn.connect(de, "Preservation")
	deAtVN := p.vn.clientFor(de.channelCert(de.connect(p.vn, "Preservation")), p.vn.trustPool())
	frCert := p.fr.channelCert(p.frToVN)

	// limit slow requests hold FR's slots: their head and half their body are in.
	type held struct {
		conn *tls.Conn
		doc  []byte
	}
	var holding []held
	for i := 0; i < limit; i++ {
		doc := example(t, "Preservation", map[string]any{"/reference": fmt.Sprintf("%s-held-%d", reference(t), i)})
		conn := dialGateway(t, p.vn, frCert)
		defer conn.Close()
		head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", wire.PathRequests, p.vn.serverName(), len(doc))
		if _, err := io.WriteString(conn, head+string(doc[:len(doc)/2])); err != nil {
			t.Fatal(err)
		}
		holding = append(holding, held{conn, doc})
	}
	// Probes with a body the schema refuses (so that one let through leaves
	// nothing) until the slots are seen taken.
	var resp *http.Response
	waitFor(t, 10*time.Second, "FR's slow requests never took its slots", func() bool {
		req, err := http.NewRequest(http.MethodPost, p.vn.url+wire.PathRequests, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := p.frClientAtVN.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.StatusCode >= 500 {
			t.Fatalf("a probe was answered %d", r.StatusCode)
		}
		resp = r
		return r.StatusCode == http.StatusTooManyRequests
	})
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// A complete request from FR is refused too, and not recorded.
	busyDoc := example(t, "Preservation", map[string]any{"/reference": reference(t) + "-busy"})
	status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, busyDoc)
	if status != http.StatusTooManyRequests || refusalOf(t, body).Reason != wire.ReasonTooManyRequests {
		t.Fatalf("FR over its limit: %d %s", status, body)
	}
	// Germany is not held up by France.
	deDoc := example(t, "Preservation", map[string]any{"/reference": reference(t) + "-de"})
	status, body = deAtVN.mustCall(http.MethodPost, wire.PathRequests, deDoc)
	if status != http.StatusCreated {
		t.Fatalf("DE while FR is at its limit: %d %s", status, body)
	}
	checkAccepted(t, p.vn, "DE", deDoc, body)
	// The slow requests complete and are accepted.
	for _, h := range holding {
		if _, err := h.conn.Write(h.doc[len(h.doc)/2:]); err != nil {
			t.Fatal(err)
		}
		resp, body, err := readAnswer(h.conn, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("a slow request: %d %s", resp.StatusCode, body)
		}
		checkAccepted(t, p.vn, "FR", h.doc, body)
	}
	// The refused one, retried, is accepted: the 429 kept nothing.
	status, body = p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, busyDoc)
	if status != http.StatusCreated {
		t.Fatalf("the refused request retried: %d %s", status, body)
	}
	checkAccepted(t, p.vn, "FR", busyDoc, body)
}

// TestAdversaryBurst: far more concurrent requests than PerPeerConcurrency from
// one peer; every answer is 201 or 429 (with Retry-After), every 201 is in the
// vault with its receipt, and nothing else is.
func TestAdversaryBurst(t *testing.T) {
	const limit, burst = 4, 48
	p := newAdversaryPair(t, func(s *Server) { s.PerPeerConcurrency = limit })
	type answer struct {
		doc    []byte
		status int
		retry  string
		body   []byte
		err    error
	}
	answers := make([]answer, burst)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range answers {
		answers[i].doc = example(t, "Preservation", map[string]any{"/reference": fmt.Sprintf("%s-%d", reference(t), i)})
		wg.Add(1)
		go func(a *answer) {
			defer wg.Done()
			// One connection each, as a greedy client opens them.
			cl := p.vn.clientFor(p.fr.channelCert(p.frToVN), p.vn.trustPool())
			req, err := http.NewRequest(http.MethodPost, p.vn.url+wire.PathRequests, strings.NewReader(string(a.doc)))
			if err != nil {
				a.err = err
				return
			}
			<-start
			resp, err := cl.http.Do(req)
			if err != nil {
				a.err = err
				return
			}
			defer resp.Body.Close()
			a.status, a.retry = resp.StatusCode, resp.Header.Get("Retry-After")
			a.body, a.err = io.ReadAll(resp.Body)
		}(&answers[i])
	}
	close(start)
	wg.Wait()
	accepted, refused := 0, 0
	for _, a := range answers {
		switch {
		case a.err != nil:
			t.Fatalf("transport: %v", a.err)
		case a.status == http.StatusCreated:
			accepted++
			acc, _ := checkAccepted(t, p.vn, "FR", a.doc, a.body)
			canonical, _ := requests.Canonical(a.doc)
			if !holds(t, p.vn.vault, canonical) || !holds(t, p.vn.vault, []byte(acc.Receipt)) {
				t.Fatalf("request %s was acknowledged but the vault lacks it or its receipt", acc.RequestID)
			}
		case a.status == http.StatusTooManyRequests:
			refused++
			if a.retry == "" || refusalOf(t, a.body).Reason != wire.ReasonTooManyRequests {
				t.Fatalf("429 without Retry-After or reason: %s", a.body)
			}
		default:
			t.Fatalf("answered %d %s", a.status, a.body)
		}
	}
	t.Logf("%d accepted, %d refused 429", accepted, refused)
	if accepted == 0 {
		t.Fatal("nothing was accepted")
	}
	if n := objectCount(t, p.vn.vault); n != 2*accepted {
		t.Fatalf("the vault holds %d objects for %d accepted requests", n, accepted)
	}
}

// TestAdversaryLookalikeJSON: documents that one JSON reader would take for a
// valid request and another would not. What is accepted is exactly what is
// validated, digested, stored and receipted; the rest is refused with a reason,
// without a 5xx, and leaves nothing in the vault.
func TestAdversaryLookalikeJSON(t *testing.T) {
	p := newPair(t)
	valid := func(t *testing.T) []byte {
		return example(t, "Preservation", map[string]any{"/reference": safeReference(t)})
	}
	// splice inserts raw JSON members right after the document's opening brace.
	splice := func(doc []byte, members string) []byte {
		return []byte("{" + members + "," + string(doc[1:]))
	}
	// without removes a member, then splices raw members in.
	without := func(t *testing.T, member, members string) []byte {
		return splice(example(t, "Preservation", map[string]any{"/reference": safeReference(t), "/" + member: nil}), members)
	}
	cases := []struct {
		name   string
		doc    func(t *testing.T) []byte
		status int
		reason string
		field  string
	}{
		{"a repeated reference", func(t *testing.T) []byte { return splice(valid(t), `"reference":"`+secretValue+`"`) },
			http.StatusBadRequest, wire.ReasonMalformedRequest, "/reference"},
		{"a repeated type, the permitted one last", func(t *testing.T) []byte {
			return splice(without(t, "type", `"type":"Preservation"`), `"type":"EmergencyDisclosure"`)
		}, http.StatusBadRequest, wire.ReasonMalformedRequest, ""},
		// encoding/json, which peeks at the type, keeps the last; the strict
		// decoder refuses the repetition. Either refusal will do.
		{"a repeated type, the permitted one first", func(t *testing.T) []byte {
			return splice(without(t, "type", `"type":"EmergencyDisclosure"`), `"type":"Preservation"`)
		}, http.StatusForbidden, wire.ReasonRequestTypeNotPermitted, ""},
		{"an escaped member name repeating reference", func(t *testing.T) []byte { return splice(valid(t), `"\u0072eference":"`+secretValue+`"`) },
			http.StatusBadRequest, wire.ReasonMalformedRequest, "/reference"},
		{"a TYPE beside type", func(t *testing.T) []byte { return splice(valid(t), `"TYPE":"EmergencyDisclosure"`) },
			http.StatusBadRequest, wire.ReasonMalformedRequest, "/TYPE"},
		{"a Type of a type the channel forbids instead of type", func(t *testing.T) []byte {
			return without(t, "type", `"Type":"Preservation"`)
		}, http.StatusBadRequest, wire.ReasonMalformedRequest, "/type"},
		{"a Cyrillic e in reference", func(t *testing.T) []byte { return without(t, "reference", `"refеrence":"X-1"`) },
			http.StatusBadRequest, wire.ReasonMalformedRequest, ""},
		{"a byte order mark", func(t *testing.T) []byte { return append([]byte("\xef\xbb\xbf"), valid(t)...) },
			http.StatusBadRequest, wire.ReasonMalformedRequest, ""},
		{"a raw NUL in a string", func(t *testing.T) []byte {
			return without(t, "factsSummary", `"factsSummary":"`+secretValue+"\x00"+`"`)
		}, http.StatusBadRequest, wire.ReasonMalformedRequest, ""},
		{"a NUL after the document", func(t *testing.T) []byte { return append(valid(t), 0) },
			http.StatusBadRequest, wire.ReasonMalformedRequest, ""},
		{"invalid UTF-8 in a string", func(t *testing.T) []byte {
			return without(t, "factsSummary", `"factsSummary":"`+secretValue+"\xff\xfe"+`"`)
		}, http.StatusBadRequest, wire.ReasonMalformedRequest, ""},
		{"an unpaired surrogate escape", func(t *testing.T) []byte {
			return without(t, "factsSummary", `"factsSummary":"`+secretValue+`\ud800"`)
		}, http.StatusBadRequest, wire.ReasonMalformedRequest, "/factsSummary"},
		{"arrays nested 100 000 deep", func(t *testing.T) []byte {
			return splice(valid(t), `"deep":`+strings.Repeat("[", 100000)+strings.Repeat("]", 100000))
		}, http.StatusBadRequest, wire.ReasonMalformedRequest, ""},
		{"unclosed nesting", func(t *testing.T) []byte { return []byte(strings.Repeat(`{"a":`, 50000)) },
			http.StatusBadRequest, wire.ReasonMalformedRequest, ""},
		{"a version of 1e400", func(t *testing.T) []byte { return without(t, "schemaVersion", `"schemaVersion":1e400`) },
			http.StatusBadRequest, wire.ReasonMalformedRequest, "/schemaVersion"},
		{"a version of 1.0000000000000000001", func(t *testing.T) []byte { return without(t, "schemaVersion", `"schemaVersion":1.0000000000000000001`) },
			http.StatusBadRequest, wire.ReasonMalformedRequest, "/schemaVersion"},
		{"a version with a huge exponent", func(t *testing.T) []byte { return without(t, "schemaVersion", `"schemaVersion":1e999999999999`) },
			http.StatusBadRequest, wire.ReasonMalformedRequest, "/schemaVersion"},
		{"a type in lower case", func(t *testing.T) []byte { return without(t, "type", `"type":"preservation"`) },
			http.StatusBadRequest, wire.ReasonMalformedRequest, "/type"},
		{"a type with a trailing space", func(t *testing.T) []byte { return without(t, "type", `"type":"Preservation "`) },
			http.StatusBadRequest, wire.ReasonMalformedRequest, "/type"},
		{"a type that is a number", func(t *testing.T) []byte { return without(t, "type", `"type":1`) },
			http.StatusBadRequest, wire.ReasonMalformedRequest, "/type"},
		{"a type that is null", func(t *testing.T) []byte { return without(t, "type", `"type":null`) },
			http.StatusBadRequest, wire.ReasonMalformedRequest, "/type"},
		{"a type that is a list", func(t *testing.T) []byte { return without(t, "type", `"type":["Preservation"]`) },
			http.StatusBadRequest, wire.ReasonMalformedRequest, "/type"},
		{"no type", func(t *testing.T) []byte { return without(t, "type", `"x":1`) },
			http.StatusBadRequest, wire.ReasonMalformedRequest, "/type"},
		{"a type the channel does not permit", func(t *testing.T) []byte {
			return example(t, "EmergencyDisclosure", map[string]any{"/reference": safeReference(t)})
		}, http.StatusForbidden, wire.ReasonRequestTypeNotPermitted, ""},
		{"a forbidden type, escaped", func(t *testing.T) []byte {
			doc := example(t, "EmergencyDisclosure", map[string]any{"/reference": safeReference(t), "/type": nil})
			return splice(doc, `"type":"Emergency\u0044isclosure"`)
		}, http.StatusForbidden, wire.ReasonRequestTypeNotPermitted, ""},
		{"an empty body", func(*testing.T) []byte { return nil }, http.StatusBadRequest, wire.ReasonMalformedRequest, ""},
		{"null", func(*testing.T) []byte { return []byte("null") }, http.StatusBadRequest, wire.ReasonMalformedRequest, ""},
		{"a list of requests", func(t *testing.T) []byte { return []byte("[" + string(valid(t)) + "]") },
			http.StatusBadRequest, wire.ReasonMalformedRequest, ""},
		{"two documents", func(t *testing.T) []byte { return append(valid(t), valid(t)...) },
			http.StatusBadRequest, wire.ReasonMalformedRequest, ""},
	}
	// The permission check peeks at the type with encoding/json, which fails on
	// a non-string member whose name folds to "type"; the peek then sees no type.
	// Such a member must not let a forbidden type through to Parse.
	for _, typ := range []string{"EmergencyDisclosure", "MutualLegalAssistance", "TrafficDataDisclosure", "RealTimeTrafficData", "Interception"} {
		for _, member := range []string{`"TYPE":1`, `"Type":{}`, `"tYpE":true`} {
			cases = append(cases, struct {
				name   string
				doc    func(t *testing.T) []byte
				status int
				reason string
				field  string
			}{"a forbidden " + typ + " with " + member, func(t *testing.T) []byte {
				return splice(example(t, typ, map[string]any{"/reference": safeReference(t)}), member)
			}, http.StatusBadRequest, wire.ReasonMalformedRequest, ""})
		}
	}
	before := objectCount(t, p.vn.vault)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			started := time.Now()
			status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, tc.doc(t))
			if took := time.Since(started); took > 5*time.Second {
				t.Errorf("took %s", took)
			}
			r := refusalOf(t, body)
			if status != tc.status || r.Reason != tc.reason {
				t.Fatalf("%d %s, want %d %s", status, body, tc.status, tc.reason)
			}
			if tc.field != "" && !hasField(r, tc.field) {
				t.Fatalf("fields %+v do not name %s", r.Fields, tc.field)
			}
			if strings.Contains(string(body), secretValue) {
				t.Fatalf("the refusal repeats a value: %s", body)
			}
		})
	}
	if n := objectCount(t, p.vn.vault); n != before {
		t.Fatalf("refused documents left %d objects", n-before)
	}

	// An escaped member name is the member: accepted, and stored and receipted
	// in canonical form under the unescaped name.
	ref := reference(t)
	doc := []byte(`{"\u0072eference":"` + ref + `",` + string(example(t, "Preservation", map[string]any{"/reference": nil}))[1:])
	status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, doc)
	if status != http.StatusCreated {
		t.Fatalf("an escaped member name alone: %d %s", status, body)
	}
	_, rc := checkAccepted(t, p.vn, "FR", doc, body)
	if rc.Reference != ref {
		t.Fatalf("receipt reference %q, want %q", rc.Reference, ref)
	}
}

// concurrently sends each document at once from its own connection with the
// FR channel's certificate and returns the statuses and bodies.
func concurrently(t *testing.T, p *adversaryPair, docs [][]byte) ([]int, [][]byte) {
	t.Helper()
	statuses, bodies := make([]int, len(docs)), make([][]byte, len(docs))
	errs := make([]error, len(docs))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, doc := range docs {
		cl := p.vn.clientFor(p.fr.channelCert(p.frToVN), p.vn.trustPool())
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses[i], bodies[i], errs[i] = cl.call(http.MethodPost, wire.PathRequests, doc)
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return statuses, bodies
}

// TestAdversarySameReferenceConcurrently: twenty copies of one request at
// once are one request: one 201, the rest 200 with the same receipt byte for
// byte, one request and one receipt in the vault.
func TestAdversarySameReferenceConcurrently(t *testing.T) {
	const copies = 20
	p := newAdversaryPair(t, func(s *Server) { s.PerPeerConcurrency = 2 * copies })
	doc := example(t, "Preservation", map[string]any{"/reference": reference(t)})
	docs := make([][]byte, copies)
	for i := range docs {
		docs[i] = doc
	}
	statuses, bodies := concurrently(t, p, docs)
	created, receipts := 0, map[string]bool{}
	for i, status := range statuses {
		switch status {
		case http.StatusCreated:
			created++
		case http.StatusOK:
		default:
			t.Fatalf("copy %d: %d %s", i, status, bodies[i])
		}
		acc, _ := checkAccepted(t, p.vn, "FR", doc, bodies[i])
		receipts[acc.Receipt] = true
	}
	if created != 1 || len(receipts) != 1 {
		t.Fatalf("%d answers 201 and %d different receipts; want one of each", created, len(receipts))
	}
	if n := objectCount(t, p.vn.vault); n != 2 {
		t.Fatalf("the vault holds %d objects, want the request and its receipt", n)
	}
	for r := range receipts {
		canonical, _ := requests.Canonical(doc)
		if !holds(t, p.vn.vault, canonical) || !holds(t, p.vn.vault, []byte(r)) {
			t.Fatal("the vault lacks the request or the receipt answered")
		}
	}
}

// TestAdversaryReferenceRaceWithDifferentContent: twenty different documents
// under one reference at once: one is accepted, the others are conflicts, and
// the vault holds one request.
func TestAdversaryReferenceRaceWithDifferentContent(t *testing.T) {
	const versions = 20
	p := newAdversaryPair(t, func(s *Server) { s.PerPeerConcurrency = 2 * versions })
	ref := reference(t)
	docs := make([][]byte, versions)
	for i := range docs {
		docs[i] = example(t, "Preservation", map[string]any{"/reference": ref, "/factsSummary": fmt.Sprintf("Version %d of the summary of the facts.", i)})
	}
	statuses, bodies := concurrently(t, p, docs)
	winner := -1
	for i, status := range statuses {
		switch status {
		case http.StatusCreated:
			if winner >= 0 {
				t.Fatalf("versions %d and %d were both accepted", winner, i)
			}
			winner = i
			checkAccepted(t, p.vn, "FR", docs[i], bodies[i])
		case http.StatusConflict:
			if r := refusalOf(t, bodies[i]); r.Reason != wire.ReasonReferenceReused {
				t.Fatalf("version %d: %s", i, bodies[i])
			}
		default:
			t.Fatalf("version %d: %d %s", i, status, bodies[i])
		}
	}
	if winner < 0 {
		t.Fatal("no version was accepted")
	}
	if n := objectCount(t, p.vn.vault); n != 2 {
		t.Fatalf("the vault holds %d objects, want one request and its receipt", n)
	}
	for i, doc := range docs {
		canonical, _ := requests.Canonical(doc)
		if holds(t, p.vn.vault, canonical) != (i == winner) {
			t.Fatalf("version %d: held %v, winner %d", i, i != winner, winner)
		}
	}
}

// TestAdversarySameReferenceFromTwoPeers: France and Germany use one
// reference, with different documents: two requests, each its sender's.
func TestAdversarySameReferenceFromTwoPeers(t *testing.T) {
	p := newPair(t)
	de := newCountry(t, "DE")
	p.vn.connect(de, "Preservation")
	deAtVN := p.vn.clientFor(de.channelCert(de.connect(p.vn, "Preservation")), p.vn.trustPool())
	ref := reference(t)
	frDoc := example(t, "Preservation", map[string]any{"/reference": ref})
	deDoc := example(t, "Preservation", map[string]any{"/reference": ref, "/factsSummary": "Germany's summary of the facts."})

	status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, frDoc)
	if status != http.StatusCreated {
		t.Fatalf("FR: %d %s", status, body)
	}
	frAcc, _ := checkAccepted(t, p.vn, "FR", frDoc, body)
	status, body = deAtVN.mustCall(http.MethodPost, wire.PathRequests, deDoc)
	if status != http.StatusCreated {
		t.Fatalf("DE under FR's reference: %d %s", status, body)
	}
	deAcc, _ := checkAccepted(t, p.vn, "DE", deDoc, body)
	if frAcc.RequestID == deAcc.RequestID {
		t.Fatal("one id for two senders")
	}
	// Each sender's retry finds its own request.
	for _, c := range []struct {
		cl   *client
		doc  []byte
		want wire.Accepted
	}{{p.frClientAtVN, frDoc, frAcc}, {deAtVN, deDoc, deAcc}} {
		status, body := c.cl.mustCall(http.MethodPost, wire.PathRequests, c.doc)
		var again wire.Accepted
		if status != http.StatusOK || json.Unmarshal(body, &again) != nil || again != c.want {
			t.Fatalf("retry: %d %s", status, body)
		}
	}
	if n := objectCount(t, p.vn.vault); n != 4 {
		t.Fatalf("the vault holds %d objects, want two requests and two receipts", n)
	}
}

// signJWS signs payload as a compact JWS of type typ with cert's P-256 key and
// cert as x5c, whatever the payload says: a peer's gateway gone bad.
func signJWS(t testing.TB, cert tls.Certificate, payload []byte, typ string) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("x5c", []string{base64.StdEncoding.EncodeToString(cert.Certificate[0])})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: cert.PrivateKey}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	compact, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return compact
}

// resign re-signs a receipt's payload after edit, with cert.
func resign(t testing.TB, cert tls.Certificate, compact string, edit func(*receipt.Receipt)) string {
	t.Helper()
	rc, err := receipt.Peek(compact)
	if err != nil {
		t.Fatal(err)
	}
	edit(rc)
	payload, err := json.Marshal(rc)
	if err != nil {
		t.Fatal(err)
	}
	return signJWS(t, cert, payload, receipt.TypeReceipt)
}

// fakePeer stands where France's channel expects Viet Nam's gateway, with a
// serving certificate from Viet Nam's CA: it passes each request on to the real
// gateway with France's channel certificate, then answers what answer makes of
// the real answer.
type fakePeer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	answer func(status int, acc wire.Accepted) (int, []byte)
}

func newFakePeer(t *testing.T, p *pair) *fakePeer {
	t.Helper()
	f := &fakePeer{}
	serving := p.vn.issue("", pki.LeafSpec{CommonName: p.vn.serverName(), DNSNames: []string{p.vn.serverName()}, Usages: []pki.Usage{pki.UsageServer}})
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		status, real, err := p.frClientAtVN.call(r.Method, r.URL.Path, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		var acc wire.Accepted
		_ = json.Unmarshal(real, &acc)
		f.mu.Lock()
		answer := f.answer
		f.mu.Unlock()
		status, out := answer(status, acc)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(out)
	}))
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{serving}, MinVersion: tls.VersionTLS13}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	// France's channel to Viet Nam now reaches the fake.
	p.fr.channels.Channels[0].Endpoint = f.srv.URL
	p.fr.writeChannels()
	return f
}

func (f *fakePeer) set(answer func(status int, acc wire.Accepted) (int, []byte)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = answer
}

func acceptance(t testing.TB, acc wire.Accepted) []byte {
	t.Helper()
	b, err := json.Marshal(acc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAdversaryForgedReceipts: a peer that answers an outbound request with a
// receipt that does not prove that peer recorded that document gets the
// officer 502 ReceiptInvalid, and France's vault keeps nothing of the exchange.
func TestAdversaryForgedReceipts(t *testing.T) {
	p := newPair(t)
	vnServing, err := tls.LoadX509KeyPair(filepath.Join(p.vn.paths.TLSDir, "tls.crt"), filepath.Join(p.vn.paths.TLSDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	// An earlier genuine exchange, whose receipt a bad peer may replay.
	earlierDoc := example(t, "Preservation", map[string]any{"/reference": reference(t) + "-earlier"})
	status, body := p.send(t, earlierDoc)
	if status != http.StatusCreated {
		t.Fatalf("the earlier request: %d %s", status, body)
	}
	earlier, _ := checkAccepted(t, p.vn, "FR", earlierDoc, body)
	trustBundle := func() string {
		_, b := p.frClientAtVN.mustCall(http.MethodGet, wire.PathTrustBundle, nil)
		return string(b)
	}()
	fake := newFakePeer(t, p)

	de := newCA(t, "DE")
	serverAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	strangerCert := forgeCert(t, de, &x509.Certificate{Subject: pkix.Name{CommonName: p.vn.serverName()}, DNSNames: []string{p.vn.serverName()}, ExtKeyUsage: serverAuth})
	otherNameCert := forgeCert(t, p.vn.ca, &x509.Certificate{Subject: pkix.Name{CommonName: "gateway.xx.test"}, DNSNames: []string{"gateway.xx.test"}, ExtKeyUsage: serverAuth})
	clientCert := forgeCert(t, p.vn.ca, &x509.Certificate{Subject: pkix.Name{CommonName: p.vn.serverName()}, DNSNames: []string{p.vn.serverName()},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	expiredCert := forgeCert(t, p.vn.ca, &x509.Certificate{Subject: pkix.Name{CommonName: p.vn.serverName()}, DNSNames: []string{p.vn.serverName()}, ExtKeyUsage: serverAuth,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})

	withReceipt := func(status int, acc wire.Accepted, compact string) (int, []byte) {
		acc.Receipt = compact
		return status, acceptance(t, acc)
	}
	edited := func(edit func(*receipt.Receipt)) func(int, wire.Accepted) (int, []byte) {
		return func(status int, acc wire.Accepted) (int, []byte) {
			return withReceipt(status, acc, resign(t, vnServing, acc.Receipt, edit))
		}
	}
	signedBy := func(cert tls.Certificate) func(int, wire.Accepted) (int, []byte) {
		return func(status int, acc wire.Accepted) (int, []byte) {
			return withReceipt(status, acc, resign(t, cert, acc.Receipt, func(*receipt.Receipt) {}))
		}
	}
	cases := []struct {
		name   string
		answer func(status int, acc wire.Accepted) (int, []byte)
		// reason is the officer's refusal reason; "" accepts any 502.
		reason string
	}{
		{"signed by a CA France does not trust", signedBy(strangerCert), wire.ReasonReceiptInvalid},
		{"signed by Viet Nam's CA for another server name", signedBy(otherNameCert), wire.ReasonReceiptInvalid},
		{"signed with a client certificate", signedBy(clientCert), wire.ReasonReceiptInvalid},
		{"signed with an expired certificate", signedBy(expiredCert), wire.ReasonReceiptInvalid},
		{"an earlier genuine receipt for another document", func(status int, acc wire.Accepted) (int, []byte) {
			return status, acceptance(t, earlier)
		}, wire.ReasonReceiptInvalid},
		{"an earlier receipt re-signed with this request's id", func(status int, acc wire.Accepted) (int, []byte) {
			return withReceipt(status, acc, resign(t, vnServing, earlier.Receipt, func(r *receipt.Receipt) { r.RequestID = acc.RequestID }))
		}, wire.ReasonReceiptInvalid},
		{"an earlier receipt re-signed with this document's digest", func(status int, acc wire.Accepted) (int, []byte) {
			now, err := receipt.Peek(acc.Receipt)
			if err != nil {
				t.Fatal(err)
			}
			return withReceipt(status, acc, resign(t, vnServing, earlier.Receipt, func(r *receipt.Receipt) { r.RequestID, r.Digest = acc.RequestID, now.Digest }))
		}, wire.ReasonReceiptInvalid},
		{"another sender", edited(func(r *receipt.Receipt) { r.From, r.Channel = "DE", "DE-VN" }), wire.ReasonReceiptInvalid},
		{"another receiver", edited(func(r *receipt.Receipt) { r.To, r.Channel = "KH", "FR-KH" }), wire.ReasonReceiptInvalid},
		{"a channel that is not from-to", edited(func(r *receipt.Receipt) { r.Channel = "VN-FR" }), wire.ReasonReceiptInvalid},
		{"another custody sequence", edited(func(r *receipt.Receipt) { r.Custody.Sequence++ }), wire.ReasonReceiptInvalid},
		{"no custody proof", edited(func(r *receipt.Receipt) { r.Custody = receipt.Custody{} }), wire.ReasonReceiptInvalid},
		{"a receipt for another id than the answer's", func(status int, acc wire.Accepted) (int, []byte) {
			acc.RequestID = "rq-" + strings.Repeat("0", 32)
			return status, acceptance(t, acc)
		}, wire.ReasonReceiptInvalid},
		{"a payload byte changed", func(status int, acc wire.Accepted) (int, []byte) {
			parts := strings.Split(acc.Receipt, ".")
			payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
			payload = []byte(strings.Replace(string(payload), `"from":"FR"`, `"from":"FX"`, 1))
			parts[1] = base64.RawURLEncoding.EncodeToString(payload)
			return withReceipt(status, acc, strings.Join(parts, "."))
		}, wire.ReasonReceiptInvalid},
		{"alg none", func(status int, acc wire.Accepted) (int, []byte) {
			parts := strings.Split(acc.Receipt, ".")
			hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"` + receipt.TypeReceipt + `"}`))
			return withReceipt(status, acc, hdr+"."+parts[1]+".")
		}, wire.ReasonReceiptInvalid},
		{"the signature cut off", func(status int, acc wire.Accepted) (int, []byte) {
			return withReceipt(status, acc, acc.Receipt[:strings.LastIndex(acc.Receipt, ".")+1])
		}, wire.ReasonReceiptInvalid},
		{"no receipt", func(status int, acc wire.Accepted) (int, []byte) { return withReceipt(status, acc, "") }, wire.ReasonReceiptInvalid},
		{"the peer's signed trust bundle as the receipt", func(status int, acc wire.Accepted) (int, []byte) {
			return withReceipt(status, acc, trustBundle)
		}, wire.ReasonReceiptInvalid},
		{"an acceptance that is not JSON", func(status int, acc wire.Accepted) (int, []byte) { return status, []byte("<html>ok</html>") }, ""},
		{"an acceptance of 2 MiB", func(status int, acc wire.Accepted) (int, []byte) {
			return status, []byte(`{"requestId":"` + strings.Repeat("a", 2<<20) + `"}`)
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake.set(tc.answer)
			before := objectCount(t, p.fr.vault)
			doc := example(t, "Preservation", map[string]any{"/reference": safeReference(t)})
			status, body := p.send(t, doc)
			if status != http.StatusBadGateway {
				t.Fatalf("%d %s, want 502", status, body)
			}
			if r := refusalOf(t, body); tc.reason != "" && r.Reason != tc.reason {
				t.Fatalf("reason %s, want %s", body, tc.reason)
			}
			if n := objectCount(t, p.fr.vault); n != before {
				t.Fatalf("France's vault kept %d objects of a refused exchange", n-before)
			}
		})
	}
	// The fake passing the genuine answer on is believed: the refusals above
	// were for what the fake changed.
	fake.set(func(status int, acc wire.Accepted) (int, []byte) { return status, acceptance(t, acc) })
	doc := example(t, "Preservation", map[string]any{"/reference": reference(t) + "-genuine"})
	status, body = p.send(t, doc)
	if status != http.StatusCreated {
		t.Fatalf("a genuine answer through the fake: %d %s", status, body)
	}
	checkAccepted(t, p.vn, "FR", doc, body)
}

// TestAdversaryReceiptIsNotATrustBundle: the two documents a gateway signs
// are never taken one for the other.
func TestAdversaryReceiptIsNotATrustBundle(t *testing.T) {
	p := newPair(t)
	doc := example(t, "Preservation", map[string]any{"/reference": reference(t)})
	status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, doc)
	if status != http.StatusCreated {
		t.Fatalf("%d %s", status, body)
	}
	acc, _ := checkAccepted(t, p.vn, "FR", doc, body)
	if _, _, err := receipt.VerifyTrustBundle(acc.Receipt, p.vn.trustPool(), "VN", p.vn.serverName(), time.Now(), time.Hour); err == nil {
		t.Fatal("a receipt verified as a trust bundle")
	}
	_, bundle := p.frClientAtVN.mustCall(http.MethodGet, wire.PathTrustBundle, nil)
	if _, _, err := receipt.VerifyTrustBundle(string(bundle), p.vn.trustPool(), "VN", p.vn.serverName(), time.Now(), time.Hour); err != nil {
		t.Fatalf("the trust bundle itself: %v", err)
	}
	if _, _, err := receipt.Verify(string(bundle), p.vn.trustPool(), p.vn.serverName(), time.Now()); err == nil {
		t.Fatal("a trust bundle verified as a receipt")
	}
	// The receipt verifies only against the receiver's CA and name.
	if _, _, err := receipt.Verify(acc.Receipt, p.fr.trustPool(), p.vn.serverName(), time.Now()); err == nil {
		t.Fatal("VN's receipt verified against FR's CA")
	}
	if _, _, err := receipt.Verify(acc.Receipt, p.vn.trustPool(), p.fr.serverName(), time.Now()); err == nil {
		t.Fatal("VN's receipt verified for FR's gateway name")
	}
}

// TestAdversaryVaultStopsMidStream: Viet Nam's vault stops while France's
// requests are in flight. Every request answered 201 or 200 is in the vault
// with the receipt answered, once the vault is back; the others were refused
// 503 and are recorded once when retried.
func TestAdversaryVaultStopsMidStream(t *testing.T) {
	const total = 40
	p := newAdversaryPair(t, func(s *Server) { s.PerPeerConcurrency = 2 * total })
	type outcome struct {
		doc    []byte
		status int
		body   []byte
		err    error
	}
	outcomes := make([]outcome, total)
	answered := make(chan struct{}, total)
	var wg sync.WaitGroup
	for i := range outcomes {
		outcomes[i].doc = example(t, "Preservation", map[string]any{"/reference": fmt.Sprintf("%s-%d", reference(t), i)})
		cl := p.vn.clientFor(p.fr.channelCert(p.frToVN), p.vn.trustPool())
		wg.Add(1)
		go func(o *outcome) {
			defer wg.Done()
			defer func() { answered <- struct{}{} }()
			o.status, o.body, o.err = cl.call(http.MethodPost, wire.PathRequests, o.doc)
		}(&outcomes[i])
	}
	// Stop the vault once a few are through and the rest are in flight.
	for i := 0; i < 3; i++ {
		<-answered
	}
	p.vnVault.stop()
	wg.Wait()

	p.vnVault.start()
	acked, refused := 0, 0
	for i, o := range outcomes {
		switch {
		case o.err != nil:
			t.Fatalf("request %d: %v", i, o.err)
		case o.status == http.StatusCreated || o.status == http.StatusOK:
			acked++
			acc, _ := checkAccepted(t, p.vn, "FR", o.doc, o.body)
			canonical, _ := requests.Canonical(o.doc)
			if !holds(t, p.vn.vault, canonical) {
				t.Errorf("request %d (%s) was answered %d but the vault does not hold it", i, acc.RequestID, o.status)
			}
			if !holds(t, p.vn.vault, []byte(acc.Receipt)) {
				t.Errorf("request %d (%s) was answered %d but the vault does not hold the receipt answered", i, acc.RequestID, o.status)
			}
		case o.status == http.StatusServiceUnavailable:
			refused++
			if r := refusalOf(t, o.body); r.Reason != wire.ReasonVaultUnavailable {
				t.Errorf("request %d: %s", i, o.body)
			}
		default:
			t.Errorf("request %d: %d %s", i, o.status, o.body)
		}
	}
	t.Logf("%d acknowledged before the vault stopped, %d refused", acked, refused)
	if refused == 0 {
		t.Log("the vault stopped after every request was through; nothing was cut mid-stream")
	}
	if rec := p.vn.vault.Recovery(); rec.String() != "" {
		t.Logf("the vault recovered: %s", rec)
	}

	// Every request retried with the same document is recorded once; a receipt
	// answered before is answered again, byte for byte.
	for i, o := range outcomes {
		var status int
		var body []byte
		waitFor(t, 10*time.Second, fmt.Sprintf("request %d was never accepted after the vault came back", i), func() bool {
			var err error
			status, body, err = p.frClientAtVN.call(http.MethodPost, wire.PathRequests, o.doc)
			return err == nil && (status == http.StatusCreated || status == http.StatusOK)
		})
		acc, _ := checkAccepted(t, p.vn, "FR", o.doc, body)
		if o.status == http.StatusCreated || o.status == http.StatusOK {
			var first wire.Accepted
			_ = json.Unmarshal(o.body, &first)
			if status != http.StatusOK || acc != first {
				t.Errorf("request %d retried: %d, receipt changed %v", i, status, acc != first)
			}
		}
	}
	if n := objectCount(t, p.vn.vault); n != 2*total {
		t.Errorf("the vault holds %d objects for %d requests and their receipts", n, total)
	}
	rep, err := p.vn.vault.Verify(context.Background(), vault.SystemIdentity)
	if err != nil || !rep.OK() {
		t.Errorf("the vault does not verify: %v %+v", err, rep)
	}
}

// TestAdversarySecretsStayOut: a value planted in every kind of bad field,
// member and type is repeated by no refusal and no log line, and neither is any
// key material or a vault access reference.
func TestAdversarySecretsStayOut(t *testing.T) {
	p := newAdversaryPair(t, nil)
	long := secretValue + strings.Repeat(" padding", 20000)
	edits := map[string]map[string]any{
		"an email":                 {"/requestingAuthority/email": secretValue},
		"a telephone number":       {"/requestingAuthority/phone": secretValue},
		"a time zone":              {"/requestingAuthority/timeZone": secretValue},
		"an enumerated urgency":    {"/urgency": secretValue},
		"a date":                   {"/date": secretValue},
		"a language":               {"/language": secretValue},
		"a country":                {"/custodian/country": secretValue},
		"a reference with a space": {"/reference": secretValue + " x"},
		"a version":                {"/schemaVersion": secretValue},
		"a boolean":                {"/mutualAssistanceToFollow": secretValue},
		"an object":                {"/custodian": secretValue},
		"a list":                   {"/dataToPreserve": secretValue},
		"a string far too long":    {"/factsSummary": long},
		"an unknown member":        {"/surprise": secretValue},
		"an unknown nested member": {"/requestingAuthority/surprise": secretValue},
		"a type":                   {"/type": secretValue},
		"a number for a string":    {"/factsSummary": 123456789},
	}
	for name, e := range edits {
		t.Run(name, func(t *testing.T) {
			doc := example(t, "Preservation", e)
			status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, doc)
			if status != http.StatusBadRequest {
				t.Fatalf("%d %s", status, body)
			}
			if strings.Contains(string(body), secretValue) || strings.Contains(string(body), "123456789") {
				t.Fatalf("the refusal repeats the value: %s", body)
			}
			// The same mistakes, sent out by an officer, are refused by France's gateway alike.
			status, body = p.fr.clientFor(p.fr.officer, p.fr.trustPool()).mustCall(http.MethodPost, wire.PathOutbound+p.frToVN+"/requests", doc)
			if status != http.StatusBadRequest || strings.Contains(string(body), secretValue) || strings.Contains(string(body), "123456789") {
				t.Fatalf("outbound: %d %s", status, body)
			}
		})
	}
	// Periods and an authorisation, checked outside the schema.
	sda := example(t, "StoredDataAccess", map[string]any{"/reference": reference(t), "/authorisation/expiry": "2020-01-01T00:00:00Z", "/authorisation/reference": secretValue})
	status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, sda)
	if status != http.StatusBadRequest || strings.Contains(string(body), secretValue) {
		t.Fatalf("an expired authorisation: %d %s", status, body)
	}
	// Accepted requests are logged without their content either.
	accepted := example(t, "Preservation", map[string]any{"/reference": reference(t), "/factsSummary": secretValue + " in an accepted request."})
	status, body = p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, accepted)
	if status != http.StatusCreated {
		t.Fatalf("%d %s", status, body)
	}
	// A broken key file, reloaded, is reported without its content.
	keyFile := filepath.Join(p.vn.paths.ChannelsDir, p.vnToFR+".key")
	good, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, keyFile, []byte("-----BEGIN PRIVATE KEY-----\n"+base64.StdEncoding.EncodeToString([]byte(secretValue+" key bytes"))+"\n-----END PRIVATE KEY-----\n"))
	_, err = p.vn.gw.files.Reload()
	if err == nil {
		t.Fatal("a broken key was loaded")
	}
	if msg := err.Error(); strings.Contains(msg, "PRIVATE KEY") || strings.Contains(msg, base64.StdEncoding.EncodeToString([]byte(secretValue))[:12]) {
		t.Fatalf("the reload error shows the key: %s", msg)
	}
	writeFile(t, keyFile, good)
	p.vn.reload()

	logs := p.vnLog.all()
	for _, secret := range []string{secretValue, "PRIVATE KEY", "123456789", "/access-", string(good[40:80])} {
		if strings.Contains(logs, secret) {
			t.Errorf("the gateway's log holds %q", secret)
		}
	}
	if !strings.Contains(logs, "request refused") || !strings.Contains(logs, "request accepted") {
		t.Fatalf("the log captured nothing: %.500s", logs)
	}
}

// TestAdversaryFilesEditedUnderTheGateway: files broken while the gateway
// runs are refused at the reload and the last good state serves on; removing a
// channel stops admitting its peer at the next reload, on new connections and
// on ones already open; broken files at start keep the gateway from starting.
func TestAdversaryFilesEditedUnderTheGateway(t *testing.T) {
	p := newPair(t)
	submit := func(t *testing.T) {
		t.Helper()
		doc := example(t, "Preservation", map[string]any{"/reference": safeReference(t)})
		status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, doc)
		if status != http.StatusCreated {
			t.Fatalf("FR after a refused reload: %d %s", status, body)
		}
		checkAccepted(t, p.vn, "FR", doc, body)
	}
	channelFile := func(suffix string) string { return filepath.Join(p.vn.paths.ChannelsDir, p.vnToFR+suffix) }
	truncated := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b[:len(b)/2]
	}
	breakages := []struct {
		name string
		path string
		data func() []byte
	}{
		{"a truncated channel key", channelFile(".key"), func() []byte { return truncated(channelFile(".key")) }},
		{"a truncated channel certificate", channelFile(".crt"), func() []byte { return truncated(channelFile(".crt")) }},
		{"a channel key that is another key", channelFile(".key"), func() []byte {
			_, key := p.vn.issuePEM(pki.LeafSpec{CommonName: "other", Usages: []pki.Usage{pki.UsageClient}})
			return key
		}},
		{"garbage for the peer's trust", channelFile(".trust.pem"), func() []byte { return []byte("garbage\x00\xff not a certificate") }},
		{"a truncated peer trust", channelFile(".trust.pem"), func() []byte { return truncated(channelFile(".trust.pem")) }},
		{"the peer's trust as a leaf certificate", channelFile(".trust.pem"), func() []byte {
			cert, _ := p.fr.issuePEM(pki.LeafSpec{CommonName: "not a CA", Usages: []pki.Usage{pki.UsageClient}})
			return cert
		}},
		{"a truncated channels file", filepath.Join(p.vn.paths.ChannelsDir, ChannelsFile), func() []byte {
			return truncated(filepath.Join(p.vn.paths.ChannelsDir, ChannelsFile))
		}},
		{"a channel named with a path", filepath.Join(p.vn.paths.ChannelsDir, ChannelsFile), func() []byte {
			return []byte(`{"channels":[{"name":"../tls/tls","country":"FR","endpoint":"https://x","requestTypes":["Preservation"]}]}`)
		}},
		{"one channel listed twice", filepath.Join(p.vn.paths.ChannelsDir, ChannelsFile), func() []byte {
			b, _ := json.Marshal(Channels{Channels: []Channel{p.vn.channels.Channels[0], p.vn.channels.Channels[0]}})
			return b
		}},
		{"a truncated serving key", filepath.Join(p.vn.paths.TLSDir, "tls.key"), func() []byte { return truncated(filepath.Join(p.vn.paths.TLSDir, "tls.key")) }},
		{"an empty serving certificate", filepath.Join(p.vn.paths.TLSDir, "tls.crt"), func() []byte { return nil }},
		{"garbage for the State's trust bundle", filepath.Join(p.vn.paths.TrustDir, "ca.crt"), func() []byte { return []byte("garbage") }},
		{"a configuration with an unknown field", p.vn.paths.Config, func() []byte { return []byte(`{"country":"VN","surprise":true}`) }},
		{"a truncated configuration", p.vn.paths.Config, func() []byte { return truncated(p.vn.paths.Config) }},
	}
	for _, b := range breakages {
		t.Run(b.name, func(t *testing.T) {
			good, err := os.ReadFile(b.path)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, b.path, b.data())
			if _, err := p.vn.gw.files.Reload(); err == nil {
				t.Fatal("the broken file was loaded")
			}
			submit(t)
			// Stopped and started on the broken file, the gateway does not start.
			if err := (&Server{Paths: p.vn.paths, Log: logr.Discard()}).Load(); err == nil {
				t.Fatal("a gateway started on the broken file")
			}
			writeFile(t, b.path, good)
			if _, err := p.vn.gw.files.Reload(); err != nil {
				t.Fatalf("the repaired file: %v", err)
			}
			submit(t)
		})
	}

	t.Run("a channel removed", func(t *testing.T) {
		// A connection opened before the removal.
		open := p.vn.clientFor(p.fr.channelCert(p.frToVN), p.vn.trustPool())
		if status, body := open.mustCall(http.MethodGet, wire.PathTrustBundle, nil); status != http.StatusOK {
			t.Fatalf("%d %s", status, body)
		}
		kept := p.vn.channels
		p.vn.channels = Channels{}
		p.vn.writeChannels()
		defer func() {
			p.vn.channels = kept
			p.vn.writeChannels()
		}()
		doc := example(t, "Preservation", map[string]any{"/reference": safeReference(t)})
		// The open connection is still up, but its requests have no channel.
		status, body := open.mustCall(http.MethodPost, wire.PathRequests, doc)
		if status != http.StatusForbidden || refusalOf(t, body).Reason != wire.ReasonNoChannel {
			t.Fatalf("on a connection opened before the removal: %d %s", status, body)
		}
		// A new connection fails its handshake.
		fresh := insistingClient(p.vn, p.fr.channelCert(p.frToVN))
		if status, body, err := fresh.call(http.MethodPost, wire.PathRequests, doc); err == nil {
			t.Fatalf("a new connection from the removed peer was answered %d %s", status, body)
		}
		if n := objectCount(t, p.vn.vault); n != 2*(2*len(breakages)) {
			t.Fatalf("the vault holds %d objects", n)
		}
	})
}

// TestAdversaryRequestRecordedWithoutItsReceipt: a gateway that stopped after
// recording a request and before recording its receipt left the request alone
// in the vault. The sender's retry gets a receipt, recorded once; the same
// reference with other content is still a conflict.
func TestAdversaryRequestRecordedWithoutItsReceipt(t *testing.T) {
	p := newPair(t)
	ref := reference(t)
	doc := example(t, "Preservation", map[string]any{"/reference": ref})
	req, fields, err := requests.Parse(doc, time.Now())
	if err != nil || len(fields) > 0 {
		t.Fatalf("%v %v", err, fields)
	}
	// What record ingests first, with the gateway's own vault client.
	gatewayCert, err := tls.LoadX509KeyPair(filepath.Join(p.vn.paths.VaultClientDir, "tls.crt"), filepath.Join(p.vn.paths.VaultClientDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	vc := vaultclient.New(p.vn.vaultURL, "vault.vn.test", gatewayCert, p.vn.trustPool())
	d := direction{name: "inbound", from: "FR", to: "VN"}
	caseRef := caseOf(d, "FR", requestID(d, ref))
	keep := time.Now().Add(365 * 24 * time.Hour)
	frCert := p.fr.channelCert(p.frToVN)
	leaf, err := x509.ParseCertificate(frCert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	actor := vault.IdentityFromCertificate(leaf)
	if _, err := vc.Ingest(context.Background(), vault.Metadata{CaseReference: caseRef, LegalBasis: "UNCC art. 40-42", AuthorisationReference: accessReference(caseRef),
		AuthorisationExpiry: keep, RetentionUntil: keep, Exclusive: true, OnBehalfOf: &actor}, req.Canonical); err != nil {
		t.Fatal(err)
	}

	other := example(t, "Preservation", map[string]any{"/reference": ref, "/factsSummary": "Other facts."})
	status, body := p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, other)
	if status != http.StatusConflict || refusalOf(t, body).Reason != wire.ReasonReferenceReused {
		t.Fatalf("other content under the half-recorded reference: %d %s", status, body)
	}
	status, body = p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, doc)
	if status != http.StatusOK && status != http.StatusCreated {
		t.Fatalf("the retry: %d %s", status, body)
	}
	first, _ := checkAccepted(t, p.vn, "FR", doc, body)
	status, body = p.frClientAtVN.mustCall(http.MethodPost, wire.PathRequests, doc)
	if again, _ := checkAccepted(t, p.vn, "FR", doc, body); status != http.StatusOK || again != first {
		t.Fatalf("the second retry: %d, same receipt %v", status, again == first)
	}
	if n := objectCount(t, p.vn.vault); n != 2 {
		t.Fatalf("the vault holds %d objects, want the request and its receipt", n)
	}
}

// TestAdversaryOutboundChannelNames: an officer naming a channel by a path,
// an encoding or a lookalike reaches no channel.
func TestAdversaryOutboundChannelNames(t *testing.T) {
	p := newPair(t)
	officer := p.fr.clientFor(p.fr.officer, p.fr.trustPool())
	officer.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	doc := example(t, "Preservation", map[string]any{"/reference": reference(t)})
	for _, name := range []string{"TO-VN", "to-vn%2F", "..%2Fto-vn", "to-vn%00", "to%2Dvn%20", "to-vn.trust.pem", "..%2F..%2Ftls%2Ftls", "%74o-vn "} {
		t.Run(name, func(t *testing.T) {
			status, body := officer.mustCall(http.MethodPost, wire.PathOutbound+name+"/requests", doc)
			if status < 300 || status >= 500 {
				t.Fatalf("%d %s", status, body)
			}
		})
	}
	if n := objectCount(t, p.fr.vault) + objectCount(t, p.vn.vault); n != 0 {
		t.Fatalf("%d objects", n)
	}
}

// TestAdversaryOversizedHead: a request head beyond the server's bound is
// refused before any handler runs.
func TestAdversaryOversizedHead(t *testing.T) {
	p := newPair(t)
	conn := dialGateway(t, p.vn, p.fr.channelCert(p.frToVN))
	defer conn.Close()
	head := "POST " + wire.PathRequests + " HTTP/1.1\r\nHost: " + p.vn.serverName() + "\r\n"
	for i := 0; i < 64; i++ {
		head += fmt.Sprintf("X-Pad-%d: %s\r\n", i, strings.Repeat("a", 1000))
	}
	go func() { _, _ = io.WriteString(conn, head+"Content-Length: 2\r\n\r\n{}") }()
	resp, _, err := readAnswer(conn, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("%d, want 431", resp.StatusCode)
	}
}
