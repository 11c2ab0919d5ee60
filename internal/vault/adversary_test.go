package vault

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Adversary tests, second round after issue 8: another client's data,
// identity confusion, files edited while the vault is stopped, slow bodies.

// issueClient signs a client certificate shaped by edit (URI SANs, odd
// subjects) and returns an HTTPS client presenting it.
func (ts *testServer) issueClient(t testing.TB, edit func(*x509.Certificate)) *http.Client {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	edit(tmpl)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ts.clientCA.cert, &key.PublicKey, ts.clientCA.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return ts.clientWith(t, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), false)
}

// A client with no relation to an object can neither tell that the vault
// holds it nor place a legal hold on it: every answer is the one for an
// absent object. Its owner and a holder of the list role still can.
func TestStrangersCannotProbeOrHoldOthersObjects(t *testing.T) {
	clock := newFakeClock()
	g := DefaultGrants()
	g[RoleList] = []Principal{mustPrincipal(t, "CN=auditor,O=Agency A")}
	v, err := Open(Config{Dir: t.TempDir(), Keyring: testKeyring(t, 1), Clock: clock, Grants: g, Policy: testPolicy})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ts := startTestServer(t, v, serverOptions{})
	alice, mallory, auditor := ts.client(t, "alice"), ts.client(t, "mallory"), ts.client(t, "auditor")
	m := testMetadata(clock.Now())
	m.AuthorisationReference = "WARRANT/ALICE-SECRET"
	meta, _ := json.Marshal(m)
	code, body := do(t, alice, ingestRequest(t, ts.url("/v1/objects"), meta, strings.NewReader("alice's evidence")))
	var res IngestResult
	if code != http.StatusCreated || json.Unmarshal(body, &res) != nil {
		t.Fatalf("ingest: %d %s", code, body)
	}
	absent := "sha256:" + strings.Repeat("ab", 32)
	hold := func(ref string) string { return fmt.Sprintf(`{"reference":%q,"legalBasis":"because"}`, ref) }
	answer := func(c *http.Client, method, digest, suffix, reqBody string, hdr ...string) (int, string) {
		code, body := do(t, c, newRequest(t, method, ts.url("/v1/objects/"+digest+suffix), reqBody, hdr...))
		return code, strings.ReplaceAll(string(body), digest, "<digest>")
	}
	for _, tc := range []struct {
		name, method, suffix, body string
		hdr                        []string
	}{
		{"read with a guessed reference", "GET", "", "", []string{AuthorisationHeader, "WARRANT/GUESS"}},
		{"read without a reference", "GET", "", "", nil},
		{"export with a guessed reference", "GET", "/export", "", []string{AuthorisationHeader, "WARRANT/GUESS"}},
		{"hold", "POST", "/hold", hold("CASE/M/1"), nil},
		{"hold under the owner's case", "POST", "/hold", hold(m.CaseReference), nil},
	} {
		gotCode, gotBody := answer(mallory, tc.method, string(res.Digest), tc.suffix, tc.body, tc.hdr...)
		wantCode, wantBody := answer(mallory, tc.method, absent, tc.suffix, tc.body, tc.hdr...)
		if gotCode != wantCode || gotBody != wantBody || gotCode != http.StatusNotFound {
			t.Errorf("stranger %s: held object answers %d %s, absent one %d %s; want the same 404", tc.name, gotCode, gotBody, wantCode, wantBody)
		}
	}
	if info, _ := v.Stat(res.Digest); len(info.Holds) != 0 {
		t.Fatalf("a stranger placed holds %v", info.Holds)
	}
	for name, c := range map[string]*http.Client{"owner": alice, "lister": auditor} {
		if code, body := answer(c, "POST", string(res.Digest), "/hold", hold("CASE/"+name)); code != http.StatusOK {
			t.Errorf("%s holds: %d %s", name, code, body)
		}
	}
	if code, body := answer(alice, "GET", string(res.Digest), "", "", AuthorisationHeader, "WARRANT/WRONG"); code != http.StatusForbidden {
		t.Errorf("the owner with a wrong reference: %d %s; want 403", code, body)
	}
}

func mustPrincipal(t testing.TB, s string) Principal {
	t.Helper()
	p, err := ParsePrincipal(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A certificate must not be able to spell another principal's name: a
// relative URI SAN "CN=bob" reads as bob's subject, "system:vault" as the
// vault itself. Such certificates are refused; and the custody report
// shows an authorisation reference only to the certificate identity that
// used it, not to whoever has the same name.
func TestCertificatesCannotSpellAnotherPrincipal(t *testing.T) {
	clock := newFakeClock()
	v := openTestVault(t, t.TempDir(), clock, testKeyring(t, 1))
	ts := startTestServer(t, v, serverOptions{})
	bob := ts.issueClient(t, func(c *x509.Certificate) { c.Subject = pkix.Name{CommonName: "bob"} })
	m := testMetadata(clock.Now())
	m.AuthorisationReference = "WARRANT/BOB-SECRET"
	meta, _ := json.Marshal(m)
	code, body := do(t, bob, ingestRequest(t, ts.url("/v1/objects"), meta, strings.NewReader("bob's evidence")))
	if code != http.StatusCreated {
		t.Fatalf("ingest: %d %s", code, body)
	}
	for _, uri := range []string{"CN=bob", "system:vault", "SYSTEM:other"} {
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatal(err)
		}
		impostor := ts.issueClient(t, func(c *x509.Certificate) { c.Subject = pkix.Name{CommonName: "mallory"}; c.URIs = []*url.URL{u} })
		code, body := do(t, impostor, newRequest(t, "GET", ts.url("/v1/custody?actor=CN%3Dbob"), ""))
		if code != http.StatusForbidden || strings.Contains(string(body), "BOB-SECRET") {
			t.Errorf("certificate with URI SAN %q: %d %s; want 403 and no reference", uri, code, body)
		}
	}
	// Same name, another certificate identity (another issuer): the report
	// leaves the reference out.
	other := testIdentity("CN=bob")
	other.Issuer = "CN=another CA"
	rep, err := v.CustodyReport(context.Background(), ReportFilter{})
	if err != nil || len(rep.Entries) != 1 || rep.Entries[0].Actor != other.Name() {
		t.Fatalf("report = %+v, %v", rep, err)
	}
	h := &handler{v: v}
	if rep.Entries[0].Cert == nil || !h.ownsEntry(rep.Entries[0], *rep.Entries[0].Cert) || h.ownsEntry(rep.Entries[0], other) {
		t.Errorf("ownership of bob's entry: by bob's certificate should hold, by another issuer's CN=bob not")
	}
}

// Distinguished names are compared with ASCII case and U+0020 runs
// ignored, and nothing else: no Unicode case folding (ß → ss, the Kelvin
// sign → k), no other spaces, and control characters that could forge the
// canonical form's separators are refused.
func TestDistinguishedNamesDoNotMergeLookalikes(t *testing.T) {
	for _, tc := range []struct {
		principal, subject string
		match              bool
	}{
		{"CN=Alice,O=Police KE", "CN=alice,O=police  ke", true},
		{"CN=strasse", "CN=straße", false},
		{"CN=kim", "CN=\u212aim", false},
		{"CN=alice smith", "CN=alice\u00a0smith", false},
		{"CN=ALİCE", "CN=alice", false},
		{"CN=x,O=agency a", "CN=x\\012.5.4.10=agency a", false},
		{"CN=x+O=agency a", "2.5.4.10=agency a\\002.5.4.3=x", false},
		{"CN=x", "CN=x\u200b", false},
	} {
		p := mustPrincipal(t, tc.principal)
		if got := p.Matches(Identity{Subject: tc.subject}); got != tc.match {
			t.Errorf("%q matches subject %q = %v; want %v", tc.principal, tc.subject, got, tc.match)
		}
	}
	// Also from a real certificate whose CN carries a separator byte.
	rdns := pkix.RDNSequence{{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "x\x012.5.4.10=agency a"}}}
	raw, err := asn1.Marshal(rdns)
	if err != nil {
		t.Fatal(err)
	}
	id := IdentityFromCertificate(&x509.Certificate{RawSubject: raw})
	if mustPrincipal(t, "CN=x,O=Agency A").Matches(id) {
		t.Errorf("a CN with an embedded separator byte matches a two-RDN principal (subject %q)", id.Subject)
	}
}

// Deleting custody.log.ack while the vault is stopped, with or without
// shortening the log, must not pass for a data directory from before the
// record existed: the vault refuses to serve and changes nothing.
func TestDeletedAcknowledgementRecordIsAFault(t *testing.T) {
	for _, drop := range []int{0, 1, 2} {
		dir, _ := buildStore(t)
		lines := logLines(t, dir)
		writeLog(t, dir, lines[:len(lines)-drop])
		ackPath := filepath.Join(dir, custodyLogName+".ack")
		if err := os.Remove(ackPath); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(filepath.Join(dir, custodyLogName))
		v := openTestVault(t, dir, newFakeClock(), testKeyring(t, 1))
		if v.Fault() == nil || !strings.Contains(v.Fault().Error(), "acknowledgement record") {
			t.Errorf("dropped %d entries and the record: fault = %v; want a refusal naming the record", drop, v.Fault())
		}
		if _, err := v.List(testActor); !errors.Is(err, ErrUnavailable) {
			t.Errorf("dropped %d entries: List = %v; want ErrUnavailable", drop, err)
		}
		v.Close()
		after, _ := os.ReadFile(filepath.Join(dir, custodyLogName))
		if _, err := os.Stat(ackPath); !bytes.Equal(before, after) || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("dropped %d entries: the vault changed the data directory (log changed: %v, record: %v)", drop, !bytes.Equal(before, after), err)
		}
	}
}

// handlerRunning reports whether any goroutine is inside fn (e.g.
// "(*handler).read").
func handlerRunning(fn string) bool {
	buf := make([]byte, 1<<22)
	return bytes.Contains(buf[:runtime.Stack(buf, true)], []byte("vault."+fn+"("))
}

// Bodies of requests other than ingests are bounded in time too: a client
// trickling a hold body, or a body nobody reads (net/http drains it after
// the response), is cut off after the idle timeout instead of holding a
// connection and a goroutine for as long as it likes.
func TestTrickledSmallBodiesAreCutOff(t *testing.T) {
	clock := newFakeClock()
	v := openTestVault(t, t.TempDir(), clock, testKeyring(t, 1))
	ts := startTestServer(t, v, serverOptions{limits: Limits{BodyIdleTimeout: 300 * time.Millisecond}})
	res := ingest(t, v, testMetadata(clock.Now()), []byte("evidence"))
	for _, path := range []string{"POST /v1/objects/" + string(res.Digest) + "/hold", "GET /status", "GET /v1/checkpoint"} {
		c := ts.rawConn(t, "trickler")
		if _, err := fmt.Fprintf(c, "%s HTTP/1.1\r\nHost: vault\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{", path); err != nil {
			t.Fatal(err)
		}
		// The server must end the connection by itself; the deadline only
		// keeps a failing test from hanging.
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		got, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s with a stalled body: the connection was still open after 15s (read %q)", path, got)
			continue
		}
		if strings.HasPrefix(path, "POST") && !bytes.HasPrefix(got, []byte("HTTP/1.1 408")) {
			t.Errorf("%s with a stalled body answered %q; want 408", path, firstLine(got))
		}
	}
	// A body over the limit is refused whole.
	c := ts.client(t, "big")
	code, body := do(t, c, newRequest(t, "POST", ts.url("/v1/objects/"+string(res.Digest)+"/hold"), strings.Repeat(" ", maxJSONBody+1)))
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized hold body: %d %s", code, body)
	}
}

func firstLine(b []byte) string { l, _, _ := bytes.Cut(b, []byte("\r\n")); return string(l) }

// A client that requests a large object and stops reading is cut off
// after the idle timeout: the handler returns and the body stays short.
func TestStalledReaderOfAResponseIsCutOff(t *testing.T) {
	clock := newFakeClock()
	v := openTestVault(t, t.TempDir(), clock, testKeyring(t, 1))
	ts := startTestServer(t, v, serverOptions{limits: Limits{BodyIdleTimeout: 300 * time.Millisecond}})
	m := testMetadata(clock.Now())
	const size = 48 << 20
	res := ingest(t, v, m, randomBytes(7, size))
	for _, suffix := range []string{"", "/export"} {
		c := ts.rawConn(t, "stalled reader")
		fmt.Fprintf(c, "GET /v1/objects/%s%s HTTP/1.1\r\nHost: vault\r\n%s: %s\r\n\r\n", res.Digest, suffix, AuthorisationHeader, m.AuthorisationReference)
		br := bufio.NewReaderSize(c, 4096)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("GET %s: %v", suffix, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", suffix, resp.Status)
		}
		fn := "(*handler).read"
		if suffix != "" {
			fn = "(*handler).export"
		}
		waitFor(t, fn+" gives up on a client that stopped reading", 20*time.Second, func() bool { return !handlerRunning(fn) })
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, _ := io.Copy(io.Discard, resp.Body)
		if n >= size {
			t.Errorf("GET %s: the whole body (%d bytes) arrived after the cut-off", suffix, n)
		}
	}
}

// keyring.fingerprints deleted (or its line for a version removed) while
// the vault is stopped, and another key put under version 1: the key is
// tried on the objects sealed under it and refused, at start and on reload.
func TestChangedKeyIsRefusedWithoutItsFingerprint(t *testing.T) {
	other, err := NewKeyring(map[uint32][]byte{1: bytes.Repeat([]byte{9}, KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	dir, objects := buildStore(t)
	if err := os.Remove(filepath.Join(dir, keyFingerprintsName)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: dir, Keyring: other, Clock: newFakeClock()}); !errors.Is(err, ErrKeyChanged) || strings.Contains(err.Error(), "0909090909") {
		t.Fatalf("Open with another key under version 1 and no fingerprints = %v; want ErrKeyChanged", err)
	}
	if _, err := os.Stat(filepath.Join(dir, keyFingerprintsName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused key's fingerprint was recorded: %v", err)
	}
	v := openTestVault(t, dir, newFakeClock(), testKeyring(t, 1)) // the right key is accepted and recorded again
	if _, err := readObject(t, v, objects[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, keyFingerprintsName)); err != nil {
		t.Fatal(err)
	}
	if err := v.ReloadKeyring(other); !errors.Is(err, ErrKeyChanged) {
		t.Fatalf("reload with another key under version 1 and no fingerprints = %v; want ErrKeyChanged", err)
	}
	if _, err := readObject(t, v, objects[0]); err != nil {
		t.Fatalf("after the refused reload: %v", err)
	}
}
