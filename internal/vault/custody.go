package vault

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Action is what a custody entry records.
type Action string

// The actions of the custody log. Every operation on evidence appends one.
const (
	ActionIngest  Action = "ingest"
	ActionRead    Action = "read"
	ActionExport  Action = "export"
	ActionHold    Action = "hold"
	ActionRelease Action = "release"
	ActionExpire  Action = "expire"
	ActionVerify  Action = "verify"
	// ActionRecover records that start-up recovery changed the log or the
	// store (a torn final entry truncated, unacknowledged files set aside),
	// so that no repair is ever silent.
	ActionRecover Action = "recover"
)

func (a Action) valid() bool {
	switch a {
	case ActionIngest, ActionRead, ActionExport, ActionHold, ActionRelease, ActionExpire, ActionVerify, ActionRecover:
		return true
	}
	return false
}

// SystemActor is the actor of entries the vault writes on its own behalf.
const SystemActor = "system:vault"

// genesisHash is the "previous hash" of the first entry.
var genesisHash = strings.Repeat("0", 2*sha256.Size)

// MaxEntryBytes bounds one encoded custody entry; larger lines are damage.
const MaxEntryBytes = 64 << 10

// Entry is one line of the custody log. Hash is the SHA-256 of the entry's
// canonical JSON encoding with Hash empty; Prev is the Hash of the entry
// before it, which chains the log so that altering, removing, inserting or
// reordering any entry breaks every later link.
type Entry struct {
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Actor string    `json:"actor"`
	// Cert identifies the actor's certificate (subject, URI SAN, issuer,
	// serial, fingerprint); absent for the vault's own entries.
	Cert *Identity `json:"cert,omitempty"`
	// Via identifies the certificate of the client that relayed an ingest
	// for the party Actor and Cert name (Metadata.OnBehalfOf; role relay);
	// absent for everything else. Being empty when unused, it leaves the
	// encoding, and so the hash, of every other entry as it was.
	Via        *Identity `json:"via,omitempty"`
	Action     Action    `json:"action"`
	Object     Digest    `json:"object,omitempty"`
	LegalBasis string    `json:"legalBasis,omitempty"`
	// Reference is the case reference (ingest) or hold reference (hold, release).
	Reference string `json:"reference,omitempty"`
	// Metadata is the full ingest metadata; only on ingest entries.
	Metadata   *Metadata `json:"metadata,omitempty"`
	Size       int64     `json:"size,omitempty"`
	KeyVersion uint32    `json:"keyVersion,omitempty"`
	// Duplicate marks an ingest of content the vault already held.
	Duplicate bool `json:"duplicate,omitempty"`
	// Attached marks a duplicate ingest whose metadata (case, authorisation,
	// retention, hold) is attached to the existing object. Duplicate entries
	// written before cases could be attached lack it and change nothing.
	Attached bool   `json:"attached,omitempty"`
	Detail   string `json:"detail,omitempty"`
	Prev     string `json:"prev"`
	Hash     string `json:"hash"`
}

func (e Entry) computeHash() (string, error) {
	e.Hash = ""
	body, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:]), nil
}

// unhashedSuffix ends the encoding of an entry whose Hash is empty: hash is
// the last member of Entry, and a hash is hex, which JSON does not escape.
const unhashedSuffix = `"hash":""}`

// encodeEntry seals e with its hash and returns its log line, newline included.
// The entry is encoded once: its line is the encoding hashed, with the hash
// written into the empty last member, byte for byte what encoding e with its
// Hash set gives (DecodeEntry requires that canonical form).
func encodeEntry(e Entry) (Entry, []byte, error) {
	e.Hash = ""
	body, err := json.Marshal(e)
	if err != nil {
		return e, nil, fmt.Errorf("encoding custody entry %d: %w", e.Seq, err)
	}
	if !bytes.HasSuffix(body, []byte(unhashedSuffix)) {
		return e, nil, fmt.Errorf("encoding custody entry %d: the encoding does not end with its hash member", e.Seq)
	}
	sum := sha256.Sum256(body)
	e.Hash = hex.EncodeToString(sum[:])
	line := make([]byte, 0, len(body)+len(e.Hash)+1)
	line = append(line, body[:len(body)-2]...) // up to the hash's opening quote
	line = append(line, e.Hash...)
	line = append(line, `"}`...)
	if len(line) >= MaxEntryBytes {
		return e, nil, fmt.Errorf("custody entry %d would be %d bytes; the limit is %d", e.Seq, len(line), MaxEntryBytes)
	}
	return e, append(line, '\n'), nil
}

// DecodeEntry parses one custody log line (without its newline) and checks
// that it is self-consistent: strict JSON with no unknown fields, exactly the
// canonical encoding the vault writes (so no edit can hide in whitespace,
// key case or escaping), a known action, and a hash matching its content.
// Chain links (sequence, previous hash) are checked by the caller.
func DecodeEntry(line []byte) (Entry, error) {
	if len(line) >= MaxEntryBytes {
		return Entry{}, fmt.Errorf("entry is %d bytes; the limit is %d", len(line), MaxEntryBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var e Entry
	if err := dec.Decode(&e); err != nil {
		return Entry{}, fmt.Errorf("entry is not valid custody JSON: %w", err)
	}
	canonical, err := json.Marshal(e)
	if err != nil || !bytes.Equal(canonical, line) {
		return e, fmt.Errorf("entry %d is not in the canonical form the vault writes (altered)", e.Seq)
	}
	if e.Seq == 0 {
		return e, errors.New("entry has no sequence number (seq must start at 1)")
	}
	if !e.Action.valid() {
		return e, fmt.Errorf("entry %d has unknown action %q", e.Seq, truncateForError(string(e.Action)))
	}
	if !isHex64(e.Prev) || !isHex64(e.Hash) {
		return e, fmt.Errorf("entry %d: prev and hash must be 64 lowercase hex characters", e.Seq)
	}
	if e.Object != "" {
		if _, err := ParseDigest(string(e.Object)); err != nil {
			return e, fmt.Errorf("entry %d: %w", e.Seq, err)
		}
	}
	want, err := e.computeHash()
	if err != nil {
		return e, fmt.Errorf("entry %d: %w", e.Seq, err)
	}
	if want != e.Hash {
		return e, fmt.Errorf("entry %d: hash does not match its content (entry altered)", e.Seq)
	}
	return e, nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLowerHexDigit(c) {
			return false
		}
	}
	return true
}

// logLine is one raw line of the custody log.
type logLine struct {
	number   int   // 1-based
	offset   int64 // of the first byte
	text     []byte
	complete bool // ended with a newline
}

// scanLog calls fn for every line of r. Only the final line can be
// incomplete; that is a torn append.
func scanLog(r io.Reader, fn func(logLine) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var offset int64
	for n := 1; ; n++ {
		text, err := br.ReadBytes('\n')
		if len(text) > 0 {
			complete := text[len(text)-1] == '\n'
			l := logLine{number: n, offset: offset, text: bytes.TrimSuffix(text, []byte{'\n'}), complete: complete}
			offset += int64(len(text))
			if ferr := fn(l); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// custodyLog is the append-only log file. Appends are serialised by the Vault.
type custodyLog struct {
	f        *os.File
	path     string
	lastSeq  uint64
	lastHash string
	size     int64
	broken   error
	tree     *merkleTree
	// offsets[i] is where entry i+1's line starts, so one entry can be
	// read without scanning the log (8 bytes per entry).
	offsets []int64
	ack     *ackFile
	// segments, when set, is where an appended entry becomes durable (the S3
	// store's custody segments, under COMPLIANCE retention); the file is then a
	// copy rebuilt from them at each start (see openS3Custody).
	segments custodySegments
	// segmentRetention is the retain-until of entry e's segment.
	segmentRetention func(e Entry) time.Time
	// commit makes written entries durable, many appends per fsync (see
	// groupcommit.go). lastSeq, lastHash, size, offsets and the tree above
	// describe what is written, which may be ahead of what is durable.
	commit groupCommit
}

// custodySegments keeps each custody entry as an object of its own.
type custodySegments interface {
	putSegment(ctx context.Context, seq uint64, line []byte, hash string, until time.Time) error
	segmentHash(ctx context.Context, seq uint64) (exists bool, hash string, err error)
}

// segmentTimeout bounds one segment write, retries included.
const segmentTimeout = 2 * time.Minute

// logRecovery reports what opening the log found and had to repair.
type logRecovery struct {
	tornOffset int64
	tornBytes  int
	// ackCreated: there was no acknowledgement record (a data directory
	// from before it existed); one was created from the log as found.
	ackCreated bool
	// missing is set when the log lacks entries the vault acknowledged (or
	// holds entries it never wrote); nothing was repaired then.
	missing error
}

// openCustodyLog opens (creating if need be) the log, checks the whole chain
// against the acknowledgement record and replays every entry through fn.
//
// A torn final line is an append cut off by a crash. It is truncated only if
// the acknowledgement record shows that entry was never acknowledged. If the
// log ends before the last acknowledged entry, or that entry's hash differs,
// acknowledged history was lost or rewritten: nothing is repaired and
// rec.missing says what is wrong, so the vault can refuse to serve. A broken
// chain anywhere is returned as an error.
func openCustodyLog(path string, fn func(Entry) error) (*custodyLog, logRecovery, error) {
	var rec logRecovery
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, rec, fmt.Errorf("opening custody log: %w", err)
	}
	ack, ackState, err := openAckFile(path + ".ack")
	if err != nil {
		f.Close()
		return nil, rec, err
	}
	l := &custodyLog{f: f, path: path, lastHash: genesisHash, tree: newMerkleTree(), ack: ack}
	fail := func(err error) (*custodyLog, logRecovery, error) {
		f.Close()
		ack.close()
		return nil, rec, err
	}
	tornAt := int64(-1)
	ackedHash := ""
	keepsAck := false
	err = scanLog(f, func(line logLine) error {
		if !line.complete {
			tornAt, rec.tornOffset, rec.tornBytes = line.offset, line.offset, len(line.text)
			return nil
		}
		e, err := DecodeEntry(line.text)
		if err != nil {
			return fmt.Errorf("custody log %s line %d: %w; run `cybercoop vault verify` and restore the log from a replica", path, line.number, err)
		}
		if e.Seq != l.lastSeq+1 || e.Prev != l.lastHash {
			return fmt.Errorf("custody log %s line %d: entry %d does not follow entry %d (sequence or previous hash broken); run `cybercoop vault verify`", path, line.number, e.Seq, l.lastSeq)
		}
		l.lastSeq, l.lastHash = e.Seq, e.Hash
		l.size = line.offset + int64(len(line.text)) + 1
		l.tree.append(line.text)
		l.offsets = append(l.offsets, line.offset)
		if e.Seq == ackState.seq {
			ackedHash = e.Hash
		}
		// Certificates and attached cases are recorded only by versions
		// that keep the acknowledgement record.
		keepsAck = keepsAck || e.Cert != nil || e.Attached
		return fn(e)
	})
	if err != nil {
		return fail(err)
	}
	l.commit.start(l, position{seq: l.lastSeq, hash: l.lastHash, size: l.size})
	switch {
	case ackState.missing && keepsAck:
		// Deleting the record must not turn a shortened log into a
		// data directory "from an earlier version".
		rec.missing = fmt.Errorf("acknowledgement record %s is missing, but custody log %s was written by a vault that keeps one: "+
			"it was deleted, and acknowledged entries may be missing from the log too; restore both from a backup (or compare the log "+
			"with a checkpoint held elsewhere) and run `cybercoop vault verify`", ack.path, path)
		ack.close()
		if err := os.Remove(ack.path); err != nil {
			return fail(fmt.Errorf("removing the acknowledgement record just created: %w", err))
		}
	case ackState.missing && l.lastSeq > 0:
		rec.ackCreated = true
	case ackState.missing:
	case l.lastSeq < ackState.seq:
		rec.missing = fmt.Errorf("custody log %s ends at entry %d but entry %d was acknowledged (recorded in %s): acknowledged entries are missing; "+
			"restore the log from a replica or backup and run `cybercoop vault verify`", path, l.lastSeq, ackState.seq, ack.path)
	case ackState.seq > 0 && ackedHash != ackState.hash:
		rec.missing = fmt.Errorf("custody log %s entry %d has hash %s but %s was acknowledged under that number: the log was rewritten; "+
			"restore it from a replica or backup", path, ackState.seq, ackedHash, ackState.hash)
	case l.lastSeq > ackState.seq+maxUnsyncedEntries:
		rec.missing = fmt.Errorf("custody log %s holds entries %d–%d after the last acknowledged entry %d; the vault never writes more than %d entries "+
			"past the last one it recorded as acknowledged, so these were added by something else", path, ackState.seq+maxUnsyncedEntries+1, l.lastSeq, ackState.seq, maxUnsyncedEntries)
	}
	if rec.missing != nil {
		// Change nothing: what is on disk is what a person must examine.
		l.broken = rec.missing
		return l, rec, nil //nolint:nilerr // the fault is reported in rec; the log stays open read-only for status and proofs

	}
	if tornAt >= 0 {
		if err := f.Truncate(tornAt); err != nil {
			return fail(fmt.Errorf("truncating torn final entry of custody log: %w", err))
		}
		if err := f.Sync(); err != nil {
			return fail(fmt.Errorf("syncing custody log: %w", err))
		}
	}
	if _, err := f.Seek(l.size, io.SeekStart); err != nil {
		return fail(err)
	}
	if ackState.missing || ackState.seq != l.lastSeq {
		if err := ack.write(l.lastSeq, l.lastHash); err != nil {
			return fail(err)
		}
	}
	return l, rec, nil
}

// append assigns the next sequence number and previous hash, appends the
// entry and waits until it is durable: written, fsynced, then recorded as
// acknowledged (see ackFile). An entry the caller sees as appended survives a
// crash, and a later start can tell it from one that was cut off. Callers hold
// v.mu, so nothing else is appended meanwhile; entries other ingests wrote
// before it become durable in the same fsync.
func (l *custodyLog) append(e Entry) (Entry, error) {
	e, _, err := l.appendLine(e)
	if err != nil {
		return e, err
	}
	return e, l.waitDurable(e.Seq)
}

// appendLine appends entry e and returns it with its log line without the
// newline (the Merkle leaf data). On a filesystem the entry is buffered for
// the group commit (groupcommit.go), not yet durable: the caller acknowledges
// nothing that depends on it before waitDurable(e.Seq) returned nil, and may
// release v.mu meanwhile so that other appends share the flush. On S3
// (segments set) each entry is made durable here, one by one (see
// appendSegment), whose failed write is cut back to the last whole entry; if
// even that fails the log refuses further appends rather than chain onto a
// torn line.
func (l *custodyLog) appendLine(e Entry) (Entry, []byte, error) {
	if l.broken != nil {
		return e, nil, fmt.Errorf("custody log is unusable: %w", l.broken)
	}
	if err := l.commit.failure(); err != nil {
		return e, nil, fmt.Errorf("custody log is unusable: %w", err)
	}
	if l.segments != nil {
		return l.appendSegment(e)
	}
	// Bound how far the log runs ahead of the acknowledgement record, which
	// is what lets a start tell entries cut off by a crash from entries added
	// by something else (see openCustodyLog).
	if l.lastSeq >= l.commit.durableSeq()+maxUnsyncedEntries {
		if err := l.waitDurable(l.lastSeq); err != nil {
			return e, nil, err
		}
	}
	e.Seq = l.lastSeq + 1
	e.Prev = l.lastHash
	e.Time = e.Time.UTC()
	e, line, err := encodeEntry(e)
	if err != nil {
		return e, nil, err
	}
	l.wrote(e, line)
	return e, line[:len(line)-1], nil
}

// appendSegment is appendLine on S3: write, fsync, the entry's segment PUT
// and the acknowledgement record, one entry at a time under v.mu. Segments
// are not batched: the bucket is the record, a later start reads it up to its
// first missing segment, and a batch whose PUTs completed out of order could
// leave an acknowledged entry behind a gap.
func (l *custodyLog) appendSegment(e Entry) (Entry, []byte, error) {
	e.Seq = l.lastSeq + 1
	e.Prev = l.lastHash
	e.Time = e.Time.UTC()
	e, line, err := encodeEntry(e)
	if err != nil {
		return e, nil, err
	}
	if _, err := l.f.Write(line); err != nil {
		l.rollback(err)
		return e, nil, fmt.Errorf("appending custody entry %d: %w", e.Seq, err)
	}
	if err := l.f.Sync(); err != nil {
		l.rollback(err)
		return e, nil, fmt.Errorf("syncing custody entry %d: %w", e.Seq, err)
	}
	if err := l.putSegment(e, line); err != nil {
		l.rollback(err)
		return e, nil, fmt.Errorf("storing custody entry %d in the bucket: %w", e.Seq, err)
	}
	if err := l.ack.write(e.Seq, e.Hash); err != nil {
		// The slot written may be torn; put the previous entry back in it,
		// or the next start would miss an entry it thinks acknowledged (and
		// refuse to serve, which is safe but needs a person).
		if rerr := l.ack.restore(l.lastSeq, l.lastHash); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restoring the acknowledgement record: %w", rerr))
		}
		l.rollback(err)
		return e, nil, fmt.Errorf("recording custody entry %d as acknowledged: %w", e.Seq, err)
	}
	l.wrote(e, line)
	l.commit.synced(position{seq: e.Seq, hash: e.Hash, size: l.size})
	return e, line[:len(line)-1], nil
}

// wrote takes entry e, whose line is appended to the log, into the log's
// description; on a filesystem it hands the line to the group commit, which
// writes it (appendSegment wrote it already). Callers hold v.mu.
func (l *custodyLog) wrote(e Entry, line []byte) {
	l.lastSeq, l.lastHash = e.Seq, e.Hash
	l.offsets = append(l.offsets, l.size)
	l.size += int64(len(line))
	l.tree.append(line[:len(line)-1])
	if l.segments == nil {
		l.commit.buffer(line, position{seq: e.Seq, hash: e.Hash, size: l.size})
	}
}

// entry reads and decodes entry seq (1 ≤ seq ≤ lastSeq) and checks that its
// line is the leaf the Merkle tree holds for it: a file changed under the
// running vault is reported, not believed.
func (l *custodyLog) entry(seq uint64) (Entry, error) {
	// Entries past the durable prefix may not be in the file yet.
	if seq == 0 || seq > uint64(len(l.offsets)) || seq > l.commit.durableSeq() {
		return Entry{}, fmt.Errorf("%w: no custody entry %d", ErrNotFound, seq)
	}
	end := l.size
	if seq < uint64(len(l.offsets)) {
		end = l.offsets[seq]
	}
	start := l.offsets[seq-1]
	if end-start < 1 || end-start > MaxEntryBytes {
		return Entry{}, fmt.Errorf("custody entry %d spans %d bytes of the log", seq, end-start)
	}
	buf := make([]byte, end-start)
	if _, err := l.f.ReadAt(buf, start); err != nil {
		return Entry{}, fmt.Errorf("reading custody entry %d: %w", seq, err)
	}
	line := bytes.TrimSuffix(buf, []byte{'\n'})
	leaf, err := l.tree.leaf(seq - 1)
	if err != nil {
		return Entry{}, err
	}
	if !bytes.Equal(leafHash(line), leaf) {
		return Entry{}, fmt.Errorf("custody entry %d in the log file differs from the entry the vault wrote (the file was changed under it); run `cybercoop vault verify`", seq)
	}
	return DecodeEntry(line)
}

// putSegment makes entry e durable in the bucket, if the log keeps segments.
// A failed write whose outcome is unknown (the store may have stored it) is
// resolved by asking the store: absent, the entry was not appended; present
// with e's hash, it was; anything else stops appends, since the sequence
// number can no longer be given to another entry.
func (l *custodyLog) putSegment(e Entry, line []byte) error {
	if l.segments == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), segmentTimeout)
	defer cancel()
	until := time.Time{}
	if l.segmentRetention != nil {
		until = l.segmentRetention(e)
	}
	err := l.segments.putSegment(ctx, e.Seq, line, e.Hash, until)
	if err == nil {
		return nil
	}
	exists, hash, herr := l.segments.segmentHash(ctx, e.Seq)
	switch {
	case herr == nil && !exists:
		return err
	case herr == nil && hash == e.Hash:
		return nil
	}
	if herr == nil {
		l.broken = fmt.Errorf("custody entry %d is already in the bucket with other content: another vault process writes to the same bucket and prefix, "+
			"or did; appends stop so that the chain does not fork (%w); stop the other process, then restart this one", e.Seq, err)
	} else {
		l.broken = fmt.Errorf("the outcome of storing custody entry %d is unknown (%w); appends stop until a restart reads the bucket", e.Seq, err)
	}
	return l.broken
}

func (l *custodyLog) rollback(cause error) {
	if err := l.f.Truncate(l.size); err != nil {
		l.broken = fmt.Errorf("%w; truncating back also failed: %w", cause, err)
		return
	}
	if _, err := l.f.Seek(l.size, io.SeekStart); err != nil {
		l.broken = err
	}
}

func (l *custodyLog) close() error {
	l.commit.close()
	l.ack.close()
	return l.f.Close()
}
