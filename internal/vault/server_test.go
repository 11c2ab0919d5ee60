package vault

import (
	"bytes"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"mime/multipart"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ingestRequest streams metadata and object as multipart without buffering.
func ingestRequest(t testing.TB, url string, meta []byte, object io.Reader) *http.Request {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormField("metadata")
		if err == nil {
			_, err = part.Write(meta)
		}
		if err == nil {
			part, err = mw.CreateFormFile("object", "object")
		}
		if err == nil {
			_, err = io.Copy(part, object)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequest(http.MethodPost, url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return req
}

func do(t testing.TB, c *http.Client, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, body
}

func newRequest(t testing.TB, method, url string, body string, header ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

func TestHTTPAPI(t *testing.T) {
	clock := newFakeClock()
	v := openTestVault(t, t.TempDir(), clock, testKeyring(t, 1))
	ts := startTestServer(t, v, serverOptions{})
	c := ts.client(t, "investigator-1")
	m := testMetadata(clock.Now())
	meta, _ := json.Marshal(m)
	data := randomBytes(5, 600000)

	code, body := do(t, c, ingestRequest(t, ts.url("/v1/objects"), meta, bytes.NewReader(data)))
	var res IngestResult
	if code != http.StatusCreated || json.Unmarshal(body, &res) != nil {
		t.Fatalf("ingest: %d %s", code, body)
	}
	if code, body := do(t, c, ingestRequest(t, ts.url("/v1/objects"), meta, bytes.NewReader(data))); code != http.StatusOK || !strings.Contains(string(body), `"duplicate": true`) {
		t.Fatalf("duplicate ingest: %d %s", code, body)
	}
	if info, _ := v.Stat(res.Digest); info.Cases[0].IngestedBy != "CN=investigator-1,O=Agency A" || len(info.Cases) != 2 {
		t.Fatalf("cases = %+v; want two, the first ingested by the client certificate subject", info.Cases)
	}

	obj := ts.url("/v1/objects/" + string(res.Digest))
	if code, body := do(t, c, newRequest(t, "GET", obj, "", AuthorisationHeader, m.AuthorisationReference)); code != 200 || !bytes.Equal(body, data) {
		t.Fatalf("read: %d, %d bytes", code, len(body))
	}
	hold := `{"reference":"CASE/2031/0042","legalBasis":"UNCC art. 25"}`
	for _, tc := range []struct {
		req  *http.Request
		code int
		want string
	}{
		{newRequest(t, "GET", obj, ""), 403, "authorisation reference"},
		{newRequest(t, "GET", ts.url("/v1/objects/sha256:..%2F..%2Fetc"), ""), 400, "digest"},
		{newRequest(t, "GET", ts.url("/v1/objects/sha256:"+strings.Repeat("0", 64)), "", AuthorisationHeader, "x"), 404, "not found"},
		{newRequest(t, "DELETE", obj, ""), 409, "must be retained until"},
		{newRequest(t, "POST", obj+"/hold", hold), 200, `"action": "hold"`},
		{newRequest(t, "POST", obj+"/hold", hold), 409, "already held"},
		{newRequest(t, "POST", obj+"/hold", `{"reference":"../x","legalBasis":"b"}`), 400, "path navigation is not allowed"},
		{newRequest(t, "POST", obj+"/release", hold), 200, `"action": "release"`},
		{newRequest(t, "GET", ts.url("/v1/objects"), ""), 200, string(res.Digest)},
		{newRequest(t, "POST", ts.url("/v1/expire"), ""), 200, `"expired": []`},
		{newRequest(t, "POST", ts.url("/v1/verify"), ""), 200, `"findings": []`},
		{newRequest(t, "GET", ts.url("/status"), ""), 200, `"objects": 1`},
		{newRequest(t, "GET", ts.url("/v1/checkpoint"), ""), 200, "cybercoop-vault\n"},
		{newRequest(t, "GET", ts.url("/v1/proof/consistency?from=1"), ""), 200, "="},
		{newRequest(t, "GET", ts.url("/v1/proof/consistency?from=x"), ""), 400, `"field": "from"`},
		{newRequest(t, "GET", ts.url("/v1/proof/consistency?from=9999"), ""), 400, "no consistency proof"},
		{newRequest(t, "GET", ts.url("/v1/custody?object="+string(res.Digest)), ""), 200, `"action": "release"`},
		{newRequest(t, "GET", ts.url("/v1/objects"), ""), 200, `"holds": []`},
		{ingestRequest(t, ts.url("/v1/objects"), bytes.Repeat([]byte(" "), MaxMetadataBytes+1), strings.NewReader("x")), 413, "exceeds the limit"},
		{ingestRequest(t, ts.url("/v1/objects"), []byte(`{"caseReference":"/etc/passwd"}`), strings.NewReader("x")), 400, "absolute path"},
		{newRequest(t, "POST", ts.url("/v1/objects"), "raw body"), 400, "multipart"},
	} {
		code, body := do(t, c, tc.req)
		if code != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s %s = %d %s; want %d containing %q", tc.req.Method, tc.req.URL.Path, code, body, tc.code, tc.want)
		}
	}
	code, body = do(t, c, newRequest(t, "GET", obj+"/export", "", AuthorisationHeader, m.AuthorisationReference))
	if code != 200 || !bytes.Contains(body, data[:1000]) || !bytes.Contains(body, []byte("custody.jsonl")) {
		t.Fatalf("export: %d, %d bytes", code, len(body))
	}

	health := &http.Client{Timeout: 10 * time.Second}
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ok", "/metrics": "cybercoop_vault_objects 1"} {
		resp, err := health.Get("http://" + ts.healthAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s = %d, want %q in body", path, resp.StatusCode, want)
		}
	}
	var st Status
	_, body = do(t, c, newRequest(t, "GET", ts.url("/status"), ""))
	json.Unmarshal(body, &st)
	if st.LastVerification == nil || !st.LastVerification.OK || st.KeyVersionsInUse[1] != 1 || st.Bytes != int64(len(data)) {
		t.Fatalf("status = %s", body)
	}
}

func TestMutualTLSRejectsBadClients(t *testing.T) {
	clock := newFakeClock()
	v := openTestVault(t, t.TempDir(), clock, testKeyring(t, 1))
	ts := startTestServer(t, v, serverOptions{})
	otherCA := newTestCA(t, "someone else's CA")
	otherCert, otherKey, _ := otherCA.issueValid(t, "intruder", false)
	expiredCert, expiredKey, _ := ts.clientCA.issue(t, pkix.Name{CommonName: "former investigator"}, false,
		time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	clients := map[string]*http.Client{
		"no certificate":      ts.clientWith(t, nil, nil, true),
		"wrong client CA":     ts.clientWith(t, otherCert, otherKey, true),
		"expired client cert": ts.clientWith(t, expiredCert, expiredKey, true),
	}
	tls12 := ts.client(t, "old client")
	tls12.Transport.(*http.Transport).TLSClientConfig.MinVersion = tls.VersionTLS12
	tls12.Transport.(*http.Transport).TLSClientConfig.MaxVersion = tls.VersionTLS12
	clients["TLS 1.2"] = tls12
	for name, c := range clients {
		t.Run(name, func(t *testing.T) {
			resp, err := c.Get(ts.url("/status"))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("request succeeded with status %d", resp.StatusCode)
			}
		})
	}
	if n := v.Status().CustodyEntries; n != 0 {
		t.Fatalf("rejected clients produced %d custody entries", n)
	}
}

// TestCertificateHotReload rotates the server certificate and the client CA
// bundle while clients loop requests, and expects no failed request, the new
// certificate on new connections and the old one on an existing connection.
func TestCertificateHotReload(t *testing.T) {
	clock := newFakeClock()
	v := openTestVault(t, t.TempDir(), clock, testKeyring(t, 1))
	ts := startTestServer(t, v, serverOptions{reloadInterval: 10 * time.Millisecond})
	certPEM, keyPEM, _ := ts.clientCA.issueValid(t, "looping client", false)
	fresh := ts.clientWith(t, certPEM, keyPEM, true)   // a handshake per request
	pooled := ts.clientWith(t, certPEM, keyPEM, false) // one connection throughout

	firstSerial := func(c *http.Client) *big.Int {
		resp, err := c.Get(ts.url("/status"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber
	}
	oldSerial := firstSerial(pooled)

	var newSerial atomic.Pointer[big.Int]
	sawNew := make(chan struct{})
	stop := make(chan struct{})
	var failures []string
	var mu sync.Mutex
	var requests atomic.Int64
	loop := func(c *http.Client, wantOld bool) {
		var once sync.Once
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := c.Get(ts.url("/status"))
			requests.Add(1)
			if err != nil {
				mu.Lock()
				failures = append(failures, err.Error())
				mu.Unlock()
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			serial := resp.TLS.PeerCertificates[0].SerialNumber
			if resp.StatusCode != 200 || (wantOld && serial.Cmp(oldSerial) != 0) {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("status %d serial %v (keep-alive %v)", resp.StatusCode, serial, wantOld))
				mu.Unlock()
			}
			if n := newSerial.Load(); !wantOld && n != nil && serial.Cmp(n) == 0 {
				once.Do(func() { close(sawNew) })
			}
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { loop(fresh, false) })
	wg.Go(func() { loop(pooled, true) })

	// Rotate: key first, then certificate, as two separate file updates, so
	// the reloader also sees (and must survive) a mismatched pair.
	newCert, newKey, serial := ts.serverCA.issueValid(t, "vault rotated", true)
	newSerial.Store(serial)
	writeFileAtomic(t, ts.keyFile, newKey)
	writeFileAtomic(t, ts.certFile, newCert)
	newClientCA := newTestCA(t, "vault client CA 2")
	writeFileAtomic(t, ts.caFile, append(bytes.Clone(ts.clientCA.pem), newClientCA.pem...))

	select {
	case <-sawNew:
	case <-time.After(15 * time.Second):
		t.Fatal("the rotated certificate was never served to a new connection")
	}
	// A client of the newly trusted CA gets in once the bundle is reloaded.
	c2Cert, c2Key, _ := newClientCA.issueValid(t, "new-CA client", false)
	c2 := ts.clientWith(t, c2Cert, c2Key, true)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := c2.Get(ts.url("/status"))
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client of the added CA still rejected: %v", err)
		}
		runtime.Gosched()
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests during rotation", requests.Load())
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed during rotation, first: %s", len(failures), requests.Load(), failures[0])
	}
	if got := firstSerial(fresh); got.Cmp(serial) != 0 {
		t.Fatalf("new connection got serial %v, want %v", got, serial)
	}
}

func TestCorruptObjectAbortsResponse(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	v := openTestVault(t, dir, clock, testKeyring(t, 1))
	ts := startTestServer(t, v, serverOptions{})
	c := ts.client(t, "investigator-1")
	m := testMetadata(clock.Now())
	big := ingest(t, v, m, randomBytes(8, 4*DefaultChunkSize))
	small := ingest(t, v, m, []byte("small"))
	for _, d := range []Digest{big.Digest, small.Digest} {
		p := objectPath(dir, d)
		b, _ := os.ReadFile(p)
		os.WriteFile(p, flipByte(b, len(b)-1), 0o600) // damage only the final chunk
	}
	// Damage anywhere is found before the status line: no byte of a
	// damaged object is ever sent under a 200.
	for _, d := range []Digest{big.Digest, small.Digest} {
		code, body := do(t, c, newRequest(t, "GET", ts.url("/v1/objects/"+string(d)), "", AuthorisationHeader, m.AuthorisationReference))
		if code != 500 || !strings.Contains(string(body), "failed authentication") {
			t.Fatalf("corrupt object %s: %d %s", d, code, body)
		}
		code, body = do(t, c, newRequest(t, "GET", ts.url("/v1/objects/"+string(d)+"/export"), "", AuthorisationHeader, m.AuthorisationReference))
		if code != 500 || !strings.Contains(string(body), "failed authentication") {
			t.Fatalf("export of corrupt object %s: %d %s", d, code, body)
		}
	}
}
