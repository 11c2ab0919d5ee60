package vault

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildStore leaves a closed vault with a little history: three ingests, a
// hold, a read and a release (entries 1–6).
func buildStore(t *testing.T) (dir string, objects []Digest) {
	t.Helper()
	clock := newFakeClock()
	dir = t.TempDir()
	v := openTestVault(t, dir, clock, testKeyring(t, 1))
	for i := range 3 {
		objects = append(objects, ingest(t, v, testMetadata(clock.Now()), randomBytes(uint64(10+i), 2*DefaultChunkSize+i)).Digest)
	}
	if _, err := v.Hold(testActor, objects[0], "CASE/2031/0001", "UNCC art. 25"); err != nil {
		t.Fatal(err)
	}
	if _, err := readObject(t, v, objects[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Release(testActor, objects[0], "CASE/2031/0001", "lifted"); err != nil {
		t.Fatal(err)
	}
	v.Close()
	return dir, objects
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func logLines(t *testing.T, dir string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, custodyLogName))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(b, []byte("\n"))
}

func writeLog(t *testing.T, dir string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, custodyLogName), bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

func objectPath(dir string, d Digest) string {
	return filepath.Join(dir, "objects", string(d.Algorithm()), d.Hex())
}

func TestVerifyDetectsTampering(t *testing.T) {
	base, objects := buildStore(t)
	kr := testKeyring(t, 1)
	if rep, err := VerifyOffline(context.Background(), base, kr, newFakeClock()); err != nil || !rep.OK() || rep.Entries != 6 || rep.Objects != 3 {
		t.Fatalf("pristine store: %+v %v", rep, err)
	}
	type want struct {
		seq     uint64
		object  Digest
		problem string
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   want
		// openFails: the vault must refuse to start on this damage.
		openFails bool
		// also lists further findings the damage must produce, in order.
		also []string
	}{
		{"object byte flipped", func(t *testing.T, dir string) {
			p := objectPath(dir, objects[1])
			b, _ := os.ReadFile(p)
			os.WriteFile(p, flipByte(b, sealHeaderSize+DefaultChunkSize+gcmTagSize+100), 0o600)
		}, want{2, objects[1], "chunk 1 failed authentication"}, false, nil},
		{"object truncated", func(t *testing.T, dir string) {
			p := objectPath(dir, objects[2])
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-DefaultChunkSize/2], 0o600)
		}, want{3, objects[2], "failed authentication"}, false, nil},
		{"object deleted", func(t *testing.T, dir string) {
			os.Remove(objectPath(dir, objects[0]))
		}, want{1, objects[0], "object file is missing"}, false, nil},
		{"log entry byte flipped", func(t *testing.T, dir string) {
			lines := logLines(t, dir)
			lines[4] = bytes.Replace(lines[4], []byte("investigator-1"), []byte("investigator-2"), 1) // entry 5: the read
			writeLog(t, dir, lines)
		}, want{5, objects[1], "hash does not match its content"}, true, nil},
		{"log entry deleted", func(t *testing.T, dir string) {
			lines := logLines(t, dir)
			writeLog(t, dir, append(lines[:2:2], lines[3:]...)) // entry 3: third ingest
		}, want{4, "", "sequence jumps from 2 to 4 (entries 3–3 missing); previous hash does not match entry 2"}, true,
			[]string{"object file has no ingest entry"}},
		{"log entry reformatted", func(t *testing.T, dir string) {
			lines := logLines(t, dir)
			lines[1] = bytes.Replace(lines[1], []byte(`"seq":2,`), []byte(`"seq": 2,`), 1)
			writeLog(t, dir, lines)
		}, want{2, "", "not in the canonical form"}, true, nil},
		{"final ingest entry deleted", func(t *testing.T, dir string) {
			clock := newFakeClock()
			v := openTestVault(t, dir, clock, kr)
			d := ingest(t, v, testMetadata(clock.Now()), []byte("last one")).Digest
			v.Close()
			lines := logLines(t, dir)
			writeLog(t, dir, lines[:len(lines)-2])
			objects = append(objects, d)
		}, want{0, "", "object file has no ingest entry"}, false, []string{"entry 7 was acknowledged but the log ends at entry 6"}},
		{"final release entry deleted", func(t *testing.T, dir string) {
			lines := logLines(t, dir)
			writeLog(t, dir, lines[:len(lines)-2])
		}, want{0, "", "entry 6 was acknowledged but the log ends at entry 5"}, false, nil},
		{"torn final entry", func(t *testing.T, dir string) {
			lines := logLines(t, dir)
			writeLog(t, dir, append(lines, []byte(`{"seq":7,"time":"2031-03-01T09:00:0`)))
		}, want{0, "", "torn final entry of 35 bytes"}, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, base)
			tc.damage(t, dir)
			rep, err := VerifyOffline(context.Background(), dir, kr, newFakeClock())
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Findings) != 1+len(tc.also) {
				t.Fatalf("want exactly %d finding(s), got %d: %v", 1+len(tc.also), len(rep.Findings), rep.Findings)
			}
			for i, problem := range tc.also {
				if !strings.Contains(rep.Findings[1+i].Problem, problem) {
					t.Fatalf("finding %d = %s; want problem containing %q", 1+i, rep.Findings[1+i], problem)
				}
			}
			f := rep.Findings[0]
			if f.Seq != tc.want.seq || (tc.want.object != "" && f.Object != tc.want.object) || !strings.Contains(f.Problem, tc.want.problem) {
				t.Fatalf("finding = %s; want entry %d, object %q, problem containing %q", f, tc.want.seq, tc.want.object, tc.want.problem)
			}
			_, err = Open(Config{Dir: dir, Keyring: kr, Clock: newFakeClock()})
			if tc.openFails != (err != nil) {
				t.Fatalf("Open on damaged store: err = %v, want failure %v", err, tc.openFails)
			}
			if err != nil && !strings.Contains(err.Error(), "vault verify") {
				t.Fatalf("Open error does not point to verify: %v", err)
			}
		})
	}
}

func TestStartRecoversTornLog(t *testing.T) {
	dir, objects := buildStore(t)
	lines := logLines(t, dir)
	torn := []byte(`{"seq":7,"time":"2031-03-01T09:00:00Z","actor":"CN=x","act`)
	writeLog(t, dir, append(lines, torn))
	v := openTestVault(t, dir, newFakeClock(), testKeyring(t, 1))
	rec := v.Recovery()
	if rec.TornEntryBytes != len(torn) {
		t.Fatalf("recovery = %+v; want a torn entry of %d bytes reported", rec, len(torn))
	}
	lines = logLines(t, dir)
	last, err := DecodeEntry(bytes.TrimSuffix(lines[len(lines)-2], []byte("\n")))
	if err != nil || last.Action != ActionRecover || last.Seq != 7 || !strings.Contains(last.Detail, "torn final custody entry") {
		t.Fatalf("last entry = %+v (%v); want a recover entry 7 reporting the truncation", last, err)
	}
	rep, err := v.Verify(context.Background(), testActor)
	if err != nil || !rep.OK() || rep.Objects != len(objects) {
		t.Fatalf("verify after recovery: %+v %v", rep, err)
	}
}

func TestStartQuarantinesUnloggedObjectAndFinishesExpiry(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	kr := testKeyring(t, 1)
	v := openTestVault(t, dir, clock, kr)
	m := testMetadata(clock.Now())
	m.RetentionUntil = clock.Now().Add(time.Hour)
	expiring := ingest(t, v, m, []byte("expires"))
	sealedExpiring, _ := os.ReadFile(objectPath(dir, expiring.Digest))
	clock.Advance(time.Hour)
	if err := v.ExpireObject(testActor, expiring.Digest); err != nil {
		t.Fatal(err)
	}
	// An ingest that crashed after committing its file, before logging it.
	unlogged := ingest(t, v, testMetadata(clock.Now()), []byte("never acknowledged"))
	sealedUnlogged, _ := os.ReadFile(objectPath(dir, unlogged.Digest))
	v.Close()
	lines := logLines(t, dir)
	writeLog(t, dir, lines[:len(lines)-2])
	ackLastEntry(t, dir) // the ingest entry was never acknowledged
	os.WriteFile(objectPath(dir, unlogged.Digest), sealedUnlogged, 0o600)
	// An expiry that crashed after logging, before removing its file.
	os.WriteFile(objectPath(dir, expiring.Digest), sealedExpiring, 0o600)
	os.WriteFile(filepath.Join(dir, "tmp", "ingest-123"), []byte("half an object"), 0o600)

	rep, _ := VerifyOffline(context.Background(), dir, kr, clock)
	if len(rep.Findings) != 2 {
		t.Fatalf("offline verify of the crashed store: %v; want the two interrupted operations", rep.Findings)
	}
	v = openTestVault(t, dir, clock, kr)
	rec := v.Recovery()
	if len(rec.Quarantined) != 1 || rec.Quarantined[0] != unlogged.Digest || len(rec.ExpiriesCompleted) != 1 || rec.ExpiriesCompleted[0] != expiring.Digest {
		t.Fatalf("recovery = %+v", rec)
	}
	if q, _ := os.ReadDir(filepath.Join(dir, "quarantine")); len(q) != 1 {
		t.Fatalf("quarantine holds %d files; nothing that might be evidence is deleted", len(q))
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Fatalf("tmp not cleared: %d files", len(tmp))
	}
	if rep, err := v.Verify(context.Background(), testActor); err != nil || !rep.OK() {
		t.Fatalf("verify after recovery: %v %v", rep.Findings, err)
	}
}
