package vault

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Regression tests for issue 8: the vault tried as an adversary would.

// rawClient opens a mutual-TLS connection so a test can send exactly the
// bytes it wants, cut-off bodies included.
func (ts *testServer) rawConn(t testing.TB, cn string) *tls.Conn {
	t.Helper()
	certPEM, keyPEM, _ := ts.clientCA.issueValid(t, cn, false)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ts.serverCA.cert)
	c, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

const testBoundary = "XXboundaryXX"

func multipartBody(meta []byte, object []byte, closing bool) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n%s\r\n", testBoundary, meta)
	fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=\"object\"; filename=\"object\"\r\n\r\n", testBoundary)
	b.Write(object)
	if closing {
		fmt.Fprintf(&b, "\r\n--%s--\r\n", testBoundary)
	}
	return b.Bytes()
}

// sendRaw writes head and body, then closes the write side cleanly (a TLS
// close_notify, as a client that stops early would) and returns the status
// code, or 0 if the server answered nothing.
func sendRaw(t testing.TB, c *tls.Conn, head string, body []byte) (int, string) {
	t.Helper()
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestCutOffBodiesAreNeverAcknowledged(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	v := openTestVault(t, dir, clock, testKeyring(t, 1))
	ts := startTestServer(t, v, serverOptions{})
	meta, _ := json.Marshal(testMetadata(clock.Now()))
	object := randomBytes(77, 3*DefaultChunkSize+123)
	full := multipartBody(meta, object, true)
	sum := sha256.Sum256(object)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	head := func(contentLength int, extra ...string) string {
		h := "POST /v1/objects HTTP/1.1\r\nHost: vault\r\nContent-Type: multipart/form-data; boundary=" + testBoundary + "\r\n"
		if contentLength >= 0 {
			h += fmt.Sprintf("Content-Length: %d\r\n", contentLength)
		} else {
			h += "Transfer-Encoding: chunked\r\n"
		}
		for _, e := range extra {
			h += e + "\r\n"
		}
		return h + "\r\n"
	}
	chunked := func(b []byte, terminate bool) []byte {
		var out bytes.Buffer
		for len(b) > 0 {
			n := min(len(b), 64<<10)
			fmt.Fprintf(&out, "%x\r\n%s\r\n", n, b[:n])
			b = b[n:]
		}
		if terminate {
			out.WriteString("0\r\n\r\n")
		}
		return out.Bytes()
	}
	cut := len(full) - len(object)/2
	tests := map[string]struct {
		head string
		body []byte
	}{
		"content-length, clean close after half the object":               {head(len(full)), full[:cut]},
		"chunked, terminated after half the object (no closing boundary)": {head(-1), chunked(full[:cut], true)},
		"chunked, connection closed mid-chunk":                            {head(-1), chunked(full[:cut], false)[:cut/2]},
		"whole object but no closing boundary":                            {head(-1), chunked(multipartBody(meta, object, false), true)},
		"boundary without its closing dashes": {head(-1), chunked(append(multipartBody(meta, object, false),
			[]byte("\r\n--"+testBoundary+"\r\n")...), true)},
		"a third part after the object": {head(-1), chunked(append(multipartBody(meta, object, false),
			[]byte("\r\n--"+testBoundary+"\r\nContent-Disposition: form-data; name=\"extra\"\r\n\r\nx\r\n--"+testBoundary+"--\r\n")...), true)},
		"declared size differs":                {head(len(full), ObjectSizeHeader+": "+fmt.Sprint(len(object)+1)), full},
		"declared digest differs":              {head(len(full), ObjectDigestHeader+": sha256:"+strings.Repeat("0", 64)), full},
		"declared digest of another algorithm": {head(len(full), ObjectDigestHeader+": sha512:"+strings.Repeat("0", 128)), full},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, body := sendRaw(t, ts.rawConn(t, "investigator-1"), tc.head, tc.body)
			if code == http.StatusCreated || code == http.StatusOK {
				t.Fatalf("acknowledged an incomplete or mismatched object: %d %s", code, body)
			}
			if code != 0 && code != http.StatusBadRequest {
				t.Fatalf("status %d %s; want 400 (or no answer)", code, body)
			}
		})
	}
	if n := v.Status().CustodyEntries; n != 0 {
		t.Fatalf("%d custody entries after failed ingests; want none", n)
	}
	if objs, _ := os.ReadDir(filepath.Join(dir, "objects", "sha256")); len(objs) != 0 {
		t.Fatalf("%d object files kept from failed ingests", len(objs))
	}
	// The same bytes, complete and with matching declarations, are accepted.
	code, body := sendRaw(t, ts.rawConn(t, "investigator-1"), head(len(full), ObjectSizeHeader+": "+fmt.Sprint(len(object)), ObjectDigestHeader+": "+digest), full)
	if code != http.StatusCreated || !strings.Contains(body, digest) {
		t.Fatalf("complete ingest: %d %s", code, body)
	}
}

func TestFillChunkTellsCleanEndFromCutOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    io.Reader
		want error
	}{
		{"clean end", strings.NewReader("abc"), nil},
		{"unexpected EOF", io.MultiReader(strings.NewReader("abc"), iotestErr(io.ErrUnexpectedEOF)), ErrIncompleteBody},
		{"other error", io.MultiReader(strings.NewReader("abc"), iotestErr(syscall.ECONNRESET)), syscall.ECONNRESET},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sink bytes.Buffer
			_, err := sealStream(context.Background(), tc.r, &sink, testKeyring(t, 1), SHA256, 2)
			if !errors.Is(err, tc.want) && (tc.want != nil || err != nil) {
				t.Fatalf("sealStream error = %v; want %v", err, tc.want)
			}
		})
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
func iotestErr(err error) io.Reader          { return errReader{err} }

func TestDuplicateIngestAttachesEveryCase(t *testing.T) {
	clock := newFakeClock()
	v := openTestVault(t, t.TempDir(), clock, testKeyring(t, 1))
	data := randomBytes(21, 100000)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			m := testMetadata(clock.Now())
			m.CaseReference = fmt.Sprintf("CASE/2031/%04d", i)
			m.AuthorisationReference = fmt.Sprintf("WARRANT/%d", i)
			m.RetentionUntil = clock.Now().Add(time.Duration(i+1) * time.Hour)
			m.Hold = true
			_, err := v.Ingest(context.Background(), testIdentity(fmt.Sprintf("CN=client-%d", i)), m, bytes.NewReader(data), NoExpectation)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	objects := mustList(t, v, SystemIdentity)
	if len(objects) != 1 || len(objects[0].Holds) != n || len(objects[0].Cases) != n {
		t.Fatalf("after %d concurrent ingests with holds: %d objects, %d holds, %d cases; want 1, %d, %d", n, len(objects), len(objects[0].Holds), len(objects[0].Cases), n, n)
	}
	if want := clock.Now().Add(n * time.Hour); !objects[0].RetentionUntil.Equal(want) {
		t.Fatalf("retention = %s; want the latest case's, %s", objects[0].RetentionUntil, want)
	}
	d := objects[0].Digest
	// Each case reads with its own authorisation.
	if r, err := v.Read(context.Background(), testActor, d, "WARRANT/13"); err != nil {
		t.Fatal(err)
	} else {
		r.Close()
	}
	// Released holds alone do not free it: the longest retention applies.
	for i := range n {
		if _, err := v.Release(testActor, d, fmt.Sprintf("CASE/2031/%04d", i), "case closed"); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(n*time.Hour - time.Second)
	if err := v.ExpireObject(testActor, d); !errors.Is(err, ErrRetentionActive) {
		t.Fatalf("expire before the last case's retention = %v", err)
	}
	clock.Advance(time.Second)
	if err := v.ExpireObject(testActor, d); err != nil {
		t.Fatal(err)
	}
	// The replay agrees.
	rep, err := v.Verify(context.Background(), testActor)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", err, rep.Findings)
	}
}

func TestTornTailOfAcknowledgedEntryRefusesToServe(t *testing.T) {
	dir, _ := buildStore(t) // 6 acknowledged entries
	lines := logLines(t, dir)
	last := lines[len(lines)-2] // lines ends with an empty element
	lines[len(lines)-2] = last[:len(last)/2]
	writeLog(t, dir, lines)
	before, _ := os.ReadFile(filepath.Join(dir, custodyLogName))

	v := openTestVault(t, dir, newFakeClock(), testKeyring(t, 1))
	if v.Fault() == nil || !strings.Contains(v.Fault().Error(), "entry 6 was acknowledged") {
		t.Fatalf("Fault() = %v; want a refusal naming acknowledged entry 6", v.Fault())
	}
	if _, err := v.Hold(testActor, Digest("sha256:"+strings.Repeat("a", 64)), "CASE/1", "basis"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Hold on a faulted vault = %v; want ErrUnavailable", err)
	}
	ts := startTestServer(t, v, serverOptions{})
	resp, err := http.Get("http://" + ts.healthAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "acknowledged") {
		t.Fatalf("readyz = %d %s; want 503 with the reason", resp.StatusCode, b)
	}
	code, body := do(t, ts.client(t, "investigator-1"), newRequest(t, "GET", ts.url("/v1/objects"), ""))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("list on a faulted vault = %d %s", code, body)
	}
	v.Close()
	if after, _ := os.ReadFile(filepath.Join(dir, custodyLogName)); !bytes.Equal(before, after) {
		t.Fatal("the faulted vault changed the custody log; it must leave it for a person to examine")
	}

	// Whole entries removed after acknowledgement are refused the same way.
	dir2, _ := buildStore(t)
	lines = logLines(t, dir2)
	writeLog(t, dir2, lines[:len(lines)-3])
	v2 := openTestVault(t, dir2, newFakeClock(), testKeyring(t, 1))
	if v2.Fault() == nil {
		t.Fatal("two acknowledged entries removed: vault serves")
	}
	v2.Close()

	// The same torn tail of an entry never acknowledged is a crash: trimmed.
	dir3, _ := buildStore(t)
	lines = logLines(t, dir3)
	last = lines[len(lines)-2]
	lines[len(lines)-2] = last[:len(last)/2]
	writeLog(t, dir3, lines)
	ackLastEntry(t, dir3)
	v3 := openTestVault(t, dir3, newFakeClock(), testKeyring(t, 1))
	if v3.Fault() != nil || v3.Recovery().TornEntryBytes == 0 {
		t.Fatalf("unacknowledged torn tail: fault %v, recovery %+v; want it trimmed", v3.Fault(), v3.Recovery())
	}
}

func TestRolesAndVisibility(t *testing.T) {
	clock := newFakeClock()
	ingestAll, _ := ParsePrincipals("--ingester", []string{"*"})
	admins, err := ParsePrincipals("--releaser", []string{"CN=admin,O=Agency A"})
	if err != nil {
		t.Fatal(err)
	}
	auditor, _ := ParsePrincipals("--lister", []string{"spiffe://agency-a/auditor"})
	g := DefaultGrants()
	g[RoleIngest] = ingestAll
	g[RoleRelease], g[RoleExpire], g[RoleVerify] = admins, admins, admins
	g[RoleList] = auditor
	v, err := Open(Config{Dir: t.TempDir(), Keyring: testKeyring(t, 1), Clock: clock, Grants: g, Policy: testPolicy})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	alice, bob, admin := testIdentity("CN=alice,O=Agency A"), testIdentity("CN=bob,O=Agency B"), testIdentity("CN=admin,O=Agency A")
	aud := testIdentity("CN=auditor")
	aud.URI = "spiffe://agency-a/auditor"
	m := testMetadata(clock.Now())
	m.AuthorisationReference = "WARRANT/ALICE-SECRET"
	m.Hold = true
	res, err := v.Ingest(context.Background(), alice, m, strings.NewReader("alice's evidence"), NoExpectation)
	if err != nil {
		t.Fatal(err)
	}
	if objs := mustList(t, v, bob); len(objs) != 0 {
		t.Fatalf("bob sees %d of alice's objects", len(objs))
	}
	if objs := mustList(t, v, alice); len(objs) != 1 || objs[0].Cases[0].Metadata.AuthorisationReference != m.AuthorisationReference {
		t.Fatalf("alice's listing = %+v", objs)
	}
	if objs := mustList(t, v, aud); len(objs) != 1 || objs[0].Cases[0].Metadata.AuthorisationReference != "" {
		t.Fatalf("auditor's listing = %+v; want the object without its authorisation reference", objs)
	}
	for name, err := range map[string]error{
		"bob releases":  func() error { _, err := v.Release(bob, res.Digest, m.CaseReference, "x"); return err }(),
		"alice expires": v.ExpireObject(alice, res.Digest),
		"bob verifies":  func() error { _, err := v.Verify(context.Background(), bob); return err }(),
		// A stranger's guess is answered as for an absent object
		// (adversary_test.go), which is also a refusal.
		"bob reads with a guess": func() error {
			_, err := v.Read(context.Background(), bob, res.Digest, "WARRANT/GUESS")
			return err
		}(),
	} {
		if !errors.Is(err, ErrNotAuthorised) && (name != "bob reads with a guess" || !errors.Is(err, ErrNotFound)) {
			t.Errorf("%s = %v; want ErrNotAuthorised", name, err)
		} else if strings.Contains(err.Error(), m.AuthorisationReference) || strings.Contains(err.Error(), m.CaseReference) {
			t.Errorf("%s: error reveals a reference: %v", name, err)
		}
	}
	if _, err := v.Release(admin, res.Digest, m.CaseReference, "lifted by the court"); err != nil {
		t.Fatalf("admin release: %v", err)
	}
	// The custody entry records the certificate, not only the subject.
	rep, err := v.CustodyReport(context.Background(), ReportFilter{Object: res.Digest})
	if err != nil || len(rep.Entries) != 2 || rep.Entries[0].Cert == nil || rep.Entries[0].Cert.Fingerprint != alice.Fingerprint || rep.Entries[1].Cert.Fingerprint != admin.Fingerprint {
		t.Fatalf("custody report = %+v %v", rep, err)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "release") || !strings.Contains(text.String(), admin.Fingerprint) {
		t.Fatalf("text report:\n%s", text.String())
	}
}

func TestPrincipalsAreMatchedWhole(t *testing.T) {
	p, err := ParsePrincipal("CN=alice,O=Police KE")
	if err != nil {
		t.Fatal(err)
	}
	for subject, want := range map[string]bool{
		"CN=alice,O=Police KE":             true,
		"cn=Alice, o=police  ke":           true, // a name compares without case and space differences
		"CN=alice":                         false,
		"O=Police KE":                      false,
		"CN=alice,O=Police KE,C=KE":        false,
		"CN=alice\\,O=Police KE":           false,
		"CN=mallory,OU=CN=alice+O=x":       false,
		"2.5.4.3=alice,2.5.4.10=Police KE": true,
	} {
		if got := p.Matches(Identity{Subject: subject}); got != want {
			t.Errorf("CN=alice,O=Police KE matches %q = %v; want %v", subject, got, want)
		}
	}
	uri, _ := ParsePrincipal("spiffe://example.org/ns/police/sa/intake")
	if uri.Matches(Identity{Subject: "CN=spiffe://example.org/ns/police/sa/intake"}) || !uri.Matches(Identity{URI: "spiffe://example.org/ns/police/sa/intake"}) {
		t.Error("URI principal must match the URI SAN only")
	}
	if _, err := ParsePrincipal("CN"); err == nil {
		t.Error("a principal without a value was accepted")
	}
	// A real certificate: the identity carries issuer, serial and fingerprint.
	ca := newTestCA(t, "client CA")
	certPEM, _, serial := ca.issue(t, pkix.Name{CommonName: "alice", Organization: []string{"Police KE"}}, false, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	block, _ := pemDecode(certPEM)
	cert, err := x509.ParseCertificate(block)
	if err != nil {
		t.Fatal(err)
	}
	id := IdentityFromCertificate(cert)
	if !p.Matches(id) || id.Serial != serial.Text(16) || id.Issuer != "CN=client CA" || !strings.HasPrefix(id.Fingerprint, "sha256:") {
		t.Fatalf("identity = %+v", id)
	}
}

func TestMetadataLookalikesAndPolicy(t *testing.T) {
	now := epoch
	base := func() map[string]any {
		m := testMetadata(now)
		return map[string]any{"caseReference": m.CaseReference, "legalBasis": m.LegalBasis, "authorisationReference": m.AuthorisationReference,
			"authorisationExpiry": m.AuthorisationExpiry, "retentionUntil": m.RetentionUntil}
	}
	with := func(k string, v any) []byte {
		m := base()
		m[k] = v
		b, _ := json.Marshal(m)
		return b
	}
	valid, _ := json.Marshal(base())
	tests := []struct {
		name, field string
		data        []byte
	}{
		{"bidi override", "caseReference", with("caseReference", "CASE/\u202e2400/1")},
		{"zero-width space", "authorisationReference", with("authorisationReference", "WARRANT\u200b/7")},
		{"byte-order mark", "caseReference", with("caseReference", "\ufeffCASE/1")},
		{"leading space", "caseReference", with("caseReference", " CASE/1")},
		{"trailing space", "legalBasis", with("legalBasis", "art. 28 ")},
		{"no-break space", "caseReference", with("caseReference", "CASE\u00a0/1")},
		{"decomposed accent", "caseReference", with("caseReference", "CASE/Mu\u0308ller")},
		{"authorisation already expired", "authorisationExpiry", with("authorisationExpiry", now.Add(-time.Minute))},
		{"two-second retention", "retentionUntil", with("retentionUntil", now.Add(2*time.Second))},
		{"59-day retention", "retentionUntil", with("retentionUntil", now.Add(59*24*time.Hour))},
		{"duplicate key", "retentionUntil", append(valid[:len(valid)-1:len(valid)-1], []byte(`,"retentionUntil":"2099-01-01T00:00:00Z"}`)...)},
		{"case-variant key", "RETENTIONUNTIL", append(valid[:len(valid)-1:len(valid)-1], []byte(`,"RETENTIONUNTIL":"2099-01-01T00:00:00Z"}`)...)},
		{"nested object", "hold", with("hold", map[string]bool{"x": true})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMetadata(tc.data, now, Policy{})
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrInvalidMetadata) {
				t.Fatalf("ParseMetadata = %v; want a FieldError for %s", err, tc.field)
			}
		})
	}
	if _, err := ParseMetadata(with("retentionUntil", now.Add(61*24*time.Hour)), now, Policy{}); err != nil {
		t.Fatalf("61-day retention refused: %v", err)
	}
	if _, err := ParseMetadata(with("caseReference", "CASE/Müller 2031"), now, Policy{}); err != nil {
		t.Fatalf("composed non-ASCII reference refused: %v", err)
	}
}

func TestKeyMaterialNeverInMessagesAndKeysNeverChange(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keys")
	key := hex.EncodeToString(testKey(1))
	os.WriteFile(file, []byte(key+":1\n"), 0o600) // written the wrong way round
	_, err := LoadKeyring(file)
	if err == nil || strings.Contains(err.Error(), key) || strings.Contains(err.Error(), key[:16]) {
		t.Fatalf("<key>:<version> line: error %v must exist and not contain the key", err)
	}
	keyDir := filepath.Join(dir, "keydir")
	os.Mkdir(keyDir, 0o700)
	os.WriteFile(filepath.Join(keyDir, key), testKey(1), 0o600) // a file named after its key
	if _, err := LoadKeyring(keyDir); err == nil || strings.Contains(err.Error(), key[:16]) {
		t.Fatalf("file named after its key: error %v must exist and not contain the name", err)
	}

	data := t.TempDir()
	clock := newFakeClock()
	v := openTestVault(t, data, clock, testKeyring(t, 1))
	ingest(t, v, testMetadata(clock.Now()), []byte("sealed under version 1"))
	changed, _ := NewKeyring(map[uint32][]byte{1: testKey(9), 2: testKey(2)})
	if err := v.ReloadKeyring(changed); !errors.Is(err, ErrKeyChanged) {
		t.Fatalf("reload with a changed key under version 1 = %v; want ErrKeyChanged", err)
	}
	if v.Keyring().Active() != 1 {
		t.Fatal("the refused keyring was installed")
	}
	v.Close()
	_, err = Open(Config{Dir: data, Keyring: changed, Clock: clock})
	if !errors.Is(err, ErrKeyChanged) || !strings.Contains(err.Error(), "version 1") || strings.Contains(err.Error(), hex.EncodeToString(testKey(9))) {
		t.Fatalf("Open with a changed key under version 1 = %v; want ErrKeyChanged naming the version, not the key", err)
	}
}

// enospcStore fails every object write as a full disk does.
type enospcStore struct{ *FSStore }
type enospcPending struct{ PendingBlob }

func (s enospcStore) Create() (PendingBlob, error) {
	p, err := s.FSStore.Create()
	return enospcPending{p}, err
}
func (enospcPending) Write([]byte) (int, error) {
	return 0, &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
}

func TestStatusCodesForStorageAndKeys(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	fs, err := NewFSStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	fs.buffered = true
	v, err := Open(Config{Dir: dir, Keyring: testKeyring(t, 1), Clock: clock, Store: enospcStore{fs}, Grants: allGranted(), Policy: testPolicy})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ts := startTestServer(t, v, serverOptions{})
	c := ts.client(t, "investigator-1")
	meta, _ := json.Marshal(testMetadata(clock.Now()))
	code, body := do(t, c, ingestRequest(t, ts.url("/v1/objects"), meta, strings.NewReader("evidence")))
	if code != http.StatusInsufficientStorage {
		t.Fatalf("ingest on a full disk = %d %s; want 507", code, body)
	}

	// A key version missing from the keyring is a configuration problem: 503.
	dir2 := t.TempDir()
	v2 := openTestVault(t, dir2, clock, testKeyring(t, 1))
	m := testMetadata(clock.Now())
	res := ingest(t, v2, m, []byte("sealed under 1"))
	v2.Close()
	os.Remove(filepath.Join(dir2, keyFingerprintsName))
	v3 := openTestVault(t, dir2, clock, testKeyring(t, 2))
	ts3 := startTestServer(t, v3, serverOptions{})
	code, body = do(t, ts3.client(t, "investigator-1"), newRequest(t, "GET", ts3.url("/v1/objects/"+string(res.Digest)), "", AuthorisationHeader, m.AuthorisationReference))
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "version 1") {
		t.Fatalf("read with the key version missing = %d %s; want 503 naming version 1", code, body)
	}
	// A damaged header is damage, not a missing key.
	v3.Close()
	p := objectPath(dir2, res.Digest)
	b, _ := os.ReadFile(p)
	clear(b[8:12]) // key version field → 0
	os.WriteFile(p, b, 0o600)
	v4 := openTestVault(t, dir2, clock, testKeyring(t, 1, 2))
	_, err = readObject(t, v4, res.Digest)
	if !errors.Is(err, ErrObjectCorrupt) || errors.Is(err, ErrUnknownKeyVersion) || !strings.Contains(err.Error(), "header damaged") {
		t.Fatalf("read with a zeroed key-version field = %v; want ErrObjectCorrupt (header damaged)", err)
	}
}

func TestVerifyIsPrivilegedAndSingleFlight(t *testing.T) {
	clock := newFakeClock()
	v, err := Open(Config{Dir: t.TempDir(), Keyring: testKeyring(t, 1), Clock: clock, Policy: testPolicy})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Verify(context.Background(), testActor); !errors.Is(err, ErrNotAuthorised) {
		t.Fatalf("verify by an ordinary client under default grants = %v", err)
	}
	if _, err := v.Expire(testActor); !errors.Is(err, ErrNotAuthorised) {
		t.Fatalf("expire by an ordinary client under default grants = %v", err)
	}
	v.grants = allGranted()
	v.verifying.Lock() // a verification in progress
	_, err = v.Verify(context.Background(), testActor)
	v.verifying.Unlock()
	if !errors.Is(err, ErrVerifyRunning) {
		t.Fatalf("second verification = %v; want ErrVerifyRunning", err)
	}
	if rep, err := v.Verify(context.Background(), testActor); err != nil || rep.Findings == nil {
		t.Fatalf("verify = %+v %v; findings must be an empty list, not null", rep, err)
	}
}

func TestExportIsVerifiableAndTamperEvident(t *testing.T) {
	clock := newFakeClock()
	v := openTestVault(t, t.TempDir(), clock, testKeyring(t, 1))
	m := testMetadata(clock.Now())
	data := randomBytes(31, 2*DefaultChunkSize+5)
	res := ingest(t, v, m, data)
	for i := range 5 { // other history the proofs must span
		ingest(t, v, testMetadata(clock.Now()), randomBytes(uint64(40+i), 100))
	}
	if _, err := v.Hold(testActor, res.Digest, "CASE/2031/0042", "UNCC art. 25"); err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if err := v.Export(context.Background(), testActor, res.Digest, m.AuthorisationReference, &archive); err != nil {
		t.Fatal(err)
	}
	good := archive.Bytes()
	vkey := v.VerifierKey()
	if _, err := VerifyExport(bytes.NewReader(good), vkey); err != nil {
		t.Fatalf("untouched export: %v", err)
	}
	replace := func(old, new string) []byte { return bytes.Replace(bytes.Clone(good), []byte(old), []byte(new), 1) }
	_, otherKey, _ := GenerateSigningKey("cybercoop-vault")
	for name, tc := range map[string]struct {
		archive []byte
		key     string
	}{
		"object byte flipped":   {flipByte(good, len(good)-2048), vkey},
		"custody entry altered": {replace(`"action":"hold"`, `"action":"read"`), vkey},
		"truncated":             {good[:len(good)/2], vkey},
		"another vault's key":   {good, otherKey},
		"reference rewritten":   {replace(`"reference":"CASE/2031/0042"`, `"reference":"CASE/2031/0043"`), vkey},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := VerifyExport(bytes.NewReader(tc.archive), tc.key); err == nil {
				t.Fatal("a tampered export verified")
			}
		})
	}
	// The checkpoint endpoint's later checkpoints are consistent with the export's.
	cp1, err := OpenCheckpoint(mustCheckpoint(t, v).Note, vkey)
	if err != nil {
		t.Fatal(err)
	}
	ingest(t, v, testMetadata(clock.Now()), []byte("later"))
	cp2 := mustCheckpoint(t, v)
	proof, err := v.ConsistencyProof(cp1.Size, cp2.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyConsistency(cp1, cp2.Checkpoint, proof); err != nil {
		t.Fatalf("consistency %d→%d: %v", cp1.Size, cp2.Size, err)
	}
	// A rewritten log cannot produce a consistent proof for the old checkpoint.
	forged := cp2.Checkpoint
	forged.Root = bytes.Repeat([]byte{1}, 32)
	if err := VerifyConsistency(cp1, forged, proof); err == nil {
		t.Fatal("consistency proof verified against a different root")
	}
}

func mustCheckpoint(t testing.TB, v *Vault) SignedCheckpoint {
	t.Helper()
	cp, err := v.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// pemDecode returns the DER of the first PEM block.
func pemDecode(b []byte) ([]byte, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	return block.Bytes, nil
}

func TestHTTPRolesFromCertificates(t *testing.T) {
	clock := newFakeClock()
	admins, err := ParsePrincipals("--releaser", []string{"CN=admin,O=Agency A"})
	if err != nil {
		t.Fatal(err)
	}
	g := DefaultGrants()
	g[RoleRelease] = admins
	v, err := Open(Config{Dir: t.TempDir(), Keyring: testKeyring(t, 1), Clock: clock, Grants: g})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ts := startTestServer(t, v, serverOptions{})
	alice, bob, admin := ts.client(t, "alice"), ts.client(t, "bob"), ts.client(t, "admin")
	m := testMetadata(clock.Now())
	m.RetentionUntil = clock.Now().Add(61 * 24 * time.Hour)
	m.Hold = true
	meta, _ := json.Marshal(m)
	code, body := do(t, alice, ingestRequest(t, ts.url("/v1/objects"), meta, strings.NewReader("alice's evidence")))
	var res IngestResult
	if code != http.StatusCreated || json.Unmarshal(body, &res) != nil || len(res.Holds) != 1 {
		t.Fatalf("ingest: %d %s", code, body)
	}
	obj := ts.url("/v1/objects/" + string(res.Digest))
	release := fmt.Sprintf(`{"reference":%q,"legalBasis":"lifted"}`, m.CaseReference)
	short := m
	short.RetentionUntil = clock.Now().Add(2 * time.Second)
	shortMeta, _ := json.Marshal(short)
	for _, tc := range []struct {
		name   string
		client *http.Client
		req    *http.Request
		code   int
		want   string
	}{
		{"bob lists", bob, newRequest(t, "GET", ts.url("/v1/objects"), ""), 200, "[]"},
		{"alice lists", alice, newRequest(t, "GET", ts.url("/v1/objects"), ""), 200, m.AuthorisationReference},
		{"bob releases", bob, newRequest(t, "POST", obj+"/release", release), 403, "release role"},
		{"alice expires", alice, newRequest(t, "DELETE", obj, ""), 403, "expire role"},
		{"bob verifies", bob, newRequest(t, "POST", ts.url("/v1/verify"), ""), 403, "verify role"},
		{"bob reads the custody report", bob, newRequest(t, "GET", ts.url("/v1/custody?object="+string(res.Digest)), ""), 403, "list role"},
		{"two-second retention", alice, ingestRequest(t, ts.url("/v1/objects"), shortMeta, strings.NewReader("x")), 400, `"field": "retentionUntil"`},
		{"admin releases", admin, newRequest(t, "POST", obj+"/release", release), 200, `"fingerprint": "sha256:`},
	} {
		code, body := do(t, tc.client, tc.req)
		if code != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %s; want %d containing %q", tc.name, code, body, tc.code, tc.want)
		}
		if tc.code == 403 && (strings.Contains(string(body), m.AuthorisationReference) || strings.Contains(string(body), m.CaseReference)) {
			t.Errorf("%s: refusal reveals a reference: %s", tc.name, body)
		}
	}
}

func TestAcknowledgementRecordSurvivesATornSlot(t *testing.T) {
	dir, _ := buildStore(t) // entries 1–6; entry 6 is in slot 0
	path := filepath.Join(dir, custodyLogName+".ack")
	b, _ := os.ReadFile(path)
	os.WriteFile(path, flipByte(b, 10), 0o600) // the write of entry 6's slot was torn
	v := openTestVault(t, dir, newFakeClock(), testKeyring(t, 1))
	if v.Fault() != nil {
		t.Fatalf("a torn slot with the previous one intact: %v", v.Fault())
	}
	v.Close()
	b, _ = os.ReadFile(path)
	os.WriteFile(path, flipByte(flipByte(b, 10), ackSlotSize+10), 0o600)
	if _, err := Open(Config{Dir: dir, Keyring: testKeyring(t, 1)}); err == nil || !strings.Contains(err.Error(), "acknowledgement record") {
		t.Fatalf("Open with both slots damaged = %v; want a refusal naming the acknowledgement record", err)
	}
}

func TestOfflineVerifyReportsMissingAcknowledgedEntries(t *testing.T) {
	dir, _ := buildStore(t)
	lines := logLines(t, dir)
	writeLog(t, dir, lines[:len(lines)-2])
	rep, err := VerifyOffline(context.Background(), dir, testKeyring(t, 1), newFakeClock())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(rep.Findings, func(f Finding) bool { return strings.Contains(f.Problem, "entry 6 was acknowledged") }) {
		t.Fatalf("findings = %v; want the missing acknowledged entry 6", rep.Findings)
	}
}
