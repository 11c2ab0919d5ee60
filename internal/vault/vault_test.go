package vault

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRoundTripSizes(t *testing.T) {
	const c = DefaultChunkSize
	clock := newFakeClock()
	for _, alg := range []HashAlgorithm{SHA256, SHA512} {
		v, err := Open(Config{Dir: t.TempDir(), Keyring: testKeyring(t, 1), Clock: clock, Hash: alg})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		for i, size := range []int{0, 1, c - 1, c, c + 1, 2 * c, 5<<20 + 7} {
			t.Run(fmt.Sprintf("%s/%d", alg, size), func(t *testing.T) {
				data := randomBytes(uint64(i), size)
				res := ingest(t, v, testMetadata(clock.Now()), data)
				var want string
				if alg == SHA512 {
					sum := sha512.Sum512(data)
					want = "sha512:" + hex.EncodeToString(sum[:])
				} else {
					sum := sha256.Sum256(data)
					want = "sha256:" + hex.EncodeToString(sum[:])
				}
				if string(res.Digest) != want || res.Size != int64(size) || res.Duplicate {
					t.Fatalf("Ingest = %+v, want digest %s size %d new", res, want, size)
				}
				got, err := readObject(t, v, res.Digest)
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("read back %d bytes that differ from the %d ingested", len(got), len(data))
				}
			})
		}
	}
}

// TestSealedFormatDetectsStructuralDamage cuts, extends and re-labels a
// sealed object and expects authentication failures, never plaintext.
func TestSealedFormatDetectsStructuralDamage(t *testing.T) {
	const chunk = 1024
	kr := testKeyring(t, 1, 2)
	data := randomBytes(7, 3*chunk) // exactly three full chunks: the hardest truncation case
	var sealed bytes.Buffer
	res, err := sealStream(context.Background(), bytes.NewReader(data), &sealed, kr, SHA256, chunk)
	if err != nil {
		t.Fatal(err)
	}
	full := sealed.Bytes()
	ctLen := chunk + gcmTagSize
	relabelled := bytes.Clone(full)
	relabelled[11] = 1 // key version 2 → 1
	tests := map[string][]byte{
		"last chunk dropped":       full[:sealHeaderSize+2*ctLen],
		"mid-chunk truncation":     full[:len(full)-100],
		"extra chunk appended":     append(bytes.Clone(full), full[sealHeaderSize:sealHeaderSize+ctLen]...),
		"chunks swapped":           append(append(bytes.Clone(full[:sealHeaderSize]), full[sealHeaderSize+ctLen:sealHeaderSize+2*ctLen]...), full[sealHeaderSize:sealHeaderSize+ctLen]...),
		"key version relabelled":   relabelled,
		"header only":              full[:sealHeaderSize],
		"header truncated":         full[:10],
		"empty file":               nil,
		"ciphertext byte flipped":  flipByte(full, sealHeaderSize+chunk/2),
		"tag byte of last flipped": flipByte(full, len(full)-1),
	}
	for name, damaged := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := openSealed(io.NopCloser(bytes.NewReader(damaged)), kr, res.digest, res.size)
			if err == nil {
				var got []byte
				got, err = io.ReadAll(r)
				if err == nil {
					t.Fatalf("damaged object read back cleanly (%d bytes)", len(got))
				}
				if len(got) >= len(data) {
					t.Fatalf("damaged object delivered all %d bytes before failing", len(got))
				}
			}
			if !errors.Is(err, ErrObjectCorrupt) {
				t.Fatalf("error %v does not wrap ErrObjectCorrupt", err)
			}
		})
	}
}

func flipByte(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

// TestReadHoldsBackUnverifiedTail puts validly sealed but different content
// under an object's address: every chunk authenticates, only the digest is
// wrong, and the reader must fail before releasing the final chunk.
func TestReadHoldsBackUnverifiedTail(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	v := openTestVault(t, dir, clock, testKeyring(t, 1))
	data := randomBytes(1, 3*DefaultChunkSize+10)
	res := ingest(t, v, testMetadata(clock.Now()), data)

	other := bytes.Clone(data)
	other[len(other)-1] ^= 0xff
	var sealed bytes.Buffer
	if _, err := sealStream(context.Background(), bytes.NewReader(other), &sealed, v.Keyring(), SHA256, DefaultChunkSize); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "objects", "sha256", res.Digest.Hex()), sealed.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readObject(t, v, res.Digest)
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("Read error = %v, want ErrDigestMismatch", err)
	}
	if len(got) != 3*DefaultChunkSize {
		t.Fatalf("reader released %d bytes; want only the %d verified-before-last bytes", len(got), 3*DefaultChunkSize)
	}
}

func TestKeyRotationKeepsOldObjectsReadable(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	keyDir := filepath.Join(t.TempDir(), "keyring")
	os.Mkdir(keyDir, 0o700)
	os.WriteFile(filepath.Join(keyDir, "1"), []byte(hex.EncodeToString(testKey(1))+"\n"), 0o600)
	os.Symlink("..data", filepath.Join(keyDir, "..data")) // as in a mounted Secret; ignored
	kr1, err := LoadKeyring(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	v := openTestVault(t, dir, clock, kr1)
	old := randomBytes(1, 1000)
	resOld := ingest(t, v, testMetadata(clock.Now()), old)

	os.WriteFile(filepath.Join(keyDir, "2"), testKey(2), 0o600) // raw bytes form
	kr2, err := LoadKeyring(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	if kr2.Active() != 2 {
		t.Fatalf("active key version = %d, want 2", kr2.Active())
	}
	if err := v.ReloadKeyring(kr2); err != nil {
		t.Fatal(err)
	}
	resNew := ingest(t, v, testMetadata(clock.Now()), randomBytes(2, 1000))
	if resOld.KeyVersion != 1 || resNew.KeyVersion != 2 {
		t.Fatalf("key versions = %d, %d; want 1, 2", resOld.KeyVersion, resNew.KeyVersion)
	}
	if got, err := readObject(t, v, resOld.Digest); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("old object after rotation: %v", err)
	}
	if st := v.Status(); st.KeyVersionsInUse[1] != 1 || st.KeyVersionsInUse[2] != 1 || st.ActiveKeyVersion != 2 {
		t.Fatalf("status key versions = %+v", st)
	}

	// Dropping a version still in use is refused, and the error names it.
	os.Remove(filepath.Join(keyDir, "1"))
	kr3, err := LoadKeyring(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.ReloadKeyring(kr3); err == nil || !strings.Contains(err.Error(), "[1]") {
		t.Fatalf("ReloadKeyring without version 1 = %v; want a refusal naming version 1", err)
	}
	// A vault opened with that keyring anyway fails clearly on the old object.
	v.Close()
	v2 := openTestVault(t, dir, clock, kr3)
	_, err = readObject(t, v2, resOld.Digest)
	if !errors.Is(err, ErrUnknownKeyVersion) || !strings.Contains(err.Error(), "version 1") {
		t.Fatalf("reading an object sealed under a missing key = %v; want ErrUnknownKeyVersion naming version 1", err)
	}
	rep, err := v2.Verify(context.Background(), testActor)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Object != resOld.Digest || !strings.Contains(rep.Findings[0].Problem, "key version not in keyring") {
		t.Fatalf("findings = %v; want one naming %s and the missing key version", rep.Findings, resOld.Digest)
	}
}

func TestKeyringFormatsAndErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keys")
	os.WriteFile(file, []byte("# rotated 2031-01\n1:"+hex.EncodeToString(testKey(1))+"\n3: "+
		"WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\n"), 0o600)
	kr, err := LoadKeyring(file)
	if err != nil {
		t.Fatal(err)
	}
	if kr.Active() != 3 || len(kr.Versions()) != 2 {
		t.Fatalf("keyring = %s", kr)
	}
	secret := "00112233445566778899aabbccddeeff0011223344556677" // 24 bytes: wrong size
	bad := map[string]string{
		"short key":       "1:" + secret,
		"version zero":    "0:" + hex.EncodeToString(testKey(1)),
		"no separator":    hex.EncodeToString(testKey(1)),
		"duplicate":       "1:" + hex.EncodeToString(testKey(1)) + "\n1:" + hex.EncodeToString(testKey(2)),
		"version not int": "v1:" + hex.EncodeToString(testKey(1)),
		"empty":           "# nothing\n",
	}
	for name, content := range bad {
		t.Run(name, func(t *testing.T) {
			os.WriteFile(file, []byte(content), 0o600)
			_, err := LoadKeyring(file)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), hex.EncodeToString(testKey(1))) {
				t.Fatalf("error reveals key material: %v", err)
			}
		})
	}
	if s := kr.String(); strings.Contains(s, hex.EncodeToString(testKey(1))) {
		t.Fatalf("String reveals key material: %s", s)
	}
}

func TestRetentionAndHolds(t *testing.T) {
	clock := newFakeClock()
	v := openTestVault(t, t.TempDir(), clock, testKeyring(t, 1))
	m := testMetadata(clock.Now())
	m.RetentionUntil = clock.Now().Add(48 * time.Hour)
	held := m
	held.Hold = true
	free := ingest(t, v, m, []byte("retained, then free"))
	onHold := ingest(t, v, held, []byte("held from ingest"))

	if err := v.ExpireObject(testActor, free.Digest); !errors.Is(err, ErrRetentionActive) {
		t.Fatalf("expire before retention = %v, want ErrRetentionActive", err)
	}
	clock.Advance(48*time.Hour - time.Second)
	if expired, err := v.Expire(SystemIdentity); err != nil || len(expired) != 0 {
		t.Fatalf("sweep one second before retention ends expired %v (err %v)", expired, err)
	}
	if _, err := v.Hold(testActor, free.Digest, "CASE/2031/0099", "UNCC art. 25 preservation order"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Hold(testActor, free.Digest, "CASE/2031/0099", "again"); !errors.Is(err, ErrHoldConflict) {
		t.Fatalf("second identical hold = %v, want ErrHoldConflict", err)
	}
	clock.Advance(time.Second) // retention ends now: never before, and not while held
	if err := v.ExpireObject(testActor, free.Digest); !errors.Is(err, ErrUnderHold) {
		t.Fatalf("expire under hold = %v, want ErrUnderHold", err)
	}
	if expired, _ := v.Expire(SystemIdentity); len(expired) != 0 {
		t.Fatalf("sweep expired held objects %v", expired)
	}
	if _, err := v.Release(testActor, free.Digest, "CASE/2031/0000", "wrong reference"); !errors.Is(err, ErrHoldConflict) {
		t.Fatalf("release of an unknown hold = %v, want ErrHoldConflict", err)
	}
	if _, err := v.Release(testActor, free.Digest, "CASE/2031/0099", "preservation order lifted"); err != nil {
		t.Fatal(err)
	}
	expired, err := v.Expire(SystemIdentity)
	if err != nil || len(expired) != 1 || expired[0] != free.Digest {
		t.Fatalf("sweep after release = %v, %v; want only %s", expired, err, free.Digest)
	}
	if _, err := v.Stat(free.Digest); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired object still listed: %v", err)
	}
	if _, err := v.Stat(onHold.Digest); err != nil {
		t.Fatalf("object held at ingest was expired: %v", err)
	}
	if _, err := v.Release(testActor, onHold.Digest, held.CaseReference, "case closed"); err != nil {
		t.Fatal(err)
	}
	if err := v.ExpireObject(testActor, onHold.Digest); err != nil {
		t.Fatal(err)
	}
	rep, err := v.Verify(context.Background(), testActor)
	if err != nil || !rep.OK() {
		t.Fatalf("verify after expiries: %v %v", err, rep.Findings)
	}
	if n := len(mustList(t, v, testActor)); n != 0 {
		t.Fatalf("%d objects left", n)
	}
}

func TestAuthorisationForReads(t *testing.T) {
	clock := newFakeClock()
	reader, err := ParsePrincipal(testActor.Subject)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Open(Config{Dir: t.TempDir(), Keyring: testKeyring(t, 1), Clock: clock, Grants: Grants{RoleIngest: {AnyClient}, RoleRead: {reader}}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	m := testMetadata(clock.Now())
	res := ingest(t, v, m, []byte("evidence"))
	ctx := context.Background()
	if _, err := v.Read(ctx, testIdentity("CN=someone else"), res.Digest, m.AuthorisationReference); !errors.Is(err, ErrNotAuthorised) {
		t.Fatalf("read by an unlisted actor = %v", err)
	}
	if _, err := v.Read(ctx, testActor, res.Digest, "WARRANT/8"); !errors.Is(err, ErrNotAuthorised) {
		t.Fatalf("read with the wrong authorisation = %v", err)
	}
	clock.Advance(31 * 24 * time.Hour)
	_, err = v.Read(ctx, testActor, res.Digest, m.AuthorisationReference)
	if !errors.Is(err, ErrNotAuthorised) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("read after the authorisation expired = %v", err)
	}
}

func TestDuplicateIngestIsIdempotent(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	v := openTestVault(t, dir, clock, testKeyring(t, 1))
	data := randomBytes(3, 70000)
	first := ingest(t, v, testMetadata(clock.Now()), data)
	m2 := testMetadata(clock.Now())
	m2.CaseReference = "MLA/2031/17"
	second := ingest(t, v, m2, data)
	if !second.Duplicate || second.Digest != first.Digest || second.Sequence <= first.Sequence {
		t.Fatalf("second ingest = %+v; want a duplicate of %s with its own custody entry", second, first.Digest)
	}
	files, _ := os.ReadDir(filepath.Join(dir, "objects", "sha256"))
	tmp, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(files) != 1 || len(tmp) != 0 {
		t.Fatalf("store holds %d objects and %d temp files; want 1 and 0", len(files), len(tmp))
	}
	if got := len(mustList(t, v, testActor)); got != 1 {
		t.Fatalf("List has %d objects", got)
	}
	rep, _ := v.Verify(context.Background(), testActor)
	if !rep.OK() {
		t.Fatal(rep.Findings)
	}
}

func TestBadMetadataIsRejected(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	v := openTestVault(t, dir, clock, testKeyring(t, 1))
	now := clock.Now()
	mutate := func(f func(*Metadata)) Metadata { m := testMetadata(now); f(&m); return m }
	tests := map[string]struct {
		m    Metadata
		want string
	}{
		"parent path":        {mutate(func(m *Metadata) { m.CaseReference = "CASE/../../etc" }), `".." part`},
		"dot segment":        {mutate(func(m *Metadata) { m.CaseReference = "./CASE" }), `"." part`},
		"absolute":           {mutate(func(m *Metadata) { m.CaseReference = "/etc/passwd" }), "absolute path"},
		"NUL":                {mutate(func(m *Metadata) { m.AuthorisationReference = "W\x00ARRANT" }), "control character U+0000"},
		"backslash":          {mutate(func(m *Metadata) { m.CaseReference = `..\windows` }), "backslash"},
		"empty reference":    {mutate(func(m *Metadata) { m.CaseReference = " " }), "caseReference is required"},
		"long reference":     {mutate(func(m *Metadata) { m.CaseReference = strings.Repeat("A", 300) }), "limit is 256"},
		"retention in past":  {mutate(func(m *Metadata) { m.RetentionUntil = now.Add(-time.Hour) }), "retentionUntil"},
		"no authorisation":   {mutate(func(m *Metadata) { m.AuthorisationExpiry = time.Time{} }), "authorisationExpiry is required"},
		"no legal basis":     {mutate(func(m *Metadata) { m.LegalBasis = "" }), "legalBasis is required"},
		"invalid UTF-8":      {mutate(func(m *Metadata) { m.LegalBasis = "art. \xff" }), "not valid UTF-8"},
		"newline in basis":   {mutate(func(m *Metadata) { m.LegalBasis = "art. 28\nforged line" }), "control character"},
		"oversized basis":    {mutate(func(m *Metadata) { m.LegalBasis = strings.Repeat("x", 2000) }), "limit is 1024"},
		"empty middle part":  {mutate(func(m *Metadata) { m.CaseReference = "CASE//1" }), "empty part"},
		"retention too late": {mutate(func(m *Metadata) { m.RetentionUntil = time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC) }), "beyond 9999"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := v.Ingest(context.Background(), testActor, tc.m, strings.NewReader("x"), NoExpectation)
			if !errors.Is(err, ErrInvalidMetadata) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v; want ErrInvalidMetadata mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := ParseMetadata(bytes.Repeat([]byte(" "), MaxMetadataBytes+1), now, testPolicy); err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
		t.Fatalf("oversized metadata: %v", err)
	}
	if _, err := ParseMetadata([]byte(`{"retentionUntill":"2040-01-01T00:00:00Z"}`), now, testPolicy); err == nil || !strings.Contains(err.Error(), "retentionUntill") {
		t.Fatalf("misspelt field: %v", err)
	}
	for _, d := range []string{"sha256:../../etc/passwd", "sha256:" + strings.Repeat("A", 64), "md5:00", "sha256:" + strings.Repeat("0", 63) + "\x00"} {
		if _, err := ParseDigest(d); err == nil {
			t.Errorf("ParseDigest(%q) accepted", d)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "objects", "sha256")); len(entries) != 0 || v.Status().CustodyEntries != 0 {
		t.Fatalf("rejected ingests left %d objects and %d custody entries", len(entries), v.Status().CustodyEntries)
	}
}

func TestExportCarriesCustodyRecord(t *testing.T) {
	clock := newFakeClock()
	v := openTestVault(t, t.TempDir(), clock, testKeyring(t, 1))
	m := testMetadata(clock.Now())
	data := randomBytes(4, 300000)
	res := ingest(t, v, m, data)
	ingest(t, v, m, []byte("another object, not in this export"))
	if _, err := v.Hold(testActor, res.Digest, "CASE/2031/0042", "UNCC art. 25"); err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if err := v.Export(context.Background(), testActor, res.Digest, m.AuthorisationReference, &archive); err != nil {
		t.Fatal(err)
	}
	exported := bytes.Clone(archive.Bytes())
	tr := tar.NewReader(&archive)
	members := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		members[h.Name], _ = io.ReadAll(tr)
	}
	if !bytes.Equal(members["object"], data) {
		t.Fatal("exported object differs")
	}
	var actions []string
	for _, line := range strings.Split(strings.TrimSpace(string(members["custody.jsonl"])), "\n") {
		e, err := DecodeEntry([]byte(line))
		if err != nil {
			t.Fatalf("exported custody entry does not verify: %v", err)
		}
		actions = append(actions, string(e.Action))
	}
	if got := strings.Join(actions, ","); got != "ingest,hold,export" {
		t.Fatalf("custody record actions = %s", got)
	}
	chk, err := VerifyExport(bytes.NewReader(exported), v.VerifierKey())
	if err != nil {
		t.Fatalf("VerifyExport of a fresh export: %v", err)
	}
	if chk.Manifest.Object.Digest != res.Digest || len(chk.Entries) != 3 || chk.Checkpoint.Size < chk.Manifest.ExportSequence {
		t.Fatalf("export check = %+v", chk)
	}
}

func TestOneProcessPerDataDirectory(t *testing.T) {
	dir := t.TempDir()
	openTestVault(t, dir, newFakeClock(), testKeyring(t, 1))
	if _, err := Open(Config{Dir: dir, Keyring: testKeyring(t, 1)}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open = %v; want in-use error", err)
	}
}
