package vault

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Finding is one thing verification found wrong. Seq and Line locate a
// custody entry, Object an object; Problem says what is wrong.
type Finding struct {
	Seq     uint64 `json:"seq,omitempty"`
	Line    int    `json:"line,omitempty"`
	Object  Digest `json:"object,omitempty"`
	Problem string `json:"problem"`
}

func (f Finding) String() string {
	var where []string
	if f.Line > 0 {
		where = append(where, fmt.Sprintf("custody log line %d", f.Line))
	}
	if f.Seq > 0 {
		where = append(where, fmt.Sprintf("entry %d", f.Seq))
	}
	if f.Object != "" {
		where = append(where, "object "+string(f.Object))
	}
	if len(where) == 0 {
		return f.Problem
	}
	return strings.Join(where, ", ") + ": " + f.Problem
}

// Report is the result of a verification.
type Report struct {
	Time     time.Time `json:"time"`
	Entries  uint64    `json:"entries"`
	Objects  int       `json:"objects"`
	Bytes    int64     `json:"bytes"`
	Findings []Finding `json:"findings"`
}

// OK reports whether verification found nothing wrong.
func (r Report) OK() bool { return len(r.Findings) == 0 }

// VerifyOffline verifies the vault in dir without opening it for writing: it
// takes no lock, repairs nothing and records nothing, so it is safe on a
// snapshot or a copy. Findings that the next start would repair (a torn final
// entry, an interrupted ingest or expiry) are still reported.
func VerifyOffline(ctx context.Context, dir string, kr *Keyring, clock Clock) (Report, error) {
	if clock == nil {
		clock = SystemClock{}
	}
	f, err := os.Open(filepath.Join(dir, custodyLogName))
	if err != nil {
		return Report{}, fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	store := &FSStore{root: dir}
	if _, err := os.Stat(store.dir(SHA256)); err != nil {
		return Report{}, fmt.Errorf("verify: %s does not look like a vault data directory: %w", dir, err)
	}
	rep, err := verifyStore(ctx, f, store, kr, clock.Now().UTC())
	if err != nil {
		return rep, err
	}
	if problem := checkAcknowledged(dir); problem != "" {
		rep.Findings = append(rep.Findings, Finding{Problem: problem})
	}
	return rep, nil
}

// checkAcknowledged compares the log with the acknowledgement record, read
// only: it reports acknowledged entries that are missing or differ.
func checkAcknowledged(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, custodyLogName+".ack"))
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if err != nil {
		return "cannot read the acknowledgement record: " + err.Error()
	}
	var ack ackState
	valid := false
	for slot := 0; (slot+1)*ackSlotSize <= len(b) && slot < 2; slot++ {
		if seq, hash, ok := decodeAckSlot(b[slot*ackSlotSize : (slot+1)*ackSlotSize]); ok && (!valid || seq > ack.seq) {
			ack.seq, ack.hash, valid = seq, hash, true
		}
	}
	if !valid {
		return "the acknowledgement record custody.log.ack is damaged (no valid slot)"
	}
	if ack.seq == 0 {
		return ""
	}
	logFile, err := os.Open(filepath.Join(dir, custodyLogName))
	if err != nil {
		return ""
	}
	defer logFile.Close()
	found := ""
	var last uint64
	_ = scanLog(logFile, func(l logLine) error {
		if e, err := DecodeEntry(l.text); err == nil && l.complete {
			last = e.Seq
			if e.Seq == ack.seq {
				found = e.Hash
			}
		}
		return nil
	})
	switch {
	case found == "" && last < ack.seq:
		return fmt.Sprintf("entry %d was acknowledged but the log ends at entry %d: acknowledged entries are missing (the vault refuses to serve)", ack.seq, last)
	case found != ack.hash:
		return fmt.Sprintf("entry %d differs from the entry acknowledged under that number: the log was rewritten (the vault refuses to serve)", ack.seq)
	}
	return ""
}

// verifyStore recomputes the custody chain and every live object's digest.
// It keeps going after a problem so that one report names everything wrong,
// and it follows a damaged entry's stored hash so that one altered entry
// yields one finding, not a cascade.
func verifyStore(ctx context.Context, logR io.Reader, store BlobStore, kr *Keyring, now time.Time) (Report, error) {
	rep := Report{Time: now, Findings: []Finding{}}
	state := newCustodyState()
	var lastSeq uint64
	lastHash := genesisHash
	chainKnown := true
	add := func(f Finding) { rep.Findings = append(rep.Findings, f) }

	err := scanLog(logR, func(l logLine) error {
		if !l.complete {
			add(Finding{Line: l.number, Problem: fmt.Sprintf("torn final entry of %d bytes at offset %d (an append interrupted by a crash; truncated on next start)", len(l.text), l.offset)})
			return nil
		}
		e, err := DecodeEntry(l.text)
		decoded := e.Seq != 0 && isHex64(e.Hash)
		if err != nil {
			add(Finding{Line: l.number, Seq: e.Seq, Object: e.Object, Problem: err.Error()})
		}
		if !decoded {
			chainKnown = false
			return nil
		}
		if chainKnown {
			var problems []string
			if e.Seq != lastSeq+1 {
				if e.Seq > lastSeq+1 {
					problems = append(problems, fmt.Sprintf("sequence jumps from %d to %d (entries %d–%d missing)", lastSeq, e.Seq, lastSeq+1, e.Seq-1))
				} else {
					problems = append(problems, fmt.Sprintf("sequence %d follows %d (entry duplicated or reordered)", e.Seq, lastSeq))
				}
			}
			if e.Prev != lastHash {
				problems = append(problems, fmt.Sprintf("previous hash does not match entry %d (an entry before it was removed, inserted or altered)", lastSeq))
			}
			if len(problems) > 0 {
				add(Finding{Line: l.number, Seq: e.Seq, Problem: strings.Join(problems, "; ")})
			}
		}
		lastSeq, lastHash, chainKnown = e.Seq, e.Hash, true
		rep.Entries++
		if aerr := state.apply(e); aerr != nil {
			add(Finding{Line: l.number, Seq: e.Seq, Object: e.Object, Problem: "inconsistent with earlier entries: " + aerr.Error()})
		}
		return ctx.Err()
	})
	if err != nil {
		return rep, fmt.Errorf("verify: reading custody log: %w", err)
	}

	stored, strays, err := store.List()
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	for _, s := range strays {
		add(Finding{Problem: fmt.Sprintf("unexpected file %s in the object store", s)})
	}
	live := make([]*objectState, 0, len(state.live))
	for _, o := range state.live {
		live = append(live, o)
	}
	slices.SortFunc(live, func(a, b *objectState) int { return cmp.Compare(a.first().ingestSeq, b.first().ingestSeq) })
	for _, o := range live {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rep.Objects++
		rep.Bytes += o.size
		if problem := verifyObject(store, kr, o); problem != "" {
			add(Finding{Seq: o.first().ingestSeq, Object: o.digest, Problem: problem})
		}
		if ls, ok := store.(lockingStore); ok {
			if problem := checkLock(ctx, ls, o); problem != "" {
				add(Finding{Seq: o.first().ingestSeq, Object: o.digest, Problem: problem})
			}
		}
	}
	for _, d := range stored {
		if _, ok := state.live[d]; ok {
			continue
		}
		if seq, ok := state.expired[d]; ok {
			add(Finding{Seq: seq, Object: d, Problem: "object is expired in the custody log but its file is still present (expiry interrupted; removed on next start)"})
			continue
		}
		add(Finding{Object: d, Problem: "object file has no ingest entry in the custody log (an ingest interrupted before it was acknowledged, quarantined on next start, or an ingest entry removed from the log)"})
	}
	return rep, nil
}

func verifyObject(store BlobStore, kr *Keyring, o *objectState) string {
	f, err := store.Open(o.digest)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("object file is missing (ingested in entry %d, never expired)", o.first().ingestSeq)
	}
	if err != nil {
		return "cannot open object file: " + err.Error()
	}
	r, err := openSealedAs(f, kr, o.digest, o.size, o.keyVersion)
	if err != nil {
		f.Close()
		return err.Error()
	}
	defer r.Close()
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err.Error()
	}
	return ""
}

// Verify recomputes the custody chain and every live object's digest while
// the vault is serving, records the result as a verify entry and in Status.
// It reads everything, so it needs the verify role and runs one at a time:
// a second call while one runs fails with ErrVerifyRunning.
func (v *Vault) Verify(ctx context.Context, actor Identity) (Report, error) {
	if err := v.authorise(actor, RoleVerify); err != nil {
		return Report{}, err
	}
	if !v.verifying.TryLock() {
		return Report{}, fmt.Errorf("%w; its result will be in /status", ErrVerifyRunning)
	}
	defer v.verifying.Unlock()
	v.mu.Lock()
	if err := v.usable(); err != nil {
		v.mu.Unlock()
		return Report{}, err
	}
	// The durable prefix: entries past it may not be in the file yet.
	durable := v.custody.commit.durablePosition()
	logSize, logEntries := durable.size, durable.seq
	kr := v.keyring.Load()
	v.mu.Unlock()
	logR, extra, err := v.custodyForVerify(ctx, logSize, logEntries)
	if err != nil {
		return Report{}, err
	}
	defer logR.Close()
	rep, err := verifyStore(ctx, io.NewSectionReader(logR, 0, logSize), v.store, kr, v.now())
	if err != nil {
		return rep, err
	}
	rep.Findings = append(rep.Findings, extra...)
	fileRoot, _, err := logRoot(io.NewSectionReader(logR, 0, logSize), logEntries)
	if err != nil {
		return rep, fmt.Errorf("verify: reading custody log: %w", err)
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	// Objects ingested or expired while verification ran are not findings.
	rep.Findings = slices.DeleteFunc(rep.Findings, func(f Finding) bool {
		if f.Object == "" || f.Line != 0 {
			return false
		}
		_, live := v.state.live[f.Object]
		_, expired := v.state.expired[f.Object]
		// An ingest puts its file in place before it records it (uploadAhead).
		_, placing := v.uploading[f.Object]
		noEntry := strings.HasPrefix(f.Problem, "object file has no ingest entry")
		missing := strings.HasPrefix(f.Problem, "object file is missing")
		if noEntry && !live && !placing {
			// Placed by an ingest that failed since, and removed again.
			exists, err := v.store.Exists(f.Object)
			placing = err == nil && !exists
		}
		return (noEntry && (live || placing)) || (missing && expired)
	})
	if f := v.checkTreeRoot(fileRoot, logEntries); f != nil {
		rep.Findings = append(rep.Findings, *f)
	}
	detail := fmt.Sprintf("%d entries, %d objects, %d bytes verified; %d findings", rep.Entries, rep.Objects, rep.Bytes, len(rep.Findings))
	e, err := v.custody.append(Entry{Time: rep.Time, Actor: actor.Name(), Cert: actor.certificate(), Action: ActionVerify, Detail: detail})
	if err != nil {
		return rep, err
	}
	v.lastVerify = verifyStatusOf(rep, e.Seq)
	v.metrics.lastVerify.Set(float64(rep.Time.Unix()))
	v.metrics.verifyFindings.Set(float64(len(rep.Findings)))
	if !rep.OK() {
		v.metrics.verifyFailures.Inc()
	}
	return rep, nil
}

// readerAtCloser is the custody log as verification reads it.
type readerAtCloser interface {
	io.ReaderAt
	io.Closer
}

type bytesLog struct{ *bytes.Reader }

func (bytesLog) Close() error { return nil }

// custodyForVerify is the custody log as verification reads it: on S3 the
// segments in the bucket (what is durable, not the working copy), up to the
// first logEntries entries, with a finding per segment written over; on a
// filesystem the log file.
func (v *Vault) custodyForVerify(ctx context.Context, logSize int64, logEntries uint64) (readerAtCloser, []Finding, error) {
	s, ok := v.store.(*S3Store)
	if !ok {
		f, err := os.Open(filepath.Join(v.cfg.Dir, custodyLogName))
		return f, nil, err
	}
	if logEntries == 0 {
		return bytesLog{bytes.NewReader(nil)}, nil, nil
	}
	log, overwritten, err := s.CustodyLog(ctx, logEntries)
	if err != nil {
		return nil, nil, fmt.Errorf("verify: reading the custody log from the bucket: %w", err)
	}
	var findings []Finding
	if int64(len(log)) != logSize {
		findings = append(findings, Finding{Problem: fmt.Sprintf("the bucket's custody segments 1–%d hold %d bytes, the vault wrote %d", logEntries, len(log), logSize)})
	}
	findings = append(findings, overwrittenFindings(overwritten)...)
	return bytesLog{bytes.NewReader(log)}, findings, nil
}

func overwrittenFindings(seqs []uint64) []Finding {
	var out []Finding
	for _, seq := range seqs {
		out = append(out, Finding{Seq: seq, Problem: "the custody segment of this entry was written more than once in the bucket; the first version is the log, later ones were not written by the vault"})
	}
	return out
}

// VerifyS3 verifies a vault kept in an S3 bucket without opening it: it reads
// the custody log from the bucket's segments, checks the chain and every live
// object (digest, and that the store's lock is at least what custody
// records), and checks the bucket's Object Lock and versioning settings. It
// writes nothing to the bucket.
func VerifyS3(ctx context.Context, s *S3Store, kr *Keyring, clock Clock) (Report, error) {
	if clock == nil {
		clock = SystemClock{}
	}
	log, overwritten, err := s.CustodyLog(ctx, 0)
	if err != nil {
		return Report{}, fmt.Errorf("verify: %w", err)
	}
	rep, err := verifyStore(ctx, bytes.NewReader(log), s, kr, clock.Now().UTC())
	if err != nil {
		return rep, err
	}
	rep.Findings = append(rep.Findings, overwrittenFindings(overwritten)...)
	if err := s.CheckBucketSettings(ctx); err != nil {
		rep.Findings = append(rep.Findings, Finding{Problem: err.Error()})
	}
	return rep, nil
}
