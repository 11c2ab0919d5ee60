package vault

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// epoch is the fake clock's start; far from the real date so that a test
// accidentally using wall time fails visibly.
var epoch = time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: epoch} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func testKey(version uint32) []byte { return bytes.Repeat([]byte{byte(version), 0x5a}, KeySize/2) }

func testKeyring(t testing.TB, versions ...uint32) *Keyring {
	t.Helper()
	keys := map[uint32][]byte{}
	for _, v := range versions {
		keys[v] = testKey(v)
	}
	kr, err := NewKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func testMetadata(now time.Time) Metadata {
	return Metadata{
		CaseReference:          "CASE/2031/0042",
		LegalBasis:             "UNCC art. 28 (search and seizure of stored data)",
		AuthorisationReference: "WARRANT/7",
		AuthorisationExpiry:    now.Add(30 * 24 * time.Hour),
		RetentionUntil:         now.Add(365 * 24 * time.Hour),
	}
}

// allGranted grants every role to every authenticated client, for tests
// that are not about roles.
func allGranted() Grants {
	g := Grants{}
	for _, r := range Roles {
		g[r] = []Principal{AnyClient}
	}
	return g
}

// testPolicy allows the short retentions the tests use.
var testPolicy = Policy{MinRetention: time.Minute}

func openTestVault(t testing.TB, dir string, clock Clock, kr *Keyring) *Vault {
	t.Helper()
	v, err := Open(Config{Dir: dir, Keyring: kr, Clock: clock, Grants: allGranted(), Policy: testPolicy})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

var testActor = Identity{Subject: "CN=investigator-1,O=Agency A", Issuer: "CN=test CA", Serial: "1", Fingerprint: "sha256:" + strings.Repeat("11", 32)}

// testIdentity is a client with the given subject and a certificate of its own.
func testIdentity(subject string) Identity {
	sum := sha256.Sum256([]byte(subject))
	return Identity{Subject: subject, Issuer: "CN=test CA", Serial: "2", Fingerprint: "sha256:" + hex.EncodeToString(sum[:])}
}

func ingest(t testing.TB, v *Vault, m Metadata, data []byte) IngestResult {
	t.Helper()
	res, err := v.Ingest(context.Background(), testActor, m, bytes.NewReader(data), NoExpectation)
	if err != nil {
		t.Fatalf("Ingest(%d bytes): %v", len(data), err)
	}
	return res
}

func readObject(t testing.TB, v *Vault, d Digest) ([]byte, error) {
	t.Helper()
	info, err := v.Stat(d)
	if err != nil {
		return nil, err
	}
	r, err := v.Read(context.Background(), testActor, d, info.Cases[0].Metadata.AuthorisationReference)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	r.Read(b)
	return b
}

// testCA is a throwaway certificate authority for mutual-TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serialCounter struct {
	sync.Mutex
	n int64
}

func nextSerial() *big.Int {
	serialCounter.Lock()
	defer serialCounter.Unlock()
	serialCounter.n++
	return big.NewInt(serialCounter.n)
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a leaf certificate valid from notBefore to notAfter.
func (ca *testCA) issue(t testing.TB, subject pkix.Name, server bool, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, serial *big.Int) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: subject, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), tmpl.SerialNumber
}

func (ca *testCA) issueValid(t testing.TB, cn string, server bool) (certPEM, keyPEM []byte, serial *big.Int) {
	return ca.issue(t, pkix.Name{CommonName: cn, Organization: []string{"Agency A"}}, server, time.Now().Add(-time.Hour), time.Now().Add(12*time.Hour))
}

// writeFileAtomic replaces path the way a careful rotation (or a Secret
// update) does: the reader sees the old or the new file, never half of one.
func writeFileAtomic(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// testServer is a vault served over mutual TLS on loopback.
type testServer struct {
	addr       string
	healthAddr string
	serverCA   *testCA
	clientCA   *testCA
	certFile   string
	keyFile    string
	caFile     string
}

type serverOptions struct {
	reloadInterval time.Duration
	limits         Limits
}

func startTestServer(t testing.TB, v *Vault, opts serverOptions) *testServer {
	t.Helper()
	dir := t.TempDir()
	ts := &testServer{
		serverCA: newTestCA(t, "vault server CA"), clientCA: newTestCA(t, "vault client CA"),
		certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key"), caFile: filepath.Join(dir, "client-ca.crt"),
	}
	certPEM, keyPEM, _ := ts.serverCA.issueValid(t, "vault", true)
	writeFileAtomic(t, ts.certFile, certPEM)
	writeFileAtomic(t, ts.keyFile, keyPEM)
	writeFileAtomic(t, ts.caFile, ts.clientCA.pem)
	if opts.reloadInterval == 0 {
		opts.reloadInterval = time.Hour
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, v, ServeConfig{
			Listen: "127.0.0.1:0", HealthListen: "127.0.0.1:0",
			CertFile: ts.certFile, KeyFile: ts.keyFile, ClientCAFile: ts.caFile,
			ReloadInterval: opts.reloadInterval, Logger: logr.Discard(), Limits: opts.limits,
			Ready: func(api, health net.Addr) {
				ts.addr, ts.healthAddr = api.String(), health.String()
				close(ready)
			},
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve returned %v", err)
		}
	})
	return ts
}

// client returns an HTTPS client presenting a certificate from clientCA.
func (ts *testServer) client(t testing.TB, cn string) *http.Client {
	certPEM, keyPEM, _ := ts.clientCA.issueValid(t, cn, false)
	return ts.clientWith(t, certPEM, keyPEM, false)
}

func (ts *testServer) clientWith(t testing.TB, certPEM, keyPEM []byte, fresh bool) *http.Client {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ts.serverCA.cert)
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}
	if certPEM != nil {
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		// Always present the certificate, even one the server's CA list
		// would not accept, so the server's verification is what is tested.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: fresh}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func (ts *testServer) url(path string) string { return "https://" + ts.addr + path }

func mustList(t testing.TB, v *Vault, actor Identity) []ObjectInfo {
	t.Helper()
	objects, err := v.List(actor)
	if err != nil {
		t.Fatal(err)
	}
	return objects
}

// ackLastEntry rewrites the acknowledgement record to the log's last whole
// entry, as if every later entry had been cut off by a crash before it was
// acknowledged.
func ackLastEntry(t testing.TB, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, custodyLogName))
	if err != nil {
		t.Fatal(err)
	}
	seq, hash := uint64(0), genesisHash
	for _, line := range bytes.Split(b, []byte("\n")) {
		if e, err := DecodeEntry(line); err == nil {
			seq, hash = e.Seq, e.Hash
		}
	}
	slot := encodeAckSlot(seq, hash)
	if err := os.WriteFile(filepath.Join(dir, custodyLogName+".ack"), append(bytes.Clone(slot), slot...), 0o600); err != nil {
		t.Fatal(err)
	}
}
