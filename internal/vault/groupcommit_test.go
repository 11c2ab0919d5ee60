package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// checkIngestsLogged checks that every result is in the custody log of dir
// exactly once, as its own line at its own sequence number, that its
// checkpoint verifies with v's key and commits to a log this one extends,
// and that the inclusion proof against it holds.
func checkIngestsLogged(t *testing.T, v *Vault, dir string, results []IngestResult) {
	t.Helper()
	lines := logLines(t, dir)
	seen := map[uint64]bool{}
	for _, res := range results {
		if res.Sequence == 0 || res.Sequence > uint64(len(lines)) {
			t.Fatalf("result of %s names entry %d; the log holds %d lines", res.Digest, res.Sequence, len(lines))
		}
		if seen[res.Sequence] {
			t.Fatalf("entry %d was given to two ingests", res.Sequence)
		}
		seen[res.Sequence] = true
		if got := bytes.TrimSuffix(lines[res.Sequence-1], []byte("\n")); !bytes.Equal(got, res.Entry) {
			t.Fatalf("entry %d in the log is not the entry acknowledged:\n%s\n%s", res.Sequence, got, res.Entry)
		}
		cp, err := OpenCheckpoint([]byte(res.Checkpoint), v.VerifierKey())
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size < res.Sequence {
			t.Fatalf("checkpoint of size %d acknowledged with entry %d", cp.Size, res.Sequence)
		}
		f, err := os.Open(filepath.Join(dir, custodyLogName))
		if err != nil {
			t.Fatal(err)
		}
		findings, err := CheckLogAgainstCheckpoint(f, cp)
		f.Close()
		if err != nil || len(findings) > 0 {
			t.Fatalf("the checkpoint acknowledged with entry %d does not hold for the log: %v %v", res.Sequence, findings, err)
		}
		if err := VerifyInclusion(cp, res.Sequence, res.Entry, res.InclusionProof); err != nil {
			t.Fatalf("the inclusion proof acknowledged with entry %d: %v", res.Sequence, err)
		}
		size, proof, err := v.InclusionProof(testActor, res.Sequence, cp.Size)
		if err != nil || size != cp.Size {
			t.Fatalf("inclusion proof of entry %d at %d: %v", res.Sequence, cp.Size, err)
		}
		if err := VerifyInclusion(cp, res.Sequence, res.Entry, proof); err != nil {
			t.Fatalf("entry %d: %v", res.Sequence, err)
		}
	}
	ingests := map[Digest]int{}
	for _, line := range lines {
		e, err := DecodeEntry(bytes.TrimSuffix(line, []byte("\n")))
		if err == nil && e.Action == ActionIngest {
			ingests[e.Object]++
		}
	}
	for _, res := range results {
		if ingests[res.Digest] != 1 {
			t.Fatalf("%s has %d ingest entries, want 1", res.Digest, ingests[res.Digest])
		}
	}
}

// TestGroupCommitSharesFlush ingests many objects at once while the first
// flush of the custody log is held: every ingest that appended meanwhile is
// made durable by one more flush (one fsync of the log), and each is
// acknowledged only as its own entry, once, in order, under a checkpoint that
// covers it.
func TestGroupCommitSharesFlush(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	v := openTestVault(t, dir, clock, testKeyring(t, 1))
	const n = 24
	g := &v.custody.commit
	logFile := v.custody.f
	var logSyncs atomic.Int32
	firstFlush, release := make(chan struct{}), make(chan struct{})
	appended := make(chan uint64, 2*n)
	g.mu.Lock()
	base, sync0 := g.written.seq, g.fsync
	g.fsync = func(f *os.File) error {
		if f == logFile && logSyncs.Add(1) == 1 {
			close(firstFlush)
			<-release
		}
		return sync0(f)
	}
	g.onBuffer = func(seq uint64) { appended <- seq }
	g.mu.Unlock()

	results, errs := make([]IngestResult, n), make([]error, n)
	var wg sync.WaitGroup
	ingestOne := func(i int) {
		m := testMetadata(clock.Now())
		m.CaseReference = fmt.Sprintf("CASE/GC/%d", i)
		results[i], errs[i] = v.Ingest(context.Background(), testActor, m, bytes.NewReader(randomBytes(uint64(1000+i), 100+i)), NoExpectation)
	}
	wg.Go(func() { ingestOne(0) })
	<-firstFlush
	for i := 1; i < n; i++ {
		wg.Go(func() { ingestOne(i) })
	}
	for range n {
		<-appended
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("ingest %d: %v", i, err)
		}
	}
	if got := logSyncs.Load(); got != 2 {
		t.Fatalf("%d fsyncs of the custody log for %d ingests, the last %d appended during the first flush; want 2", got, n, n-1)
	}
	seqs := make([]uint64, n)
	for i, res := range results {
		seqs[i] = res.Sequence
	}
	slices.Sort(seqs)
	for i, seq := range seqs {
		if seq != base+uint64(i)+1 {
			t.Fatalf("entries %v; want %d–%d, one per ingest", seqs, base+1, base+n)
		}
	}
	checkIngestsLogged(t, v, dir, results)
	if rep, err := v.Verify(context.Background(), testActor); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", err, rep.Findings)
	}
}

// errPowerLost is what every fsync answers once the simulated power is off.
var errPowerLost = errors.New("power lost (simulated)")

// TestGroupCommitPowerLoss simulates power failures during group commits:
// ingests run side by side, and at a random moment the power goes, leaving
// on disk what was fsynced (the log up to its last fsync, plus a random part
// of what was written after it, torn lines included; the acknowledgement
// record as last synced). The vault reopened on that must serve, hold every
// acknowledged ingest as acknowledged, and every checkpoint it gave must
// still hold: none was signed over an entry the failure lost.
func TestGroupCommitPowerLoss(t *testing.T) {
	powerLossRounds(t, 7, 12, false)
}

// TestGroupCommitPowerLossSmallObjects is TestGroupCommitPowerLoss where the
// power failure also takes the object files with it as the disk would: a small
// object is written unsynced and made durable by the flush that writes its
// entry (smallobject.go), so at the failure every object file whose data was
// not fdatasync'ed is cut short, and every one created since the last fsync of
// its directory is gone. The power may also go while a flush syncs its
// objects. The vault reopened on that must still hold every acknowledged
// object, readable, and verify clean.
func TestGroupCommitPowerLossSmallObjects(t *testing.T) {
	powerLossRounds(t, 11, 16, true)
}

// powerLossRounds runs rounds of powerLoss from a seed it logs, so a failure
// can be replayed.
func powerLossRounds(t *testing.T, stream uint64, rounds int, loseObjects bool) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := mrand.New(mrand.NewPCG(seed, stream))
	for round := range rounds {
		powerLoss(t, round, rng, loseObjects)
	}
}

// powerLoss is one round of TestGroupCommitPowerLoss. Once cut ingests are
// acknowledged the power goes at the next flush: before the log's fsync
// (written lines not synced: some of them survive, maybe torn), after it but
// before the acknowledgement record's, or right after that one (the flush
// succeeds, its ingests are acknowledged; nothing later is). With
// loseObjects, object files lose what was not synced too, and the power may
// also go while the flush syncs its objects (before any line is written).
func powerLoss(t *testing.T, round int, rng *mrand.Rand, loseObjects bool) {
	dir := t.TempDir()
	clock := newFakeClock()
	kr := testKeyring(t, 1)
	v, err := Open(Config{Dir: dir, Keyring: kr, Clock: clock, Grants: allGranted(), Policy: testPolicy})
	if err != nil {
		t.Fatal(err)
	}
	g := &v.custody.commit
	logFile, ackFile := v.custody.f, v.custody.ack.f
	logPath, ackPath := filepath.Join(dir, custodyLogName), filepath.Join(dir, custodyLogName+".ack")
	moment := rng.IntN(3) // 0: before the log's fsync, 1: before the record's, 2: after it
	if loseObjects {
		moment = rng.IntN(4) // 3: while the flush syncs its objects
	}
	objectDir := filepath.Join(dir, "objects", string(SHA256))
	// What the disk holds of the object files: the names in objectDir as of
	// the start of its last fsync, and the files whose data was synced.
	objectNames, objectsSynced := map[string]bool{}, map[string]bool{}
	var objectFate func() // applies the loss to the object files, once the vault is closed
	var (
		mu               sync.Mutex
		armed, off       bool
		logBytes         int64 // fsynced
		ack, _           = os.ReadFile(ackPath)
		survivor         []byte
		ackSurvivor      []byte
		written, kept    int
		cutAt            int
		powerOff         = make(chan struct{})
		acked            []IngestResult
		ackedAtPowerLoss int
	)
	lose := func() {
		off = true
		whole, err := os.ReadFile(logPath)
		if err != nil {
			panic(err)
		}
		// What was fsynced stays, and some of what was written after it, as
		// the kernel happened to write it back.
		written, kept = len(whole), int(logBytes)+rng.IntN(len(whole)-int(logBytes)+1)
		survivor, ackSurvivor = bytes.Clone(whole[:kept]), bytes.Clone(ack)
		ackedAtPowerLoss = len(acked)
		if loseObjects {
			objectFate = objectLoss(t, rng, objectDir, maps.Clone(objectNames), maps.Clone(objectsSynced))
		}
		close(powerOff)
	}
	sync0, datasync0 := g.fsync, g.datasync
	synced := func(f *os.File, sync func(*os.File) error) error {
		mu.Lock()
		defer mu.Unlock()
		if off {
			return errPowerLost
		}
		if armed && moment == 0 && f == logFile {
			lose()
			return errPowerLost
		}
		isObject := loseObjects && filepath.Dir(f.Name()) == objectDir
		if armed && moment == 3 && isObject {
			lose()
			return errPowerLost
		}
		var names []string
		if loseObjects && f.Name() == objectDir {
			// A name is durable once an fsync of its directory that started
			// after it was made has returned.
			entries, err := os.ReadDir(objectDir)
			if err != nil {
				return err
			}
			for _, e := range entries {
				names = append(names, e.Name())
			}
		}
		if err := sync(f); err != nil {
			return err
		}
		if isObject {
			objectsSynced[filepath.Base(f.Name())] = true
		}
		for _, name := range names {
			objectNames[name] = true
		}
		switch f {
		case logFile:
			st, err := f.Stat()
			if err != nil {
				return err
			}
			logBytes = st.Size()
			if armed && moment == 1 {
				lose()
				return errPowerLost
			}
		case ackFile:
			b, err := os.ReadFile(ackPath)
			if err != nil {
				return err
			}
			ack = b
			if armed && moment == 2 {
				lose() // this flush completes; none after it does
			}
		}
		return nil
	}
	g.mu.Lock()
	g.fsync = func(f *os.File) error { return synced(f, sync0) }
	g.datasync = func(f *os.File) error { return synced(f, datasync0) }
	g.mu.Unlock()

	cutAt = 5 + rng.IntN(40)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				m := testMetadata(clock.Now())
				m.CaseReference = fmt.Sprintf("CASE/PL/%d/%d", w, i)
				res, err := v.Ingest(context.Background(), testActor, m, bytes.NewReader(randomBytes(uint64(round*1_000_000+w*10_000+i), 50+i)), NoExpectation)
				if err != nil {
					return
				}
				mu.Lock()
				acked = append(acked, res)
				armed = armed || len(acked) >= cutAt
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	<-powerOff
	results := slices.Clone(acked)
	if err := v.Fault(); !errors.Is(err, errPowerLost) || v.Status().Fault == "" {
		t.Fatalf("round %d: the vault serves on after its custody log failed to sync: %v", round, err)
	}
	v.Close()
	if err := os.WriteFile(logPath, survivor, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ackPath, ackSurvivor, 0o600); err != nil {
		t.Fatal(err)
	}
	if objectFate != nil {
		objectFate()
	}

	v, err = Open(Config{Dir: dir, Keyring: kr, Clock: clock, Grants: allGranted(), Policy: testPolicy})
	if err != nil {
		t.Fatalf("round %d: reopening after the power loss: %v", round, err)
	}
	defer v.Close()
	if err := v.Fault(); err != nil {
		t.Fatalf("round %d: a power loss made the vault refuse to serve: %v", round, err)
	}
	for _, res := range results {
		if info, err := v.Stat(res.Digest); err != nil || info.Size != res.Size {
			t.Fatalf("round %d: acknowledged object %s (entry %d) lost: %v", round, res.Digest, res.Sequence, err)
		}
	}
	checkIngestsLogged(t, v, dir, results)
	if loseObjects {
		for _, res := range results {
			if _, err := readObject(t, v, res.Digest); err != nil {
				t.Fatalf("round %d: acknowledged object %s (entry %d) unreadable after the power loss: %v", round, res.Digest, res.Sequence, err)
			}
		}
	}
	if rep, err := v.Verify(context.Background(), testActor); err != nil || !rep.OK() {
		t.Fatalf("round %d: verify after the power loss: %v %v", round, err, rep.Findings)
	}
	t.Logf("round %d: power lost at moment %d; %d acknowledged (%d before the flush it hit); kept %d of %d bytes written (%d fsynced); recovery: %s",
		round, moment, len(results), ackedAtPowerLoss, kept, written, logBytes, v.Recovery())
}

// TestPlacedObjectWithoutEntryQuarantined: an ingest puts its object file in
// place, synced, before it appends its custody entry, outside the vault's lock
// (fsPending.uploadAhead). A crash in between leaves a committed object file
// that no entry records; the next start sets it aside, and it is not
// evidence.
func TestPlacedObjectWithoutEntryQuarantined(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	kr := testKeyring(t, 1)
	v := openTestVault(t, dir, clock, kr)
	kept := ingest(t, v, testMetadata(clock.Now()), []byte("acknowledged"))
	pending, err := v.store.Create()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := sealStream(context.Background(), bytes.NewReader([]byte("placed, never recorded")), pending, kr, SHA256, DefaultChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := pending.(aheadUploader).uploadAhead(sealed.digest, ObjectLock{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(objectPath(dir, sealed.digest)); err != nil {
		t.Fatalf("the placed object is not in objects/: %v", err)
	}
	v.Close() // the crash: nothing else of that ingest happens

	v = openTestVault(t, dir, clock, kr)
	if rec := v.Recovery(); len(rec.Quarantined) != 1 || rec.Quarantined[0] != sealed.digest {
		t.Fatalf("recovery %+v; want %s quarantined", rec, sealed.digest)
	}
	if _, err := v.Stat(sealed.digest); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the unrecorded object is served: %v", err)
	}
	if _, err := v.Stat(kept.Digest); err != nil {
		t.Fatal(err)
	}
	if q, _ := os.ReadDir(filepath.Join(dir, "quarantine")); len(q) != 1 {
		t.Fatalf("quarantine holds %d files", len(q))
	}
	if rep, err := v.Verify(context.Background(), testActor); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", err, rep.Findings)
	}
}

// objectLoss decides, at the moment of a simulated power failure, what the
// disk keeps of the object files in dir: a file whose name no fsync of dir had
// made durable is gone; a file whose data was never synced keeps a random
// prefix of what was written (nothing, part, or all). It returns the change
// to apply once the vault is closed.
func objectLoss(t *testing.T, rng *mrand.Rand, dir string, durableNames, synced map[string]bool) func() {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var gone []string
	cut := map[string]int64{}
	for _, e := range entries {
		switch name := e.Name(); {
		case !durableNames[name]:
			gone = append(gone, name)
		case !synced[name]:
			info, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			cut[name] = rng.Int64N(info.Size() + 1)
		}
	}
	return func() {
		// A file may be gone already: an ingest the failure stopped removes
		// what it placed (on a real disk it would stay, and be quarantined).
		for _, name := range gone {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
		}
		for name, size := range cut {
			if err := os.Truncate(filepath.Join(dir, name), size); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
		}
		t.Logf("power loss: %d object file(s) lost, %d cut short", len(gone), len(cut))
	}
}
