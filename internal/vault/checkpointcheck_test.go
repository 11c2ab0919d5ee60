package vault

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func openSignedVault(t *testing.T, dir string, clock Clock, signer *Signer) *Vault {
	t.Helper()
	v, err := Open(Config{Dir: dir, Keyring: testKeyring(t, 1), Clock: clock, Grants: allGranted(), Policy: testPolicy, Signer: signer})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func testSigner(t *testing.T) *Signer {
	t.Helper()
	skey, _, err := GenerateSigningKey("vault.test/cybercoop")
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadSigner([]byte(skey))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verifyOfflineOK(t *testing.T, dir string) Report {
	t.Helper()
	rep, err := VerifyOffline(context.Background(), dir, testKeyring(t, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestCheckpointDetectsRolledBackDataDirectory: a data directory restored
// from an earlier copy (log, acknowledgement record and objects together) is
// consistent in itself, so neither start-up nor plain offline verification
// can tell; a checkpoint kept elsewhere can.
func TestCheckpointDetectsRolledBackDataDirectory(t *testing.T) {
	clock := newFakeClock()
	signer := testSigner(t)
	dir := t.TempDir()
	v := openSignedVault(t, dir, clock, signer)
	first := ingest(t, v, testMetadata(clock.Now()), randomBytes(1, 5000))
	v.Close()
	snapshot := copyDir(t, dir) // entry 1, the first ingest

	v = openSignedVault(t, dir, clock, signer)
	second := ingest(t, v, testMetadata(clock.Now()), randomBytes(2, 7000))
	if _, err := v.Hold(testActor, first.Digest, "CASE/2031/0099", "UNCC art. 25"); err != nil {
		t.Fatal(err)
	}
	cp, err := v.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 3 {
		t.Fatalf("checkpoint size %d, want 3", cp.Size)
	}
	// The log goes on after the checkpoint; it still extends it.
	if _, err := readObject(t, v, second.Digest); err != nil {
		t.Fatal(err)
	}
	v.Close()
	vkey := signer.VerifierKey()

	chk, err := VerifyCheckpointOffline(dir, cp.Note, vkey)
	if err != nil || len(chk.Findings) != 0 || chk.Entries != 4 || chk.Checkpoint.Size != 3 {
		t.Fatalf("the vault's own directory against its checkpoint: %+v, %v", chk, err)
	}

	// Rolled back: every file of the directory as it was after entry 1.
	if rep := verifyOfflineOK(t, snapshot); !rep.OK() {
		t.Fatalf("the snapshot alone should look consistent: %v", rep.Findings)
	}
	chk, err = VerifyCheckpointOffline(snapshot, cp.Note, vkey)
	if err != nil {
		t.Fatal(err)
	}
	if len(chk.Findings) != 1 || !strings.Contains(chk.Findings[0].Problem, "commits to 3 custody entries but the log holds 1: entries 2–3 are missing") {
		t.Fatalf("rolled-back directory: %+v", chk.Findings)
	}

	// Rolled back, then served again: the log is as long as the
	// checkpoint's, but its history differs.
	v = openSignedVault(t, snapshot, clock, signer)
	for i := range 3 {
		ingest(t, v, testMetadata(clock.Now()), randomBytes(uint64(20+i), 100))
	}
	v.Close()
	if rep := verifyOfflineOK(t, snapshot); !rep.OK() {
		t.Fatalf("the rewritten directory alone should look consistent: %v", rep.Findings)
	}
	chk, err = VerifyCheckpointOffline(snapshot, cp.Note, vkey)
	if err != nil {
		t.Fatal(err)
	}
	if len(chk.Findings) != 1 || !strings.Contains(chk.Findings[0].Problem, "the first 3 custody entries hash to root") ||
		!strings.Contains(chk.Findings[0].Problem, "altered, removed, inserted or reordered") {
		t.Fatalf("rolled back and written again: %+v", chk.Findings)
	}
}

func TestCheckpointDetectsTruncatedAndAlteredLog(t *testing.T) {
	clock := newFakeClock()
	signer := testSigner(t)
	dir := t.TempDir()
	v := openSignedVault(t, dir, clock, signer)
	d := ingest(t, v, testMetadata(clock.Now()), randomBytes(3, 100)).Digest
	for range 3 {
		if _, err := readObject(t, v, d); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := v.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	vkey := signer.VerifierKey()

	// Trailing entries removed and the acknowledgement record moved back
	// with them: only the checkpoint shows it.
	truncated := copyDir(t, dir)
	lines := logLines(t, truncated)
	writeLog(t, truncated, lines[:2])
	ackLastEntry(t, truncated)
	if rep := verifyOfflineOK(t, truncated); !rep.OK() {
		t.Fatalf("a cleanly truncated log alone should look consistent: %v", rep.Findings)
	}
	chk, err := VerifyCheckpointOffline(truncated, cp.Note, vkey)
	if err != nil || len(chk.Findings) != 1 || !strings.Contains(chk.Findings[0].Problem, "entries 3–4 are missing") {
		t.Fatalf("truncated log: %+v, %v", chk.Findings, err)
	}

	// One byte of an entry inside the checkpoint changed.
	altered := copyDir(t, dir)
	lines = logLines(t, altered)
	lines[1] = bytes.Replace(lines[1], []byte(`"action":"read"`), []byte(`"action":"xead"`), 1)
	writeLog(t, altered, lines)
	chk, err = VerifyCheckpointOffline(altered, cp.Note, vkey)
	if err != nil || len(chk.Findings) != 1 || !strings.Contains(chk.Findings[0].Problem, "the first 4 custody entries hash to root") {
		t.Fatalf("altered entry: %+v, %v", chk.Findings, err)
	}

	// A checkpoint that does not verify proves nothing: an error, not a pass.
	other := testSigner(t)
	if _, err := VerifyCheckpointOffline(dir, cp.Note, other.VerifierKey()); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("checkpoint checked with another vault's key: %v", err)
	}
	forged := bytes.Replace(cp.Note, []byte("\n4\n"), []byte("\n2\n"), 1)
	if bytes.Equal(forged, cp.Note) {
		t.Fatal("test did not change the checkpoint")
	}
	if _, err := VerifyCheckpointOffline(dir, forged, vkey); err == nil {
		t.Fatal("a checkpoint whose size was edited verified")
	}
	if _, err := VerifyCheckpointOffline(dir, []byte("not a note"), vkey); err == nil {
		t.Fatal("garbage verified as a checkpoint")
	}
}

// TestCheckLogAgainstEmptyCheckpoint: a checkpoint of the empty log is
// extended by every log.
func TestCheckLogAgainstEmptyCheckpoint(t *testing.T) {
	f, err := CheckLogAgainstCheckpoint(strings.NewReader(""), Checkpoint{Origin: "o", Size: 0, Root: hasher.EmptyRoot()})
	if err != nil || len(f) != 0 {
		t.Fatalf("%v %v", f, err)
	}
	f, err = CheckLogAgainstCheckpoint(strings.NewReader(""), Checkpoint{Origin: "o", Size: 1, Root: hasher.EmptyRoot()})
	if err != nil || len(f) != 1 {
		t.Fatalf("%v %v", f, err)
	}
}
