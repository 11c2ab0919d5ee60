package vaultclient

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// testPKI is a throwaway CA that issues the vault's serving certificate and
// its clients' certificates.
type testPKI struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	next int64
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test national CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testPKI{cert: cert, key: key, pool: pool, next: 1}
}

// issue returns a leaf as a tls.Certificate and its PEM files' contents.
func (p *testPKI) issue(t *testing.T, cn string, server bool) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.next++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.next), Subject: pkix.Name{CommonName: cn, Organization: []string{"Police KE"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"vault.test"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certPEM, keyPEM
}

// testVault is a vault served over mutual TLS on loopback.
type testVault struct {
	v    *vault.Vault
	pki  *testPKI
	base string
}

// startVault serves a vault whose client "gateway" holds the relay role.
func startVault(t *testing.T, alg vault.HashAlgorithm, holdByDefault bool) *testVault {
	t.Helper()
	keyring, err := vault.NewKeyring(map[uint32][]byte{1: bytes.Repeat([]byte{7}, vault.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	grants := vault.DefaultGrants()
	if grants[vault.RoleRelay], err = vault.ParsePrincipals("--relay", []string{"CN=gateway,O=Police KE"}); err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(vault.Config{Dir: t.TempDir(), Keyring: keyring, Hash: alg, Grants: grants,
		Policy: vault.Policy{MinRetention: time.Minute, LegalHoldDefault: holdByDefault}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	pki := newTestPKI(t)
	dir := t.TempDir()
	_, certPEM, keyPEM := pki.issue(t, "vault", true)
	files := map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM, "ca.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.cert.Raw})}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- vault.Serve(ctx, v, vault.ServeConfig{
			Listen: "127.0.0.1:0", CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"),
			ClientCAFile: filepath.Join(dir, "ca.crt"), Logger: logr.Discard(),
			Limits: vault.Limits{MaxIngests: 16, MaxIngestsPerClient: 16},
			Ready:  func(api, _ net.Addr) { ready <- api.String() },
		})
	}()
	tv := &testVault{v: v, pki: pki}
	select {
	case addr := <-ready:
		tv.base = "https://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("Serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return tv
}

func (tv *testVault) client(t *testing.T, cn string) *Client {
	t.Helper()
	cert, _, _ := tv.pki.issue(t, cn, false)
	return New(tv.base, "vault.test", cert, tv.pki.pool)
}

func metadataFor(caseRef string) vault.Metadata {
	now := time.Now()
	return vault.Metadata{CaseReference: caseRef, AuthorisationReference: caseRef, LegalBasis: "UNCC art. 40",
		AuthorisationExpiry: now.Add(24 * time.Hour), RetentionUntil: now.Add(61 * 24 * time.Hour)}
}

var peer = vault.Identity{Subject: "CN=gateway.vn.example,O=Ministry of Public Security,C=VN", URI: "spiffe://vn.example/ns/cybercoop/sa/gateway",
	Issuer: "CN=VN national CA", Serial: "7b", Fingerprint: "sha256:" + strings.Repeat("5e", 32)}

func TestRelayedIngestProvesItsEntry(t *testing.T) {
	ctx := context.Background()
	tv := startVault(t, vault.SHA256, false)
	gateway, other := tv.client(t, "gateway"), tv.client(t, "other")
	m := metadataFor("REQUEST/VN/2031/0042")
	m.Exclusive, m.OnBehalfOf = true, &peer
	request := []byte(`{"type":"preservation","reference":"VN-2031-0042"}`)

	res, err := gateway.Ingest(ctx, m, request)
	if err != nil {
		t.Fatal(err)
	}
	// The entry and the checkpoint in the result, and the proof asked for
	// with them, prove that the vault recorded the ingest.
	cp, err := vault.OpenCheckpoint([]byte(res.Checkpoint), tv.v.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if parsed, err := vault.ParseSignedCheckpoint(res.Checkpoint); err != nil || parsed.Size != cp.Size {
		t.Fatalf("ParseSignedCheckpoint = %+v, %v; want size %d", parsed, err, cp.Size)
	}
	proof, err := gateway.Inclusion(ctx, res.Sequence, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := vault.VerifyInclusion(cp, res.Sequence, res.Entry, proof); err != nil {
		t.Fatalf("the result's entry is not proven by its checkpoint: %v", err)
	}
	e, err := vault.DecodeEntry(res.Entry)
	if err != nil {
		t.Fatal(err)
	}
	if e.Actor != peer.URI || e.Cert == nil || *e.Cert != peer || e.Via == nil || e.Via.Subject != "CN=gateway,O=Police KE" {
		t.Fatalf("entry names actor %q cert %+v via %+v", e.Actor, e.Cert, e.Via)
	}
	if _, err := other.Inclusion(ctx, res.Sequence, 0); !IsStatus(err, 404) {
		t.Fatalf("an unrelated client's inclusion proof: %v; want 404", err)
	}

	// The same request again is a duplicate; other content under the
	// reference is a conflict that names the object to the relay, and
	// nothing to another client.
	if again, err := gateway.Ingest(ctx, m, request); err != nil || !again.Duplicate || again.Digest != res.Digest {
		t.Fatalf("the same request again: %+v, %v", again, err)
	}
	_, err = gateway.Ingest(ctx, m, []byte(`{"type":"preservation","reference":"VN-2031-0042","changed":true}`))
	var verr *Error
	if !IsStatus(err, 409) || !errors.As(err, &verr) || verr.Field != "caseReference" || verr.Digest != res.Digest {
		t.Fatalf("other content under an exclusive reference: %#v", err)
	}
	mine := m
	mine.OnBehalfOf = nil
	_, err = other.Ingest(ctx, mine, []byte("something else"))
	if !IsStatus(err, 409) || !errors.As(err, &verr) || verr.Field != "caseReference" || verr.Digest != "" {
		t.Fatalf("another client's conflict: %#v", err)
	}
	_, err = other.Ingest(ctx, metadataWith(m, func(m *vault.Metadata) { m.CaseReference = "REQUEST/VN/2031/0043" }), request)
	if !IsStatus(err, 403) || !errors.As(err, &verr) || verr.Field != "onBehalfOf" {
		t.Fatalf("onBehalfOf from a client without the relay role: %#v", err)
	}

	// Listing by case, and reading with the authorisation reference.
	held, err := gateway.ObjectsByCase(ctx, m.CaseReference)
	if err != nil || len(held) != 1 || held[0].Digest != res.Digest || held[0].Cases[0].IngestedBy != peer.URI {
		t.Fatalf("ObjectsByCase = %+v, %v", held, err)
	}
	if none, err := other.ObjectsByCase(ctx, m.CaseReference); err != nil || len(none) != 0 {
		t.Fatalf("an unrelated client's ObjectsByCase = %+v, %v", none, err)
	}
	if none, err := gateway.ObjectsByCase(ctx, "REQUEST/VN/none"); err != nil || none == nil || len(none) != 0 {
		t.Fatalf("ObjectsByCase of an empty case = %#v, %v", none, err)
	}
	if _, err := gateway.ObjectsByCase(ctx, "../x"); !IsStatus(err, 400) || !errors.As(err, &verr) || verr.Field != "case" {
		t.Fatalf("ObjectsByCase of an invalid reference: %v", err)
	}
	body, err := gateway.Read(ctx, res.Digest, m.AuthorisationReference, 1<<20)
	if err != nil || !bytes.Equal(body, request) {
		t.Fatalf("Read = %q, %v", body, err)
	}
	if _, err := gateway.Read(ctx, res.Digest, m.AuthorisationReference, 10); err == nil || !strings.Contains(err.Error(), "larger than 10 bytes") {
		t.Fatalf("Read beyond the limit: %v", err)
	}
	if _, err := gateway.Read(ctx, res.Digest, "REQUEST/VN/2031/0041", 1<<20); !IsStatus(err, 403) {
		t.Fatalf("Read with another reference: %v", err)
	}
	// The authorisation reference is what a reader presents (any client with the
	// read role may present it); without it, an unrelated client learns nothing.
	if _, err := other.Read(ctx, res.Digest, "REQUEST/VN/2031/0041", 1<<20); !IsStatus(err, 404) {
		t.Fatalf("Read by an unrelated client: %v", err)
	}
}

func metadataWith(m vault.Metadata, change func(*vault.Metadata)) vault.Metadata {
	change(&m)
	return m
}

// raceReplicas runs ingest from six gateway replicas at once, each with a
// client of its own, and returns each one's result and error.
func raceReplicas(t *testing.T, tv *testVault, ingest func(c *Client, i int) (vault.IngestResult, error)) ([]vault.IngestResult, []error) {
	const replicas = 6
	results := make([]vault.IngestResult, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		c := tv.client(t, "gateway")
		wg.Go(func() { results[i], errs[i] = ingest(c, i) })
	}
	wg.Wait()
	return results, errs
}

// TestReplicasRacingOnOneReference: gateway replicas record the same peer
// request reference with different content at once; one succeeds, the others
// are told 409 with the winner's digest.
func TestReplicasRacingOnOneReference(t *testing.T) {
	tv := startVault(t, vault.SHA256, false)
	m := metadataFor("REQUEST/VN/2031/0099")
	m.Exclusive, m.OnBehalfOf = true, &peer
	results, errs := raceReplicas(t, tv, func(c *Client, i int) (vault.IngestResult, error) {
		return c.Ingest(context.Background(), m, bytes.Repeat([]byte{byte(i)}, 200<<10))
	})
	var winner vault.Digest
	for i, err := range errs {
		if err == nil {
			if winner != "" {
				t.Fatalf("two replicas recorded different content under one exclusive reference: %s and %s", winner, results[i].Digest)
			}
			winner = results[i].Digest
		}
	}
	if winner == "" {
		t.Fatalf("no replica succeeded: %v", errs)
	}
	for _, err := range errs {
		var verr *Error
		if err != nil && (!IsStatus(err, 409) || !errors.As(err, &verr) || verr.Digest != winner) {
			t.Fatalf("a losing replica got %v; want 409 naming %s", err, winner)
		}
	}
}

// TestIngestDeclaresTheVaultsDigestAndHold: a SHA-512 vault accepts the
// client's declared digest (learnt from /status), and "hold": false is sent
// for DeclineDefaultHold.
func TestIngestDeclaresTheVaultsDigestAndHold(t *testing.T) {
	ctx := context.Background()
	tv := startVault(t, vault.SHA512, true)
	c := tv.client(t, "investigator")
	for i, decline := range []bool{false, true} {
		m := metadataFor(fmt.Sprintf("CASE/2031/%d", i))
		m.DeclineDefaultHold = decline
		res, err := c.Ingest(ctx, m, []byte(fmt.Sprintf("evidence %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if res.Digest.Algorithm() != vault.SHA512 {
			t.Fatalf("digest %s; want sha512", res.Digest)
		}
		if held := len(res.Holds) == 1; held == decline {
			t.Fatalf("DeclineDefaultHold %v: holds %v", decline, res.Holds)
		}
	}
}

// TestReplicasRacingOnANewCase: gateway replicas record the same peer request
// at once, each declaring its case new (IngestNew), as the gateway records a
// request's first attempt: one records it, the others are told 409 naming
// that very content, and nothing is attached twice.
func TestReplicasRacingOnANewCase(t *testing.T) {
	tv := startVault(t, vault.SHA256, false)
	m := metadataFor("REQUEST/VN/2031/0100")
	m.Exclusive, m.OnBehalfOf = true, &peer
	request := []byte(`{"type":"Preservation","reference":"VN-2031-0100"}`)
	results, errs := raceReplicas(t, tv, func(c *Client, _ int) (vault.IngestResult, error) {
		return c.IngestNew(context.Background(), m, request)
	})
	var recorded []vault.IngestResult
	for i, err := range errs {
		var verr *Error
		switch {
		case err == nil:
			recorded = append(recorded, results[i])
		case !IsStatus(err, 409) || !errors.As(err, &verr) || verr.Field != "caseReference":
			t.Fatalf("a replica got %v; want 409 on caseReference", err)
		}
	}
	if len(recorded) != 1 {
		t.Fatalf("%d replicas recorded the request under a case each declared new; want 1", len(recorded))
	}
	for _, err := range errs {
		var verr *Error
		if errors.As(err, &verr) && verr.Digest != recorded[0].Digest {
			t.Fatalf("a losing replica was told %q; want the request recorded, %s", verr.Digest, recorded[0].Digest)
		}
	}
	if st := tv.v.Status(); st.CustodyEntries != recorded[0].Sequence {
		t.Fatalf("%d custody entries after one recorded ingest (entry %d)", st.CustodyEntries, recorded[0].Sequence)
	}
}
