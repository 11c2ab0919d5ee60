package vault

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// sharedContent is content alice ingests first and bob ingests again under
// his own case, so that bob's case is attached to alice's object.
type sharedContent struct {
	v          *Vault
	alice, bob Identity
	metaA      Metadata // alice's case
	metaB      Metadata // bob's case
	d          Digest
}

// aliceSecrets are the strings of alice's case that bob may not learn.
func (s sharedContent) aliceSecrets() []string {
	return []string{s.metaA.AuthorisationReference, s.metaA.CaseReference, s.metaA.LegalBasis, "HOLD/ALICE/9", "alice's hold basis",
		s.metaA.AuthorisationExpiry.UTC().Format(time.RFC3339Nano)}
}

func newSharedContent(t *testing.T) sharedContent {
	t.Helper()
	clock := newFakeClock()
	// Default grants: nobody holds the list role.
	v, err := Open(Config{Dir: t.TempDir(), Keyring: testKeyring(t, 1), Clock: clock, Grants: DefaultGrants(), Policy: testPolicy})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	s := sharedContent{v: v, alice: testIdentity("CN=alice,O=Agency A"), bob: testIdentity("CN=bob,O=Agency B")}
	s.metaA = testMetadata(clock.Now())
	s.metaA.CaseReference, s.metaA.AuthorisationReference = "CASE/ALICE/0001", "WARRANT/ALICE/77"
	s.metaA.LegalBasis = "alice's legal basis, art. 1"
	s.metaA.AuthorisationExpiry = clock.Now().Add(29*24*time.Hour + 7*time.Second)
	s.metaB = testMetadata(clock.Now())
	s.metaB.CaseReference, s.metaB.AuthorisationReference = "CASE/BOB/0002", "WARRANT/BOB/5"
	data := randomBytes(77, 5000)
	res, err := v.Ingest(context.Background(), s.alice, s.metaA, bytes.NewReader(data), NoExpectation)
	if err != nil {
		t.Fatal(err)
	}
	s.d = res.Digest
	readAs := func(id Identity, ref string) {
		t.Helper()
		r, err := v.Read(context.Background(), id, s.d, ref)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r) //nolint:errcheck // only the custody entry matters
		r.Close()
	}
	readAs(s.alice, s.metaA.AuthorisationReference)
	if _, err := v.Hold(s.alice, s.d, "HOLD/ALICE/9", "alice's hold basis"); err != nil {
		t.Fatal(err)
	}
	if res, err := v.Ingest(context.Background(), s.bob, s.metaB, bytes.NewReader(data), NoExpectation); err != nil || !res.Duplicate {
		t.Fatalf("bob's ingest of the same content: %+v %v", res, err)
	}
	readAs(s.alice, s.metaA.AuthorisationReference)
	readAs(s.bob, s.metaB.AuthorisationReference)
	return s
}

func (s sharedContent) export(t *testing.T, id Identity, ref string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := s.v.Export(context.Background(), id, s.d, ref, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type archiveMember struct {
	name string
	body []byte
}

func readArchive(t *testing.T, archive []byte) []archiveMember {
	t.Helper()
	var out []archiveMember
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, archiveMember{h.Name, b})
	}
}

func member(t *testing.T, members []archiveMember, name string) []byte {
	t.Helper()
	i := slices.IndexFunc(members, func(m archiveMember) bool { return m.name == name })
	if i < 0 {
		t.Fatalf("no member %s", name)
	}
	return members[i].body
}

// resign rebuilds an archive as the vault would have signed it after edit
// changed its manifest, proofs or custody entries: every member hash is
// recomputed and the manifest signed with the vault's own key, so only the
// checks beyond the signature can catch the change.
func resign(t *testing.T, v *Vault, archive []byte, edit func(m *ExportManifest, proofs []InclusionProof, lines [][]byte)) []byte {
	t.Helper()
	members := readArchive(t, archive)
	var m ExportManifest
	n, err := openNote(member(t, members, "manifest.note"), v.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(n.Text), &m); err != nil {
		t.Fatal(err)
	}
	var proofs []InclusionProof
	if err := json.Unmarshal(member(t, members, "proofs.json"), &proofs); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(member(t, members, "custody.jsonl"), []byte("\n")), []byte("\n"))
	edit(&m, proofs, lines)
	proofsJSON, _ := json.Marshal(proofs)
	custody := append(bytes.Join(lines, []byte("\n")), '\n')
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for i := range members {
		switch members[i].name {
		case "proofs.json":
			members[i].body = proofsJSON
		case "custody.jsonl":
			members[i].body = custody
		}
		if _, ok := m.Members[members[i].name]; ok {
			sum := sha256.Sum256(members[i].body)
			m.Members[members[i].name] = hex.EncodeToString(sum[:])
		}
	}
	manifestJSON, _ := json.Marshal(m)
	signed, err := v.signer.sign(string(manifestJSON) + "\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range members {
		body := mb.body
		if mb.name == "manifest.note" {
			body = signed
		}
		if err := tw.WriteHeader(&tar.Header{Name: mb.name, Mode: 0o400, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		tw.Write(body) //nolint:errcheck // a bytes.Buffer
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestExportRedactsOtherClientsReferences(t *testing.T) {
	s := newSharedContent(t)
	archive := s.export(t, s.bob, s.metaB.AuthorisationReference)
	for _, secret := range s.aliceSecrets() {
		if bytes.Contains(archive, []byte(secret)) {
			t.Errorf("bob's export contains alice's %q", secret)
		}
	}
	chk, err := VerifyExport(bytes.NewReader(archive), s.v.VerifierKey())
	if err != nil {
		t.Fatalf("bob's redacted export does not verify offline: %v", err)
	}
	if chk.Manifest.Format != ExportFormat {
		t.Fatalf("format %s", chk.Manifest.Format)
	}
	// Entries: 1 alice ingest, 2 alice read, 3 alice hold, 4 bob ingest,
	// 5 alice read, 6 bob read, 7 bob export.
	var redacted []uint64
	for _, r := range chk.Manifest.Redacted {
		redacted = append(redacted, r.Seq)
	}
	if !slices.Equal(redacted, []uint64{1, 2, 3, 5}) || !slices.Equal(chk.Manifest.Entries, []uint64{1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("redacted %v of entries %v; want alice's 1, 2, 3, 5 of 1–7", redacted, chk.Manifest.Entries)
	}
	if f := chk.Manifest.Redacted[0].Fields; !slices.Contains(f, "metadata.authorisationReference") || !slices.Contains(f, "metadata.caseReference") {
		t.Fatalf("alice's ingest entry withholds %v", f)
	}
	for _, e := range chk.Entries {
		if e.Actor == s.bob.Name() && e.Reference != s.metaB.AuthorisationReference && e.Reference != s.metaB.CaseReference {
			t.Errorf("bob's own entry %d lost its reference: %q", e.Seq, e.Reference)
		}
		if e.Actor == s.alice.Name() && e.Reference != RedactedMarker {
			t.Errorf("alice's entry %d shows reference %q", e.Seq, e.Reference)
		}
	}
	if got := chk.Manifest.Object.Holds; !slices.Equal(got, []string{RedactedMarker}) {
		t.Errorf("manifest holds %v; alice's hold reference must be withheld", got)
	}

	// Alice's own export of the same content is verbatim but for bob's
	// authorisation reference and case.
	own := s.export(t, s.alice, s.metaA.AuthorisationReference)
	chk, err = VerifyExport(bytes.NewReader(own), s.v.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(own, []byte(s.metaB.AuthorisationReference)) || bytes.Contains(own, []byte(s.metaB.CaseReference)) ||
		!bytes.Contains(own, []byte(s.metaA.AuthorisationReference)) {
		t.Fatal("alice's export shows bob's references or hides her own")
	}

	// A holder of the list role sees the other cases, never their
	// authorisation references.
	s.v.grants[RoleList] = []Principal{AnyClient}
	listed := s.export(t, s.bob, s.metaB.AuthorisationReference)
	if _, err := VerifyExport(bytes.NewReader(listed), s.v.VerifierKey()); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(listed, []byte(s.metaA.AuthorisationReference)) || !bytes.Contains(listed, []byte(s.metaA.CaseReference)) {
		t.Fatal("a lister's export must show alice's case but not her authorisation reference")
	}
}

func TestRedactedExportIsTamperEvident(t *testing.T) {
	s := newSharedContent(t)
	good := s.export(t, s.bob, s.metaB.AuthorisationReference)
	vkey := s.v.VerifierKey()
	if _, err := VerifyExport(bytes.NewReader(good), vkey); err != nil {
		t.Fatal(err)
	}
	otherLeaf := leafHash([]byte("some other entry"))
	for name, tc := range map[string]struct {
		archive []byte
		want    string
	}{
		// Without the vault's key: any change breaks a signed hash.
		"redacted copy altered": {bytes.Replace(bytes.Clone(good), []byte(`"reference":"[redacted]"`), []byte(`"reference":"CASE/X/001"`), 1), "altered"},
		"leaf hash altered in proofs.json": {func() []byte {
			b64 := func(b []byte) string { j, _ := json.Marshal(b); return string(j) }
			proofs := member(t, readArchive(t, good), "proofs.json")
			var ps []InclusionProof
			json.Unmarshal(proofs, &ps) //nolint:errcheck // read back what Export wrote
			// The last occurrence: the manifest, which comes first, holds it too.
			b := bytes.Clone(good)
			i := bytes.LastIndex(b, []byte(b64(ps[0].LeafHash)))
			copy(b[i:], b64(otherLeaf))
			return b
		}(), "does not match its hash"},
		// Signed again with the vault's key (as a vault bug or an insider
		// could): the inclusion proof and the manifest's account still catch it.
		"leaf hash swapped, re-signed": {resign(t, s.v, good, func(m *ExportManifest, proofs []InclusionProof, _ [][]byte) {
			m.Redacted[0].LeafHash, proofs[0].LeafHash = otherLeaf, otherLeaf
		}), "is not in the log"},
		"leaf hash of another entry, re-signed": {resign(t, s.v, good, func(m *ExportManifest, proofs []InclusionProof, _ [][]byte) {
			m.Redacted[0].LeafHash, proofs[0].LeafHash = m.Redacted[1].LeafHash, m.Redacted[1].LeafHash
		}), "is not in the log"},
		"proofs.json leaf hash differs from the manifest's, re-signed": {resign(t, s.v, good, func(_ *ExportManifest, proofs []InclusionProof, _ [][]byte) {
			proofs[1].LeafHash = otherLeaf
		}), "other than the signed manifest's"},
		"copy altered, re-signed without updating its hash": {resign(t, s.v, good, func(_ *ExportManifest, _ []InclusionProof, lines [][]byte) {
			lines[0] = bytes.Replace(lines[0], []byte(`"action":"ingest"`), []byte(`"action":"hold"`), 1)
		}), "does not match its hash in the signed manifest"},
		"manifest claims a field was withheld that was not, re-signed": {resign(t, s.v, good, func(m *ExportManifest, _ []InclusionProof, _ [][]byte) {
			m.Redacted[1].Fields = append(m.Redacted[1].Fields, "metadata.caseReference")
		}), "has no metadata"},
		"redacted entry passed off as verbatim, re-signed": {resign(t, s.v, good, func(m *ExportManifest, proofs []InclusionProof, _ [][]byte) {
			m.Redacted = m.Redacted[1:]
			proofs[0].LeafHash = nil
		}), "custody.jsonl line 1"},
		"verbatim entry given a leaf hash, re-signed": {resign(t, s.v, good, func(_ *ExportManifest, proofs []InclusionProof, _ [][]byte) {
			proofs[3].LeafHash = otherLeaf
		}), "does not list it as redacted"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := VerifyExport(bytes.NewReader(tc.archive), vkey)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("VerifyExport = %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

// testdata/export-v2.tar was written by the vault before format v3 (its
// key pair made for it, the private key discarded); archives like it exist
// and must keep verifying.
func TestExportFormatV2StillVerifies(t *testing.T) {
	archive, err := os.ReadFile("testdata/export-v2.tar")
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := os.ReadFile("testdata/export-v2.vkey")
	if err != nil {
		t.Fatal(err)
	}
	chk, err := VerifyExport(bytes.NewReader(archive), string(vkey))
	if err != nil {
		t.Fatalf("v2 archive: %v", err)
	}
	if chk.Manifest.Format != ExportFormatV2 || len(chk.Manifest.Redacted) != 0 || len(chk.Entries) != 3 {
		t.Fatalf("v2 archive check = %+v", chk.Manifest)
	}
	if _, err := VerifyExport(bytes.NewReader(flipByte(archive, bytes.Index(archive, []byte(`"action":"read"`))+11)), string(vkey)); err == nil {
		t.Fatal("an altered v2 archive verified")
	}
}
