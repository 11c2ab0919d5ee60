package vault

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHTTPInclusionProof asks GET /v1/proof/inclusion for proofs and checks
// them with VerifyInclusion against checkpoints signed by the vault.
func TestHTTPInclusionProof(t *testing.T) {
	clock := newFakeClock()
	admins, err := ParsePrincipals("--lister", []string{"CN=admin,O=Agency A"})
	if err != nil {
		t.Fatal(err)
	}
	g := DefaultGrants()
	g[RoleList] = admins
	dir := t.TempDir()
	v, err := Open(Config{Dir: dir, Keyring: testKeyring(t, 1), Clock: clock, Grants: g, Policy: testPolicy})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ts := startTestServer(t, v, serverOptions{})
	alice, bob, admin := ts.client(t, "alice"), ts.client(t, "bob"), ts.client(t, "admin")
	ingestAs := func(c *http.Client, m Metadata, content string) {
		t.Helper()
		meta, _ := json.Marshal(m)
		if code, body := do(t, c, ingestRequest(t, ts.url("/v1/objects"), meta, strings.NewReader(content))); code != http.StatusCreated && code != http.StatusOK {
			t.Fatalf("ingest: %d %s", code, body)
		}
	}
	metaA := testMetadata(clock.Now())
	metaA.CaseReference, metaA.AuthorisationReference = "CASE/ALICE/0001", "WARRANT/ALICE/77"
	metaB := testMetadata(clock.Now())
	metaB.CaseReference, metaB.AuthorisationReference = "CASE/BOB/0002", "WARRANT/BOB/5"
	ingestAs(alice, metaA, "alice's evidence")       // entry 1
	ingestAs(alice, metaA, "alice's other evidence") // entry 2
	ingestAs(bob, metaB, "bob's evidence")           // entry 3
	ingestAs(bob, metaB, "alice's evidence")         // entry 4: bob's case attached to alice's object
	checkpoint := func() Checkpoint {
		t.Helper()
		code, body := do(t, alice, newRequest(t, "GET", ts.url("/v1/checkpoint"), ""))
		if code != http.StatusOK {
			t.Fatalf("checkpoint: %d %s", code, body)
		}
		cp, err := OpenCheckpoint(body, v.VerifierKey())
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	cp4 := checkpoint()
	ingestAs(alice, metaA, "alice's third") // entry 5
	cp5 := checkpoint()
	if cp4.Size != 4 || cp5.Size != 5 {
		t.Fatalf("checkpoint sizes %d, %d", cp4.Size, cp5.Size)
	}
	logBytes, err := os.ReadFile(filepath.Join(dir, custodyLogName))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(logBytes, []byte("\n")), []byte("\n"))
	proof := func(c *http.Client, query string) (int, [][]byte, []byte, http.Header) {
		t.Helper()
		resp, err := c.Do(newRequest(t, "GET", ts.url("/v1/proof/inclusion?"+query), ""))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body bytes.Buffer
		body.ReadFrom(resp.Body) //nolint:errcheck // checked through the status and content below
		var hashes [][]byte
		if resp.StatusCode == http.StatusOK {
			for _, l := range strings.Fields(body.String()) {
				h, err := base64.StdEncoding.DecodeString(l)
				if err != nil {
					t.Fatalf("proof line %q: %v", l, err)
				}
				hashes = append(hashes, h)
			}
		}
		return resp.StatusCode, hashes, body.Bytes(), resp.Header
	}

	for _, tc := range []struct {
		name   string
		client *http.Client
		seq    uint64
		cp     Checkpoint
		query  string
	}{
		{"alice, her ingest, current size", alice, 1, cp5, "seq=1"},
		{"alice, her ingest, older checkpoint", alice, 2, cp4, "seq=2&size=4"},
		{"alice, bob's ingest of her object", alice, 4, cp5, "seq=4&size=5"},
		{"bob, his own ingest", bob, 3, cp4, "seq=3&size=4"},
		{"bob, alice's ingest of content he ingested too", bob, 1, cp5, "seq=1"},
		{"admin (list), any entry", admin, 2, cp5, "seq=2"},
		{"last entry", alice, 5, cp5, "seq=5&size=5"},
	} {
		code, hashes, body, hdr := proof(tc.client, tc.query)
		if code != http.StatusOK {
			t.Errorf("%s: %d %s", tc.name, code, body)
			continue
		}
		if got := hdr.Get(TreeSizeHeader); got != fmt.Sprint(tc.cp.Size) {
			t.Errorf("%s: %s %q; want %d", tc.name, TreeSizeHeader, got, tc.cp.Size)
		}
		if err := VerifyInclusion(tc.cp, tc.seq, lines[tc.seq-1], hashes); err != nil {
			t.Errorf("%s: proof does not verify against the signed checkpoint: %v", tc.name, err)
		}
		if tc.seq != 1 && VerifyInclusion(tc.cp, tc.seq, lines[0], hashes) == nil {
			t.Errorf("%s: the proof also verifies another entry", tc.name)
		}
	}

	// Entries the client may not see are answered as absent entries are.
	for _, tc := range []struct {
		name   string
		client *http.Client
		query  string
	}{
		{"bob, alice's other object", bob, "seq=2"},
		{"bob, alice's third object", bob, "seq=5&size=5"},
		{"alice, bob's own object", alice, "seq=3"},
	} {
		code, _, body, _ := proof(tc.client, tc.query)
		if code != http.StatusNotFound {
			t.Errorf("%s: %d %s; want 404", tc.name, code, body)
		}
		for _, secret := range []string{metaA.AuthorisationReference, metaA.CaseReference, metaB.AuthorisationReference, metaB.CaseReference} {
			if bytes.Contains(body, []byte(secret)) {
				t.Errorf("%s: the refusal names %q", tc.name, secret)
			}
		}
	}

	// Bounds.
	for _, tc := range []struct{ query, field string }{
		{"seq=0", "seq"},
		{"seq=x", "seq"},
		{"", "seq"},
		{"seq=6", "seq"},
		{"seq=5&size=4", "seq"},
		{"seq=1&size=6", "size"},
		{"seq=1&size=0", "size"},
		{"seq=1&size=-1", "size"},
	} {
		code, _, body, _ := proof(admin, tc.query)
		if code != http.StatusBadRequest || !strings.Contains(string(body), fmt.Sprintf(`"field": %q`, tc.field)) {
			t.Errorf("?%s: %d %s; want 400 naming field %s", tc.query, code, body, tc.field)
		}
	}
}

// The entry an inclusion proof is asked for is found by its offset, also
// after a restart, and a log file changed under the running vault is
// reported rather than believed.
func TestInclusionProofReadsTheLoggedEntry(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	v := openTestVault(t, dir, clock, testKeyring(t, 1))
	for i := range 3 {
		ingest(t, v, testMetadata(clock.Now()), randomBytes(uint64(i), 100))
	}
	v.Close()
	v = openTestVault(t, dir, clock, testKeyring(t, 1))
	ingest(t, v, testMetadata(clock.Now()), []byte("after the restart")) // entry 4
	cp := mustCheckpoint(t, v)
	lines := logLines(t, dir)
	for seq := uint64(1); seq <= 4; seq++ {
		size, hashes, err := v.InclusionProof(testActor, seq, 0)
		if err != nil || size != 4 {
			t.Fatalf("entry %d: size %d, %v", seq, size, err)
		}
		if err := VerifyInclusion(cp.Checkpoint, seq, bytes.TrimSuffix(lines[seq-1], []byte("\n")), hashes); err != nil {
			t.Fatalf("entry %d: %v", seq, err)
		}
	}
	// Same length, another actor: the chain would have to be checked to
	// notice; the tree notices at once.
	b, err := os.ReadFile(filepath.Join(dir, custodyLogName))
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("investigator-1"), []byte("investigator-2"), 1)
	if err := os.WriteFile(filepath.Join(dir, custodyLogName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.InclusionProof(testActor, 1, 0); err == nil || !strings.Contains(err.Error(), "differs from the entry the vault wrote") {
		t.Fatalf("proof for an entry changed in the file = %v", err)
	}
}

// TestOpenCheckpointRemembersOnlyWhatVerified: OpenCheckpoint remembers the
// checkpoints it verified, so opening one again costs no signature check; a
// note changed by one byte, or opened with another key, is still refused,
// and what it returns is the caller's to change.
func TestOpenCheckpointRemembersOnlyWhatVerified(t *testing.T) {
	clock := newFakeClock()
	v := openTestVault(t, t.TempDir(), clock, testKeyring(t, 1))
	ingest(t, v, testMetadata(clock.Now()), []byte("evidence"))
	cp, err := v.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := GenerateSigningKey(v.signer.Name())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := OpenCheckpoint(cp.Note, v.VerifierKey())
		if err != nil || got.Size != cp.Size || !bytes.Equal(got.Root, cp.Root) {
			t.Fatalf("OpenCheckpoint = %+v, %v; want %+v", got, err, cp.Checkpoint)
		}
		clear(got.Root)
		if _, err := OpenCheckpoint(cp.Note, otherKey); err == nil {
			t.Fatal("a checkpoint opened with another key of the same name")
		}
		for i := range cp.Note {
			changed := bytes.Clone(cp.Note)
			changed[i] ^= 0x01
			if c, err := OpenCheckpoint(changed, v.VerifierKey()); err == nil && (c.Size != cp.Size || !bytes.Equal(c.Root, cp.Root)) {
				t.Fatalf("a checkpoint changed at byte %d opened as %+v", i, c)
			}
		}
	}
}
