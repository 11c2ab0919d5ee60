package vault

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The gateway records the requests of peer States in the vault through the
// relay role: the custody entry names the peer's certificate as the actor
// and the gateway as via. These tests run over HTTPS with client
// certificates, as the gateway and the vault do.

// relayFixture is a vault whose client "gateway" holds the relay role (and
// "auditor" the list role), served over mutual TLS.
type relayFixture struct {
	v     *Vault
	dir   string
	clock *fakeClock
	ts    *testServer
	// gateway relays; peer is the party it relays for (a peer State's
	// gateway certificate, which is no client of this vault).
	gateway     *http.Client
	gatewayID   Identity
	peer        Identity
	other       *http.Client // an unrelated client
	auditor     *http.Client // holds the list role
	peerAsLocal *http.Client // a client of this vault whose certificate IS the relayed identity
}

func newRelayFixture(t *testing.T, limits Limits) *relayFixture {
	t.Helper()
	g := DefaultGrants()
	var err error
	if g[RoleRelay], err = ParsePrincipals("--relay", []string{"CN=gateway,O=Agency A"}); err != nil {
		t.Fatal(err)
	}
	if g[RoleList], err = ParsePrincipals("--lister", []string{"CN=auditor,O=Agency A"}); err != nil {
		t.Fatal(err)
	}
	f := &relayFixture{dir: t.TempDir(), clock: newFakeClock()}
	f.v, err = Open(Config{Dir: f.dir, Keyring: testKeyring(t, 1), Clock: f.clock, Grants: g, Policy: testPolicy})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.v.Close() })
	f.ts = startTestServer(t, f.v, serverOptions{limits: limits})
	f.gateway, f.gatewayID = f.ts.clientIdentity(t, pkix.Name{CommonName: "gateway", Organization: []string{"Agency A"}})
	f.other = f.ts.client(t, "other")
	f.auditor = f.ts.client(t, "auditor")
	// The relayed identity is a real certificate of this vault's client CA
	// (subject, URI SAN, issuer, serial, fingerprint all its own): it still
	// gains nothing from being named.
	f.peerAsLocal, f.peer = f.ts.clientIdentity(t, pkix.Name{CommonName: "gateway.vn.example", Organization: []string{"Ministry of Public Security"}, Country: []string{"VN"}})
	return f
}

// clientIdentity returns a client with a new certificate for subject, and
// the identity the vault will see.
func (ts *testServer) clientIdentity(t testing.TB, subject pkix.Name) (*http.Client, Identity) {
	t.Helper()
	certPEM, keyPEM, _ := ts.clientCA.issue(t, subject, false, time.Now().Add(-time.Hour), time.Now().Add(12*time.Hour))
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return ts.clientWith(t, certPEM, keyPEM, false), IdentityFromCertificate(cert)
}

func (f *relayFixture) metadata(caseRef string) Metadata {
	m := testMetadata(f.clock.Now())
	m.CaseReference, m.AuthorisationReference = caseRef, caseRef
	m.LegalBasis = "UNCC art. 40 (mutual legal assistance request received)"
	return m
}

// ingest posts content with metadata m (marshalled as a client would) and
// returns the status and body.
func (f *relayFixture) ingest(t *testing.T, c *http.Client, m any, content []byte, header ...string) (int, []byte) {
	t.Helper()
	meta, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	req := ingestRequest(t, f.ts.url("/v1/objects"), meta, bytes.NewReader(content))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, c, req)
}

func (f *relayFixture) mustIngest(t *testing.T, c *http.Client, m Metadata, content []byte, wantCode int) IngestResult {
	t.Helper()
	code, body := f.ingest(t, c, m, content)
	var res IngestResult
	if code != wantCode || json.Unmarshal(body, &res) != nil {
		t.Fatalf("ingest: %d %s; want %d", code, body, wantCode)
	}
	return res
}

func (f *relayFixture) list(t *testing.T, c *http.Client, query string) []ObjectInfo {
	t.Helper()
	code, body := do(t, c, newRequest(t, "GET", f.ts.url("/v1/objects"+query), ""))
	var objects []ObjectInfo
	if code != http.StatusOK || json.Unmarshal(body, &objects) != nil {
		t.Fatalf("GET /v1/objects%s: %d %s", query, code, body)
	}
	return objects
}

// proveEntry checks the entry line and checkpoint of an ingest result with a
// proof fetched by c.
func (f *relayFixture) proveEntry(t *testing.T, c *http.Client, res IngestResult) Entry {
	t.Helper()
	cp, err := OpenCheckpoint([]byte(res.Checkpoint), f.v.VerifierKey())
	if err != nil {
		t.Fatalf("the ingest result's checkpoint: %v", err)
	}
	if cp.Size < res.Sequence {
		t.Fatalf("the checkpoint of size %d does not cover entry %d", cp.Size, res.Sequence)
	}
	code, body := do(t, c, newRequest(t, "GET", f.ts.url(fmt.Sprintf("/v1/proof/inclusion?seq=%d&size=%d", res.Sequence, cp.Size)), ""))
	if code != http.StatusOK {
		t.Fatalf("inclusion proof of entry %d: %d %s", res.Sequence, code, body)
	}
	if err := VerifyInclusion(cp, res.Sequence, res.Entry, parseProofLines(t, body)); err != nil {
		t.Fatalf("the ingest result's entry is not entry %d of its checkpoint: %v", res.Sequence, err)
	}
	e, err := DecodeEntry(res.Entry)
	if err != nil || e.Seq != res.Sequence || e.Object != res.Digest {
		t.Fatalf("the ingest result's entry: %+v, %v", e, err)
	}
	return e
}

func parseProofLines(t *testing.T, body []byte) [][]byte {
	t.Helper()
	var hashes [][]byte
	for _, line := range strings.Fields(string(body)) {
		var h []byte
		if err := json.Unmarshal([]byte(`"`+line+`"`), &h); err != nil {
			t.Fatalf("proof line %q: %v", line, err)
		}
		hashes = append(hashes, h)
	}
	return hashes
}

func TestRelayedIngestNamesThePeerAndTheRelay(t *testing.T) {
	f := newRelayFixture(t, Limits{})
	m := f.metadata("REQUEST/VN/2031/0042")
	m.OnBehalfOf, m.Exclusive = &f.peer, true
	content := []byte(`{"type":"preservation","reference":"VN-2031-0042"}`)
	res := f.mustIngest(t, f.gateway, m, content, http.StatusCreated)

	e := f.proveEntry(t, f.gateway, res)
	if e.Actor != f.peer.Name() || e.Cert == nil || *e.Cert != f.peer {
		t.Fatalf("actor %q cert %+v; want the relayed peer %+v", e.Actor, e.Cert, f.peer)
	}
	if e.Via == nil || *e.Via != f.gatewayID {
		t.Fatalf("via %+v; want the gateway's certificate %+v", e.Via, f.gatewayID)
	}
	if e.Metadata == nil || e.Metadata.OnBehalfOf != nil || !e.Metadata.Exclusive {
		t.Fatalf("recorded metadata %+v; want exclusive, and onBehalfOf only as the cert", e.Metadata)
	}
	if !strings.Contains(string(res.Entry), `"via":{"subject":"CN=gateway,O=Agency A"`) || !strings.Contains(string(res.Entry), `"exclusive":true`) {
		t.Fatalf("entry line %s", res.Entry)
	}

	// The relay sees what it relayed as if it were the actor.
	objects := f.list(t, f.gateway, "")
	if len(objects) != 1 || objects[0].Digest != res.Digest || len(objects[0].Cases) != 1 {
		t.Fatalf("the relay's listing: %+v", objects)
	}
	c := objects[0].Cases[0]
	if c.IngestedBy != f.peer.Name() || c.IngestedVia != f.gatewayID.Name() || c.Metadata.AuthorisationReference != m.AuthorisationReference {
		t.Fatalf("the relay's case: %+v", c)
	}
	if byCase := f.list(t, f.gateway, "?case="+url.QueryEscape(m.CaseReference)); len(byCase) != 1 || byCase[0].Digest != res.Digest {
		t.Fatalf("the relay's listing of its case: %+v", byCase)
	}
	obj := f.ts.url("/v1/objects/" + string(res.Digest))
	if code, body := do(t, f.gateway, newRequest(t, "GET", obj, "", AuthorisationHeader, m.AuthorisationReference)); code != 200 || !bytes.Equal(body, content) {
		t.Fatalf("the relay reads: %d %s", code, body)
	}
	hold := `{"reference":"HOLD/VN/2031/0042","legalBasis":"UNCC art. 42 (expedited preservation)"}`
	if code, body := do(t, f.gateway, newRequest(t, "POST", obj+"/hold", hold)); code != 200 {
		t.Fatalf("the relay holds: %d %s", code, body)
	}
	code, archive := do(t, f.gateway, newRequest(t, "GET", obj+"/export", "", AuthorisationHeader, m.AuthorisationReference))
	if code != 200 {
		t.Fatalf("the relay exports: %d %s", code, archive)
	}
	chk, err := VerifyExport(bytes.NewReader(archive), f.v.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if len(chk.Manifest.Redacted) != 0 || chk.Entries[0].Via == nil || !bytes.Contains(archive, res.Entry) {
		t.Fatalf("the relay's export redacts its own relayed ingest: %+v", chk.Manifest.Redacted)
	}
	if got := f.list(t, f.gateway, ""); len(got[0].Holds) != 1 || got[0].OtherHolds != 0 {
		t.Fatalf("the relay's view of the holds: %+v", got[0])
	}

	// Nobody else sees it: not an unrelated client, and not the relayed
	// party, even with the very certificate the relay named.
	for name, c := range map[string]*http.Client{"an unrelated client": f.other, "the relayed party": f.peerAsLocal} {
		if got := f.list(t, c, ""); len(got) != 0 {
			t.Errorf("%s lists %+v", name, got)
		}
		if got := f.list(t, c, "?case="+url.QueryEscape(m.CaseReference)); len(got) != 0 {
			t.Errorf("%s lists the case: %+v", name, got)
		}
		for _, req := range []*http.Request{
			newRequest(t, "GET", obj, "", AuthorisationHeader, "REQUEST/VN/2031/0041"),
			newRequest(t, "GET", obj+"/export", ""),
			newRequest(t, "POST", obj+"/hold", `{"reference":"HOLD/X","legalBasis":"probing"}`),
			newRequest(t, "GET", f.ts.url(fmt.Sprintf("/v1/proof/inclusion?seq=%d", res.Sequence)), ""),
		} {
			if code, body := do(t, c, req); code != http.StatusNotFound || strings.Contains(string(body), m.CaseReference) {
				t.Errorf("%s: %s %s = %d %s; want 404 naming nothing", name, req.Method, req.URL.Path, code, body)
			}
		}
	}
	// The auditor sees the case, not its authorisation reference.
	if got := f.list(t, f.auditor, "?case="+url.QueryEscape(m.CaseReference)); len(got) != 1 || got[0].Cases[0].Metadata.AuthorisationReference != "" || got[0].Cases[0].IngestedVia != f.gatewayID.Name() {
		t.Fatalf("the auditor's listing: %+v", got)
	}
	// The custody report by actor finds what the relay did, the relayed
	// ingest among it (ingest, read, hold, export).
	code, body := do(t, f.auditor, newRequest(t, "GET", f.ts.url("/v1/custody?actor="+url.QueryEscape(f.gatewayID.Name())), ""))
	var rep CustodyReport
	if code != 200 || json.Unmarshal(body, &rep) != nil || len(rep.Entries) != 4 || rep.Entries[0].Via == nil {
		t.Fatalf("custody report of the relay's entries: %d %s", code, body)
	}

	// Verification accepts the relayed entry, online, offline and after a restart.
	if rep, err := f.v.Verify(context.Background(), SystemIdentity); err != nil || !rep.OK() {
		t.Fatalf("Verify = %+v, %v", rep.Findings, err)
	}
	if rep, err := VerifyOffline(context.Background(), f.dir, testKeyring(t, 1), f.clock); err != nil || !rep.OK() {
		t.Fatalf("VerifyOffline = %+v, %v", rep.Findings, err)
	}
	f.v.Close()
	v2, err := Open(Config{Dir: f.dir, Keyring: testKeyring(t, 1), Clock: f.clock, Grants: f.v.Grants(), Policy: testPolicy})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if got := mustList(t, v2, f.gatewayID); len(got) != 1 || got[0].Cases[0].IngestedVia != f.gatewayID.Name() {
		t.Fatalf("after a restart the relay lists %+v", got)
	}
	if got := mustList(t, v2, f.peer); len(got) != 0 {
		t.Fatalf("after a restart the relayed party lists %+v", got)
	}
}

// objectFiles counts the object files in the store.
func objectFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for _, a := range []HashAlgorithm{SHA256, SHA512} {
		entries, err := os.ReadDir(filepath.Join(dir, "objects", string(a)))
		if err != nil {
			t.Fatal(err)
		}
		n += len(entries)
	}
	return n
}

func TestRelayRefusals(t *testing.T) {
	f := newRelayFixture(t, Limits{})
	base := f.metadata("REQUEST/VN/2031/0043")
	withPeer := func(change func(*Identity)) Metadata {
		m := base
		p := f.peer
		change(&p)
		m.OnBehalfOf = &p
		return m
	}
	// A client without the relay role may not speak for anyone.
	code, body := f.ingest(t, f.other, withPeer(func(*Identity) {}), []byte("a request"))
	if code != http.StatusForbidden || !strings.Contains(string(body), `"field": "onBehalfOf"`) || !strings.Contains(string(body), "relay role") {
		t.Fatalf("onBehalfOf from a client without the relay role: %d %s", code, body)
	}

	// Lookalike and malformed relayed identities: refused, naming the field,
	// never repeating the value.
	raw := func(onBehalfOf string) map[string]any {
		var m map[string]any
		b, _ := json.Marshal(base)
		json.Unmarshal(b, &m) //nolint:errcheck // marshalled just above
		m["onBehalfOf"] = json.RawMessage(onBehalfOf)
		return m
	}
	for name, tc := range map[string]struct {
		meta  any
		field string
		value string // must not come back
	}{
		"control character":     {withPeer(func(p *Identity) { p.Subject = "CN=gateway\x07.vn.example,O=MPS,C=VN" }), "onBehalfOf.subject", "\x07"},
		"bidi override":         {withPeer(func(p *Identity) { p.Subject = "CN=gateway.\u202env.example,C=VN" }), "onBehalfOf.subject", "\u202e"},
		"zero-width space":      {withPeer(func(p *Identity) { p.Subject = "CN=gate\u200bway,C=VN" }), "onBehalfOf.subject", "gate\u200bway"},
		"not NFC":               {withPeer(func(p *Identity) { p.Subject = "CN=Bo\u0301 Công an,C=VN" }), "onBehalfOf.subject", "Bo\u0301"},
		"leading space":         {withPeer(func(p *Identity) { p.Subject = " CN=gateway,C=VN" }), "onBehalfOf.subject", ""},
		"not a name":            {withPeer(func(p *Identity) { p.Subject = "system:vault" }), "onBehalfOf.subject", ""},
		"no subject":            {withPeer(func(p *Identity) { p.Subject = "" }), "onBehalfOf.subject", ""},
		"too long":              {withPeer(func(p *Identity) { p.Subject = "CN=" + strings.Repeat("g", MaxIdentityFieldLength) }), "onBehalfOf.subject", ""},
		"no fingerprint":        {withPeer(func(p *Identity) { p.Fingerprint = "" }), "onBehalfOf.fingerprint", ""},
		"uppercase fingerprint": {withPeer(func(p *Identity) { p.Fingerprint = strings.ToUpper(p.Fingerprint) }), "onBehalfOf.fingerprint", ""},
		"relative URI":          {withPeer(func(p *Identity) { p.URI = "CN=auditor,O=Agency A" }), "onBehalfOf.uri", ""},
		"system URI":            {withPeer(func(p *Identity) { p.URI = "system:vault" }), "onBehalfOf.uri", ""},
		"URI with a bidi char":  {withPeer(func(p *Identity) { p.URI = "spiffe://vn.example/\u2067gw" }), "onBehalfOf.uri", "\u2067"},
		"issuer not a name":     {withPeer(func(p *Identity) { p.Issuer = "VN national CA" }), "onBehalfOf.issuer", ""},
		"serial not hex":        {withPeer(func(p *Identity) { p.Serial = "12:ab" }), "onBehalfOf.serial", ""},
		"unknown key":           {raw(`{"subject":"CN=gw,C=VN","fingerprint":"sha256:` + strings.Repeat("ab", 32) + `","role":"admin"}`), "onBehalfOf.role", ""},
		"key in another case":   {raw(`{"Subject":"CN=gw,C=VN","fingerprint":"sha256:` + strings.Repeat("ab", 32) + `"}`), "onBehalfOf.Subject", ""},
		"key given twice":       {raw(`{"subject":"CN=gw,C=VN","subject":"CN=admin,C=VN","fingerprint":"sha256:` + strings.Repeat("ab", 32) + `"}`), "onBehalfOf.subject", ""},
		"null":                  {raw(`null`), "onBehalfOf", ""},
		"a string":              {raw(`"CN=gw,C=VN"`), "onBehalfOf", ""},
		"nested deeper":         {raw(`{"subject":{"CN":"gw"},"fingerprint":"sha256:` + strings.Repeat("ab", 32) + `"}`), "onBehalfOf.subject", ""},
		"exclusive not boolean": {func() map[string]any {
			m := raw(`{"subject":"CN=gw,C=VN","fingerprint":"sha256:` + strings.Repeat("ab", 32) + `"}`)
			m["exclusive"] = "yes"
			return m
		}(), "exclusive", ""},
	} {
		t.Run(name, func(t *testing.T) {
			code, body := f.ingest(t, f.gateway, tc.meta, []byte("a request"))
			if code != http.StatusBadRequest || !strings.Contains(string(body), `"field": "`+tc.field+`"`) {
				t.Fatalf("%d %s; want 400 naming %s", code, body, tc.field)
			}
			quoted, _ := json.Marshal(tc.value)
			if tc.value != "" && (strings.Contains(string(body), tc.value) || strings.Contains(string(body), strings.Trim(string(quoted), `"`))) {
				t.Fatalf("the refusal repeats the value: %s", body)
			}
		})
	}
	if n := f.v.Status().CustodyEntries; n != 0 {
		t.Fatalf("refused ingests left %d custody entries", n)
	}
	if n := objectFiles(t, f.dir); n != 0 {
		t.Fatalf("refused ingests left %d object files", n)
	}
}

func TestExclusiveCaseReference(t *testing.T) {
	f := newRelayFixture(t, Limits{MaxIngests: 16, MaxIngestsPerClient: 16})
	m := f.metadata("REQUEST/VN/2031/0044")
	m.OnBehalfOf, m.Exclusive = &f.peer, true

	// Two gateway replicas, and more, race to record different content
	// under one exclusive reference: exactly one wins, over real HTTPS.
	const racers = 8
	codes := make([]int, racers)
	bodies := make([][]byte, racers)
	var start, sending, wg sync.WaitGroup
	start.Add(1)
	sending.Add(racers)
	for i := range racers {
		wg.Go(func() {
			meta, _ := json.Marshal(m)
			var once sync.Once
			req := ingestRequest(t, f.ts.url("/v1/objects"), meta, io.MultiReader(
				readerFunc(func([]byte) (int, error) { once.Do(sending.Done); start.Wait(); return 0, io.EOF }),
				bytes.NewReader(randomBytes(uint64(1000+i), 300<<10))))
			resp, err := f.gateway.Do(req)
			if err != nil {
				t.Errorf("racer %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			codes[i] = resp.StatusCode
			bodies[i], _ = io.ReadAll(resp.Body)
		})
	}
	sending.Wait() // every racer is connected and sending its body
	start.Done()
	wg.Wait()
	var winner IngestResult
	wins := 0
	for i, code := range codes {
		if code == http.StatusCreated {
			wins++
			json.Unmarshal(bodies[i], &winner) //nolint:errcheck // checked through winner.Digest below
		}
	}
	if wins != 1 {
		t.Fatalf("%d ingests of different content under one exclusive reference succeeded (codes %v)", wins, codes)
	}
	for i, code := range codes {
		if code == http.StatusCreated {
			continue
		}
		var e apiError
		if code != http.StatusConflict || json.Unmarshal(bodies[i], &e) != nil || e.Field != "caseReference" || e.Digest != winner.Digest {
			t.Fatalf("racer %d: %d %s; want 409 naming caseReference and %s", i, code, bodies[i], winner.Digest)
		}
	}
	if n := objectFiles(t, f.dir); n != 1 {
		t.Fatalf("%d object files after the race; the losers' content must not be kept", n)
	}
	if got := f.list(t, f.gateway, "?case="+url.QueryEscape(m.CaseReference)); len(got) != 1 || got[0].Digest != winner.Digest {
		t.Fatalf("the case lists %+v", got)
	}

	// The winner's content again is the usual duplicate.
	winnerContent := func() []byte {
		for i := range racers {
			if c := randomBytes(uint64(1000+i), 300<<10); digestOfTest(c) == winner.Digest {
				return c
			}
		}
		t.Fatal("the winner's content is not among the racers'")
		return nil
	}()
	if res := f.mustIngest(t, f.gateway, m, winnerContent, http.StatusOK); !res.Duplicate || res.Digest != winner.Digest {
		t.Fatalf("the same content again: %+v", res)
	}
	f.proveEntry(t, f.gateway, winner)

	// Other content is refused before the body is read when its digest is
	// declared; and to a client that may not see the case, the refusal
	// names no object.
	other := []byte("another request under the same reference")
	code, body := f.ingest(t, f.gateway, m, other, ObjectDigestHeader, string(digestOfTest(other)))
	if code != http.StatusConflict || !strings.Contains(string(body), string(winner.Digest)) {
		t.Fatalf("declared other content: %d %s", code, body)
	}
	// A replica whose connection closes after each request (no keep-alive)
	// still reads the early 409, not a reset: the vault reads the rest of a
	// refused body of up to 256 KiB before it answers.
	certPEM, keyPEM, _ := f.ts.clientCA.issue(t, pkix.Name{CommonName: "gateway", Organization: []string{"Agency A"}}, false, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	oneShot := f.ts.clientWith(t, certPEM, keyPEM, true)
	meta, _ := json.Marshal(m)
	var refusals sync.WaitGroup
	for i := range 32 {
		refusals.Go(func() {
			big := randomBytes(uint64(5000+i), 200<<10)
			req, _ := http.NewRequest(http.MethodPost, f.ts.url("/v1/objects"), nil)
			var b bytes.Buffer
			mw := multipart.NewWriter(&b)
			part, _ := mw.CreateFormField("metadata")
			part.Write(meta) //nolint:errcheck // a bytes.Buffer
			part, _ = mw.CreateFormFile("object", "object")
			part.Write(big) //nolint:errcheck // a bytes.Buffer
			mw.Close()
			req.Body, req.ContentLength = io.NopCloser(&b), int64(b.Len())
			req.Header.Set("Content-Type", mw.FormDataContentType())
			req.Header.Set(ObjectDigestHeader, string(digestOfTest(big)))
			resp, err := oneShot.Do(req)
			if err != nil {
				t.Errorf("early refusal %d on a one-shot connection: %v", i, err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusConflict {
				t.Errorf("early refusal %d on a one-shot connection: %d", i, resp.StatusCode)
			}
		})
	}
	refusals.Wait()
	mine := m
	mine.OnBehalfOf = nil
	for name, tc := range map[string]struct {
		meta Metadata
	}{
		"exclusive, from another client":     {mine},
		"not exclusive, from another client": {func() Metadata { n := mine; n.Exclusive = false; return n }()},
	} {
		code, body := f.ingest(t, f.other, tc.meta, other)
		var e apiError
		if code != http.StatusConflict || json.Unmarshal(body, &e) != nil || e.Field != "caseReference" || e.Digest != "" || strings.Contains(string(body), "sha256:") {
			t.Errorf("%s: %d %s; want 409 naming caseReference and no object", name, code, body)
		}
	}
	if n := objectFiles(t, f.dir); n != 1 {
		t.Fatalf("%d object files; refused content was kept", n)
	}

	// A case with several objects cannot be claimed exclusively.
	shared := f.metadata("CASE/2031/0045")
	f.mustIngest(t, f.other, shared, []byte("first"), http.StatusCreated)
	f.mustIngest(t, f.other, shared, []byte("second"), http.StatusCreated)
	shared.Exclusive = true
	if code, body := f.ingest(t, f.other, shared, []byte("third")); code != http.StatusConflict {
		t.Fatalf("exclusive ingest into a case with objects: %d %s", code, body)
	}
	// The same reference names one object of each exclusive case until it
	// expires; then it is free again.
	f.clock.Advance(400 * 24 * time.Hour)
	expired, err := f.v.Expire(SystemIdentity)
	if err != nil || len(expired) != 3 {
		t.Fatalf("Expire = %v, %v", expired, err)
	}
	m.RetentionUntil, m.AuthorisationExpiry = f.clock.Now().Add(time.Hour), f.clock.Now().Add(time.Hour)
	if res := f.mustIngest(t, f.gateway, m, other, http.StatusCreated); res.Duplicate {
		t.Fatalf("after expiry: %+v", res)
	}
}

// readerFunc adapts a function to io.Reader.
type readerFunc func([]byte) (int, error)

func (r readerFunc) Read(p []byte) (int, error) { return r(p) }

func digestOfTest(b []byte) Digest {
	h := SHA256.new()
	h.Write(b)
	return newDigest(SHA256, h.Sum(nil))
}

func TestListingByCase(t *testing.T) {
	f := newRelayFixture(t, Limits{})
	alice, bob := f.ts.client(t, "alice"), f.ts.client(t, "bob")
	m := func(caseRef string) Metadata { return f.metadata(caseRef) }
	x := f.mustIngest(t, alice, m("CASE/1"), []byte("x"), http.StatusCreated)
	y := f.mustIngest(t, alice, m("CASE/2"), []byte("y"), http.StatusCreated)
	f.mustIngest(t, bob, m("CASE/3"), []byte("x"), http.StatusOK) // bob's case attached to alice's object
	z := f.mustIngest(t, bob, m("CASE/1"), []byte("z"), http.StatusCreated)
	digests := func(objects []ObjectInfo) []Digest {
		out := []Digest{}
		for _, o := range objects {
			out = append(out, o.Digest)
		}
		return out
	}
	q := func(ref string) string { return "?case=" + url.QueryEscape(ref) }
	for _, tc := range []struct {
		name   string
		client *http.Client
		query  string
		want   []Digest
	}{
		{"alice's case 1", alice, q("CASE/1"), []Digest{x.Digest}},
		// bob sees object x (through case 3) but not alice's case 1 on it:
		// listing case 1 must not tell him x carries it.
		{"bob's case 1", bob, q("CASE/1"), []Digest{z.Digest}},
		{"bob's case 3", bob, q("CASE/3"), []Digest{x.Digest}},
		{"bob asks for alice's case 2", bob, q("CASE/2"), []Digest{}},
		{"the auditor's case 1", f.auditor, q("CASE/1"), []Digest{x.Digest, z.Digest}},
		{"no such case", alice, q("CASE/9"), []Digest{}},
		{"alice, every case", alice, "", []Digest{x.Digest, y.Digest}},
	} {
		got := f.list(t, tc.client, tc.query)
		if fmt.Sprint(digests(got)) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v; want %v", tc.name, digests(got), tc.want)
		}
		for _, o := range got {
			for _, c := range o.Cases {
				if tc.client == bob && c.Metadata.CaseReference != "CASE/3" && c.Metadata.CaseReference != "CASE/1" {
					t.Errorf("%s: bob sees case %q", tc.name, c.Metadata.CaseReference)
				}
			}
		}
	}
	// The same visibility as the full listing: bob's view of x holds his case only.
	if got := f.list(t, bob, q("CASE/3")); len(got[0].Cases) != 1 || got[0].Cases[0].Metadata.CaseReference != "CASE/3" {
		t.Fatalf("bob's view of x: %+v", got[0].Cases)
	}
	for _, query := range []string{"?case=", "?case=..%2Fx", "?case=%2Fetc", "?case=CASE%2F%E2%80%AE1"} {
		code, body := do(t, alice, newRequest(t, "GET", f.ts.url("/v1/objects"+query), ""))
		if code != http.StatusBadRequest || !strings.Contains(string(body), `"field": "case"`) {
			t.Errorf("GET /v1/objects%s = %d %s; want 400 naming case", query, code, body)
		}
	}
}

// TestCaseIndexFollowsTheLog replays ingests, attached cases and expiries
// and compares the case index with the objects' cases after every step and
// after a restart.
func TestCaseIndexFollowsTheLog(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	v := openTestVault(t, dir, clock, testKeyring(t, 1))
	check := func(v *Vault, step string) {
		t.Helper()
		v.mu.Lock()
		defer v.mu.Unlock()
		want := map[string][]Digest{}
		for d, o := range v.state.live {
			for _, c := range o.cases {
				if !containsDigest(want[c.metadata.CaseReference], d) {
					want[c.metadata.CaseReference] = append(want[c.metadata.CaseReference], d)
				}
			}
		}
		if len(want) != len(v.state.byCase) {
			t.Fatalf("%s: the index has %d cases, the objects %d", step, len(v.state.byCase), len(want))
		}
		for ref, ds := range want {
			got := v.state.byCase[ref]
			if len(got) != len(ds) {
				t.Fatalf("%s: case %s indexes %v, the objects say %v", step, ref, got, ds)
			}
			for _, d := range ds {
				if !containsDigest(got, d) {
					t.Fatalf("%s: case %s indexes %v, the objects say %v", step, ref, got, ds)
				}
			}
		}
	}
	for i := range 40 {
		m := testMetadata(clock.Now())
		m.CaseReference = fmt.Sprintf("CASE/%d", i%7)
		m.RetentionUntil = clock.Now().Add(time.Duration(1+i%3) * time.Hour)
		ingest(t, v, m, []byte(fmt.Sprintf("object %d", i%11)))
		check(v, fmt.Sprintf("ingest %d", i))
		if i%5 == 4 {
			clock.Advance(90 * time.Minute)
			if _, err := v.Expire(testActor); err != nil {
				t.Fatal(err)
			}
			check(v, fmt.Sprintf("expiry after ingest %d", i))
		}
	}
	v.Close()
	check(openTestVault(t, dir, clock, testKeyring(t, 1)), "restart")
}

func containsDigest(ds []Digest, d Digest) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

func TestIngestResultCarriesItsEntryAndACheckpoint(t *testing.T) {
	clock := newFakeClock()
	v, err := Open(Config{Dir: t.TempDir(), Keyring: testKeyring(t, 1), Clock: clock, Grants: DefaultGrants(),
		Policy: Policy{MinRetention: time.Minute, LegalHoldDefault: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ts := startTestServer(t, v, serverOptions{})
	f := &relayFixture{v: v, ts: ts, clock: clock}
	alice, bob := ts.client(t, "alice"), ts.client(t, "bob")
	ma := f.metadata("CASE/ALICE/1")
	first := f.mustIngest(t, alice, ma, []byte("evidence"), http.StatusCreated)
	// With --legal-hold-default the hold entry follows the ingest entry;
	// the checkpoint is signed after both and covers the ingest entry.
	if cp, _ := OpenCheckpoint([]byte(first.Checkpoint), v.VerifierKey()); cp.Size != first.Sequence+1 {
		t.Fatalf("checkpoint of size %d after ingest entry %d and its default hold", cp.Size, first.Sequence)
	}
	if e := f.proveEntry(t, alice, first); e.Action != ActionIngest || e.Cert == nil || e.Via != nil {
		t.Fatalf("entry %+v", e)
	}
	// A duplicate's result carries its own entry; the holds of a case the
	// client may not see are counted, not named.
	mb := f.metadata("CASE/BOB/2")
	dup := f.mustIngest(t, bob, mb, []byte("evidence"), http.StatusOK)
	if e := f.proveEntry(t, bob, dup); !e.Duplicate || dup.Sequence == first.Sequence {
		t.Fatalf("duplicate entry %+v", e)
	}
	if strings.Join(dup.Holds, ",") != "CASE/BOB/2" || dup.OtherHolds != 1 {
		t.Fatalf("bob's result shows holds %v (+%d others); want his own and one other", dup.Holds, dup.OtherHolds)
	}
	// The result's entry is the exact log line.
	logBytes, _ := os.ReadFile(filepath.Join(v.cfg.Dir, custodyLogName))
	if !bytes.Contains(logBytes, append(append([]byte("\n"), dup.Entry...), '\n')) {
		t.Fatal("the result's entry is not a line of the custody log")
	}
}

// TestRelayedEntriesAreCheckedOnReplay: what the vault never writes about a
// relay is inconsistent with the log.
func TestRelayedEntriesAreCheckedOnReplay(t *testing.T) {
	peer := testIdentity("CN=peer,C=VN")
	relay := testIdentity("CN=gateway,O=Agency A")
	m := testMetadata(epoch)
	ingestEntry := Entry{Seq: 1, Time: epoch, Actor: peer.Name(), Cert: &peer, Via: &relay, Action: ActionIngest,
		Object: digestOfTest([]byte("x")), Reference: m.CaseReference, Metadata: &m, Size: 1, KeyVersion: 1}
	if err := newCustodyState().apply(ingestEntry); err != nil {
		t.Fatalf("a relayed ingest: %v", err)
	}
	withOnBehalfOf := m
	withOnBehalfOf.OnBehalfOf = &peer
	for name, change := range map[string]func(*Entry){
		"relayed hold":                  func(e *Entry) { e.Action, e.Metadata = ActionHold, nil },
		"relayed verify":                func(e *Entry) { e.Action, e.Metadata, e.Object = ActionVerify, nil, "" },
		"actor not the cert's name":     func(e *Entry) { e.Actor = relay.Name() },
		"no cert":                       func(e *Entry) { e.Cert = nil },
		"via without a fingerprint":     func(e *Entry) { e.Via = &Identity{Subject: "CN=gateway"} },
		"onBehalfOf kept in metadata":   func(e *Entry) { e.Metadata = &withOnBehalfOf },
		"onBehalfOf without via either": func(e *Entry) { e.Via, e.Metadata = nil, &withOnBehalfOf },
	} {
		e := ingestEntry
		change(&e)
		if err := newCustodyState().apply(e); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestExportOfRelayedContentByAnotherCase: a client that ingests content a
// relay recorded first exports it with the relayed entry redacted (the
// relay's case is not its to see) but still proven, and still naming the
// peer as actor and the relay as via.
func TestExportOfRelayedContentByAnotherCase(t *testing.T) {
	f := newRelayFixture(t, Limits{})
	m := f.metadata("REQUEST/VN/2031/0046")
	m.OnBehalfOf, m.Exclusive = &f.peer, true
	content := []byte("a request that is also evidence")
	relayed := f.mustIngest(t, f.gateway, m, content, http.StatusCreated)
	mine := f.metadata("CASE/2031/0046")
	f.mustIngest(t, f.other, mine, content, http.StatusOK)
	code, archive := do(t, f.other, newRequest(t, "GET", f.ts.url("/v1/objects/"+string(relayed.Digest)+"/export"), "", AuthorisationHeader, mine.AuthorisationReference))
	if code != http.StatusOK {
		t.Fatalf("export: %d %s", code, archive)
	}
	chk, err := VerifyExport(bytes.NewReader(archive), f.v.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if len(chk.Manifest.Redacted) != 1 || chk.Manifest.Redacted[0].Seq != relayed.Sequence {
		t.Fatalf("redacted %+v; want the relayed ingest entry %d", chk.Manifest.Redacted, relayed.Sequence)
	}
	e := chk.Entries[0]
	if e.Actor != f.peer.Name() || e.Via == nil || e.Via.Name() != f.gatewayID.Name() || e.Metadata.CaseReference != RedactedMarker {
		t.Fatalf("the relayed entry as exported to another case: %+v", e)
	}
	if bytes.Contains(archive, []byte(m.CaseReference)) {
		t.Fatal("the export names the relay's case")
	}
}
