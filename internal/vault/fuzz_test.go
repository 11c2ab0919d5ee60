package vault

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

func FuzzDecodeEntry(f *testing.F) {
	m := testMetadata(epoch)
	prev := genesisHash
	for i, e := range []Entry{
		{Seq: 1, Time: epoch, Actor: testActor.Name(), Cert: &testActor, Action: ActionIngest, Object: Digest("sha256:" + strings.Repeat("ab", 32)), LegalBasis: m.LegalBasis, Reference: m.CaseReference, Metadata: &m, Size: 42, KeyVersion: 1},
		{Seq: 2, Time: epoch.Add(time.Second), Actor: "CN=<&>\u2028", Action: ActionHold, Object: Digest("sha512:" + strings.Repeat("0", 128)), Reference: "CASE/1", LegalBasis: "art. 25"},
		{Seq: 3, Time: epoch.Add(time.Nanosecond), Actor: SystemActor, Action: ActionRecover, Detail: "truncated"},
		{Seq: 4, Time: epoch, Actor: "CN=peer,C=VN", Cert: &Identity{Subject: "CN=peer,C=VN", Fingerprint: "sha256:" + strings.Repeat("cd", 32)}, Via: &testActor,
			Action: ActionIngest, Object: Digest("sha256:" + strings.Repeat("ef", 32)), Reference: m.CaseReference, Metadata: &m, Size: 1, KeyVersion: 1},
	} {
		e.Prev = prev
		e, line, err := encodeEntry(e)
		if err != nil {
			f.Fatal(err)
		}
		prev = e.Hash
		line = bytes.TrimSuffix(line, []byte("\n"))
		f.Add(line)
		f.Add(flipByte(line, len(line)/(i+2)))
		f.Add(line[:len(line)/2])
	}
	f.Add([]byte(`{"seq":1,"SEQ":2}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := DecodeEntry(line)
		if err != nil {
			return
		}
		// Whatever decodes is exactly what the vault would have written.
		_, again, err := encodeEntry(e)
		if err != nil {
			t.Fatalf("decoded entry does not re-encode: %v", err)
		}
		if !bytes.Equal(again, append(bytes.Clone(line), '\n')) {
			t.Fatalf("decoded entry re-encodes differently:\n%s\n%s", line, again)
		}
		if bytes.ContainsAny(line, "\n\r") {
			t.Fatal("an accepted entry contains a line break")
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	valid, _ := json.Marshal(testMetadata(epoch))
	f.Add(valid)
	for _, ref := range []string{"../etc/passwd", "/abs", "a\x00b", `a\b`, "a//b", "./x", "CASE/2031/0042", strings.Repeat("x", 300)} {
		m := testMetadata(epoch)
		m.CaseReference = ref
		b, _ := json.Marshal(m)
		f.Add(b)
	}
	f.Add([]byte(`{"caseReference":"x","unknown":1}`))
	f.Add([]byte(`{} {}`))
	relayed := testMetadata(epoch)
	peer := testIdentity("CN=gateway.vn.example,C=VN")
	peer.URI = "spiffe://vn.example/gateway"
	relayed.OnBehalfOf, relayed.Exclusive = &peer, true
	b, _ := json.Marshal(relayed)
	f.Add(b)
	f.Add(bytes.Replace(b, []byte(`"subject":"CN=`), []byte(`"subject":"CN=\u202e`), 1))
	f.Add(bytes.Replace(b, []byte(`"onBehalfOf":{`), []byte(`"onBehalfOf":{"onBehalfOf":{},`), 1))
	f.Add([]byte(`{"onBehalfOf":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMetadata(data, epoch, testPolicy)
		if err != nil {
			if !errors.Is(err, ErrInvalidMetadata) {
				t.Fatalf("error does not wrap ErrInvalidMetadata: %v", err)
			}
			return
		}
		for _, ref := range []string{m.CaseReference, m.AuthorisationReference} {
			if !filepath.IsLocal(ref) || strings.ContainsRune(ref, 0) || strings.Contains(ref, "..") && strings.Contains("/"+ref+"/", "/../") {
				t.Fatalf("accepted reference %q is not a safe relative path", ref)
			}
		}
		// Accepted metadata survives the custody log's round trip unchanged.
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseMetadata(b, epoch, testPolicy)
		if err != nil || m2.CaseReference != m.CaseReference || !m2.RetentionUntil.Equal(m.RetentionUntil) ||
			m2.Exclusive != m.Exclusive || (m2.OnBehalfOf == nil) != (m.OnBehalfOf == nil) || m.OnBehalfOf != nil && *m2.OnBehalfOf != *m.OnBehalfOf {
			t.Fatalf("re-parsing accepted metadata: %+v %v", m2, err)
		}
		// An accepted relayed identity is one the custody log can name as an
		// actor without it passing for another: a distinguished name, no
		// system: principal, a certificate fingerprint.
		if p := m.OnBehalfOf; p != nil {
			if _, err := canonicalDN(p.Subject); err != nil || p.check() != nil || p.Name() == SystemActor || !strings.HasPrefix(p.Fingerprint, "sha256:") {
				t.Fatalf("accepted relayed identity %+v", p)
			}
		}
	})
}

// FuzzIngestBody drives the HTTP ingest handler with complete, cut-off and
// malformed multipart bodies. Whatever the input, an acknowledged ingest
// (200 or 201) must come from a body that ends with the closing multipart
// delimiter, and the acknowledged digest must be that of the object part as
// a strict parser reads it: a cut-off body is never stored as complete.
func FuzzIngestBody(f *testing.F) {
	clock := newFakeClock()
	v, err := Open(Config{Dir: f.TempDir(), Keyring: testKeyring(f, 1), Clock: clock, Grants: allGranted(), Policy: testPolicy, Store: bufferedStore(f)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { v.Close() })
	h := NewHandler(v, logr.Discard(), Limits{})
	ca := newTestCA(f, "fuzz CA")
	certPEM, _, _ := ca.issueValid(f, "fuzzer", false)
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		f.Fatal(err)
	}
	meta, _ := json.Marshal(testMetadata(epoch))
	valid := multipartBody(meta, []byte("evidence bytes"), true)
	f.Add(valid, -1)
	for _, cut := range []int{len(valid) - 1, len(valid) - 2, len(valid) - 4, len(valid) - 20, len(valid) / 2, 10, 0} {
		f.Add(valid, cut)
	}
	f.Add(multipartBody(meta, []byte("no closing boundary"), false), -1)
	f.Add(append(multipartBody(meta, []byte("x"), false), []byte("\r\n--"+testBoundary+"\r\n")...), -1)
	f.Add(bytes.Replace(valid, []byte(`"metadata"`), []byte(`"object"`), 1), -1)
	f.Add(multipartBody([]byte(`{"caseReference":"A","caseReference":"B"}`), []byte("x"), true), -1)
	f.Fuzz(func(t *testing.T, full []byte, cut int) {
		body := full
		if cut >= 0 && cut < len(full) {
			body = full[:cut]
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/objects", bytes.NewReader(body))
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+testBoundary)
		req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}, VerifiedChains: [][]*x509.Certificate{{cert}}}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated && rec.Code != http.StatusOK {
			if rec.Code >= 500 {
				t.Fatalf("status %d for a client's body: %s", rec.Code, rec.Body)
			}
			return
		}
		if !bytes.HasSuffix(bytes.TrimRight(body, " \t\r\n"), []byte("--"+testBoundary+"--")) {
			t.Fatalf("acknowledged a body without the closing delimiter: %q", body)
		}
		var res IngestResult
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		mr := multipart.NewReader(bytes.NewReader(body), testBoundary)
		var object []byte
		for i := 0; ; i++ {
			p, err := mr.NextPart()
			if err == io.EOF { //nolint:errorlint // a strict reader: only a bare io.EOF is the closing delimiter
				break
			}
			if err != nil {
				t.Fatalf("acknowledged a body a strict reader rejects: %v", err)
			}
			b, err := io.ReadAll(p)
			if err != nil {
				t.Fatalf("acknowledged a body whose part %d a strict reader cannot read: %v", i, err)
			}
			if i == 1 {
				object = b
			}
		}
		sum := sha256.Sum256(object)
		if want := newDigest(SHA256, sum[:]); res.Digest != want || res.Size != int64(len(object)) {
			t.Fatalf("acknowledged %s (%d bytes); the object part is %s (%d bytes)", res.Digest, res.Size, want, len(object))
		}
	})
}

// bufferedStore keeps fuzzing off direct I/O, which some temp file systems lack.
func bufferedStore(t testing.TB) *FSStore {
	s, err := NewFSStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.buffered = true
	return s
}
