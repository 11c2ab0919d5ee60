package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestReadsVersion1FixtureSealedByEarlierCode reads an object file sealed by
// the code as it was before the default chunk size changed from 256 KiB to
// 1 MiB and before object files were written with direct I/O (key version 1
// = testKey(1), chunk size 4096, the plaintext randomBytes(2031, 10000)).
// It pins the on-disk format: a change to the header, nonce or additional
// data layout makes it fail.
func TestReadsVersion1FixtureSealedByEarlierCode(t *testing.T) {
	const want = Digest("sha256:6bdd09628b902d93d45ac29a8bc7f132c0c5d9a1402d0905bfcfa223e9c6b29a")
	f, err := os.Open(filepath.Join("testdata", "v1-chunk4096.sealed"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := openSealed(f, testKeyring(t, 1), want, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading the fixture: %v", err)
	}
	if r.hdr.chunkSize() != 4096 || r.KeyVersion() != 1 {
		t.Fatalf("fixture header: chunk size %d, key version %d", r.hdr.chunkSize(), r.KeyVersion())
	}
	if !bytes.Equal(got, randomBytes(2031, 10000)) {
		t.Fatal("fixture plaintext differs")
	}
}

// TestObjectsOfEveryChunkSizeStayReadable ingests objects under several
// chunk sizes, among them the earlier default of 256 KiB, and reads them all
// back through a vault reopened with the current default.
func TestObjectsOfEveryChunkSizeStayReadable(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	type object struct {
		d    Digest
		data []byte
	}
	var objects []object
	for i, chunk := range []int{256 << 10, 1, 4096 + 3, DefaultChunkSize, maxChunkSize} {
		v, err := Open(Config{Dir: dir, Keyring: testKeyring(t, 1), Clock: clock, ChunkSize: chunk})
		if err != nil {
			t.Fatal(err)
		}
		data := randomBytes(uint64(100+i), min(3*chunk+17, 5<<20+1))
		objects = append(objects, object{ingest(t, v, testMetadata(clock.Now()), data).Digest, data})
		v.Close()
	}
	v := openTestVault(t, dir, clock, testKeyring(t, 1))
	for _, o := range objects {
		got, err := readObject(t, v, o.d)
		if err != nil || !bytes.Equal(got, o.data) {
			t.Fatalf("reading %s back (%d bytes): %v", o.d, len(o.data), err)
		}
	}
	rep, err := v.Verify(context.Background(), testActor)
	if err != nil || !rep.OK() {
		t.Fatalf("Verify = %+v, %v", rep.Findings, err)
	}
}

// TestObjectFileWriters writes streams through the direct-I/O and the
// buffered store, in pieces of awkward sizes both copied (Write) and sealed
// in place (lend/keep), and checks the committed file holds exactly them.
func TestObjectFileWriters(t *testing.T) {
	seg := directSegmentSize
	sizes := []int{0, 1, directAlign - 1, directAlign, directAlign + 1, seg - 1, seg, seg + 1, 3*seg + 12345}
	for _, buffered := range []bool{false, true} {
		s, err := NewFSStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		s.buffered = buffered
		for i, size := range sizes {
			t.Run(fmt.Sprintf("buffered=%v/%d", buffered, size), func(t *testing.T) {
				want := randomBytes(uint64(i), size)
				p, err := s.Create()
				if err != nil {
					t.Fatal(err)
				}
				fp := p.(*fsPending)
				if !buffered && fp.direct == nil {
					t.Log("direct I/O is not available here; testing the fallback")
				}
				pieces := []int{36, 1, directAlign, seg - directAlign, seg - directAlign + 1, 1<<20 + 16, 7, seg + 5}
				for off, k := 0, 0; off < size; k++ {
					n := min(pieces[k%len(pieces)], size-off)
					piece := want[off : off+n]
					if k%2 == 1 {
						room, err := fp.lend(n)
						if err != nil {
							t.Fatal(err)
						}
						if room != nil {
							if len(room) != 0 || cap(room) != n {
								t.Fatalf("lend(%d) = len %d cap %d", n, len(room), cap(room))
							}
							if err := fp.keep(len(append(room, piece...))); err != nil {
								t.Fatal(err)
							}
							off += n
							continue
						}
					}
					if m, err := p.Write(piece); err != nil || m != n {
						t.Fatalf("Write(%d) = %d, %v", n, m, err)
					}
					off += n
				}
				sum := sha256.Sum256(want)
				d := Digest("sha256:" + hex.EncodeToString(sum[:]))
				if err := p.Commit(d); err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(s.path(d))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("file holds %d bytes that differ from the %d written", len(got), len(want))
				}
				if err := s.Remove(d); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestAbortDiscardsDirectWrite aborts a half-written object and expects the
// temporary file gone and the writer's goroutines finished.
func TestAbortDiscardsDirectWrite(t *testing.T) {
	s, err := NewFSStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(randomBytes(1, 2*directSegmentSize+100)); err != nil {
		t.Fatal(err)
	}
	if err := p.Abort(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(s.tmpDir()); len(left) != 0 {
		t.Fatalf("%d temporary files left after Abort", len(left))
	}
}

// TestDirectWriteFallsBackToBuffered makes a direct write the file system
// must refuse (unaligned) and expects the writer to switch the file to
// buffered I/O and carry on without losing data.
func TestDirectWriteFallsBackToBuffered(t *testing.T) {
	s, err := NewFSStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	fp := p.(*fsPending)
	if fp.direct == nil {
		t.Skip("direct I/O is not available here")
	}
	want := randomBytes(5, directSegmentSize+300)
	// An unaligned length at offset 0: what a file system with coarser
	// alignment rules than directAlign would refuse.
	if err := fp.direct.writeAt(want[:100], 0); err != nil {
		t.Fatalf("unaligned direct write did not fall back: %v", err)
	}
	if !fp.direct.buffered {
		t.Fatal("writer did not switch to buffered I/O")
	}
	if _, err := p.Write(want); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(want)
	d := Digest("sha256:" + hex.EncodeToString(sum[:]))
	if err := p.Commit(d); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(s.path(d)); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("file after fallback: %d bytes, %v", len(got), err)
	}
}

// copyFixtureDataDir copies the data directory testdata/<name> into a fresh
// directory (git keeps no empty directories: the store's are made here).
func copyFixtureDataDir(t *testing.T, name string) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join("testdata", name)
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []HashAlgorithm{SHA256, SHA512} {
		if err := os.MkdirAll(filepath.Join(dst, "objects", string(a)), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// testdata/prerelay is a data directory written by the vault before custody
// entries could carry "via" and metadata "onBehalfOf" and "exclusive"
// (keyring testKey(1), chunk size 4096, --legal-hold-default; ingests with
// and without a URI SAN, a duplicate attached under another case, a read,
// holds, a release, an export and a verification), with a checkpoint of
// its whole log (prerelay.checkpoint, verifier key prerelay.vkey; the
// signing key was discarded). Logs like it exist and must keep verifying:
// fields added since must be left out of the encoding when empty, or every
// old entry's hash would change.
func TestDataDirectoryFromBeforeRelayStillVerifies(t *testing.T) {
	dir := copyFixtureDataDir(t, "prerelay")
	rep, err := VerifyOffline(context.Background(), dir, testKeyring(t, 1), newFakeClock())
	if err != nil || !rep.OK() || rep.Entries != 9 || rep.Objects != 2 {
		t.Fatalf("VerifyOffline = %+v, %v; want 9 entries, 2 objects, no findings", rep, err)
	}
	cp, _ := os.ReadFile(filepath.Join("testdata", "prerelay.checkpoint"))
	vkey, _ := os.ReadFile(filepath.Join("testdata", "prerelay.vkey"))
	chk, err := VerifyCheckpointOffline(dir, cp, string(bytes.TrimSpace(vkey)))
	if err != nil || len(chk.Findings) != 0 || chk.Checkpoint.Size != 9 {
		t.Fatalf("checkpoint check = %+v, %v", chk, err)
	}
	clock := newFakeClock()
	v := openTestVault(t, dir, clock, testKeyring(t, 1))
	if v.Fault() != nil || !v.Recovery().empty() {
		t.Fatalf("opening the old data directory: fault %v, recovery %+v", v.Fault(), v.Recovery())
	}
	// Serving goes on from it: a new entry chains onto the old ones, and
	// the old checkpoint is a prefix of the new log.
	res := ingest(t, v, testMetadata(clock.Now()), []byte("after the upgrade"))
	if res.Sequence != 10 {
		t.Fatalf("the first new entry is %d, want 10", res.Sequence)
	}
	old, err := OpenCheckpoint(cp, string(bytes.TrimSpace(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	now, err := v.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	proof, err := v.ConsistencyProof(old.Size, now.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyConsistency(old, now.Checkpoint, proof); err != nil {
		t.Fatalf("the old checkpoint is not a prefix of the log after the upgrade: %v", err)
	}
	if rep, err := v.Verify(context.Background(), testActor); err != nil || !rep.OK() {
		t.Fatalf("Verify = %+v, %v", rep.Findings, err)
	}
}
