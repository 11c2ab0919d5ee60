package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
)

// Errors callers branch on. Each is wrapped with the object and the reason.
var (
	ErrNotFound        = errors.New("object not found")
	ErrNotAuthorised   = errors.New("not authorised")
	ErrRetentionActive = errors.New("retention has not ended")
	ErrUnderHold       = errors.New("object is under legal hold")
	ErrHoldConflict    = errors.New("legal hold conflict")
	// ErrUnavailable means the vault refuses to serve until a person acts
	// (for example acknowledged custody entries are missing).
	ErrUnavailable = errors.New("vault unavailable")
	// ErrExpectation means the object did not match the size or digest the
	// client declared for it.
	ErrExpectation = errors.New("object does not match what the client declared")
	// ErrVerifyRunning means a verification is already running.
	ErrVerifyRunning = errors.New("a verification is already running")
	// ErrCaseTaken means an exclusive case reference already names another
	// object (see CaseTakenError).
	ErrCaseTaken = errors.New("case reference names another object")
)

// CaseTakenError refuses an ingest of content other than the object an
// exclusive case reference names (Metadata.Exclusive). It is an
// ErrCaseTaken, answered 409 with field caseReference.
type CaseTakenError struct {
	// Digest is the object the case reference names, given only to a client
	// that may see that case (it ingested or relayed it, or holds the list
	// role); empty otherwise.
	Digest Digest
	// Sequence is the ingest entry of that case, with Digest.
	Sequence uint64
	// Recorded: the ingest declared its case new (Expectation.NewCase) and
	// the case reference names an object already, whatever its content
	// (Digest may then be the very content sent).
	Recorded bool
}

func (e *CaseTakenError) Error() string {
	switch {
	case e.Recorded && e.Digest == "":
		return "caseReference is taken: the ingest declared its case new, and the case reference names an object already"
	case e.Recorded:
		return fmt.Sprintf("caseReference already names %s (ingest entry %d); the ingest declared its case new, so nothing was stored", e.Digest, e.Sequence)
	case e.Digest == "":
		return "caseReference is taken: an exclusive case reference names another object; ingest under another case reference"
	}
	return fmt.Sprintf("caseReference already names %s (ingest entry %d) as an exclusive case: only that content may be ingested under it again", e.Digest, e.Sequence)
}

// Unwrap makes a CaseTakenError an ErrCaseTaken.
func (e *CaseTakenError) Unwrap() error { return ErrCaseTaken }

// Config configures a Vault.
type Config struct {
	// Dir holds the custody log and, unless Store is set, the objects.
	Dir string
	// Keyring seals new objects under its active version and opens old ones.
	Keyring *Keyring
	// Hash is the content-address algorithm of new objects; default SHA256.
	Hash HashAlgorithm
	// Clock supplies time; default SystemClock.
	Clock Clock
	// ChunkSize is the plaintext size of each sealed chunk; default DefaultChunkSize.
	ChunkSize int
	// Store keeps sealed objects; default an FSStore in Dir.
	Store BlobStore
	// Grants says which clients hold which role; nil means DefaultGrants.
	Grants Grants
	// Policy holds the metadata rules (minimum retention).
	Policy Policy
	// Signer signs checkpoints and export manifests. Nil: the vault uses
	// (creating it on first start) the key in Dir/checkpoint.key named
	// "cybercoop-vault"; a key from a Secret is better, because whoever can
	// write the data directory could then also sign.
	Signer *Signer
	// Logger receives operational messages; never keys or object contents.
	Logger logr.Logger
	// Metrics receives the vault's metrics; default a new registry.
	Metrics *Metrics
}

// Recovery reports what Open had to repair after an unclean stop.
type Recovery struct {
	// TornEntryBytes is the size of a torn final custody entry that was cut off.
	TornEntryBytes int `json:"tornEntryBytes,omitempty"`
	// TornEntryOffset is where it started in the log.
	TornEntryOffset int64 `json:"tornEntryOffset,omitempty"`
	// AckRecordCreated: the data directory had no acknowledgement record
	// (written by an earlier version); one was created from the log as found.
	AckRecordCreated bool `json:"ackRecordCreated,omitempty"`
	// Quarantined lists object files no custody entry accounted for: ingests
	// interrupted between committing the file and logging it, never acknowledged.
	Quarantined []Digest `json:"quarantined,omitempty"`
	// ExpiriesCompleted lists objects whose expiry was logged but whose file
	// removal was interrupted.
	ExpiriesCompleted []Digest `json:"expiriesCompleted,omitempty"`
}

func (r Recovery) empty() bool {
	return r.TornEntryBytes == 0 && !r.AckRecordCreated && len(r.Quarantined) == 0 && len(r.ExpiriesCompleted) == 0
}

func (r Recovery) String() string {
	var parts []string
	if r.TornEntryBytes > 0 {
		parts = append(parts, fmt.Sprintf("truncated a torn final custody entry of %d bytes at offset %d (never acknowledged)", r.TornEntryBytes, r.TornEntryOffset))
	}
	if r.AckRecordCreated {
		parts = append(parts, "created the acknowledgement record from the custody log as found (data directory from an earlier version)")
	}
	if len(r.Quarantined) > 0 {
		parts = append(parts, fmt.Sprintf("quarantined %d object file(s) with no ingest entry: %v", len(r.Quarantined), r.Quarantined))
	}
	if len(r.ExpiriesCompleted) > 0 {
		parts = append(parts, fmt.Sprintf("completed %d interrupted expiry(ies): %v", len(r.ExpiriesCompleted), r.ExpiriesCompleted))
	}
	return strings.Join(parts, "; ")
}

// Vault is the evidence store: sealed objects plus the custody log that is
// the authoritative record of what they are and what happened to them.
//
// Consistency rule: a change is acknowledged only after its custody entry is
// on disk and recorded as acknowledged. Ingest commits the object file before
// its entry (a crash in between leaves a file no entry accounts for,
// quarantined on start); expiry writes its entry before removing the file (a
// crash in between leaves a file the log says is gone, removed on start).
// Either way nothing acknowledged is lost and nothing unrecorded becomes
// evidence.
type Vault struct {
	cfg     Config
	store   BlobStore
	keyring atomic.Pointer[Keyring]
	metrics *Metrics
	log     logr.Logger
	lock    *os.File
	grants  Grants
	signer  *Signer

	verifying sync.Mutex // one verification at a time

	// checkpointSigning makes ingests waiting for a checkpoint share one
	// signature; lastCheckpoint is the latest signed for them (durableCheckpoint).
	checkpointSigning sync.Mutex
	lastCheckpoint    atomic.Pointer[SignedCheckpoint]

	mu         sync.Mutex // guards custody, state, lastVerify, fault
	custody    *custodyLog
	state      *custodyState
	lastVerify *VerifyStatus
	recovery   Recovery
	// fault, when set, is why the vault refuses to serve.
	fault error
	// uploading are the objects being uploaded ahead of their ingest entry (S3),
	// each closed when its ingest is recorded or has failed.
	uploading map[Digest]chan struct{}
	// removalPending are expired objects whose removal the store refused
	// (its retain-until date, on its own clock, is not reached yet); Expire
	// tries them again, and so does the next start.
	removalPending map[Digest]bool
}

// VerifyStatus summarises the last verification.
type VerifyStatus struct {
	Time     time.Time `json:"time"`
	OK       bool      `json:"ok"`
	Findings int       `json:"findings"`
	Sequence uint64    `json:"sequence"`
	// Entries, Objects and Bytes are what the verification covered.
	Entries uint64 `json:"entries"`
	Objects int    `json:"objects"`
	Bytes   int64  `json:"bytes"`
	// Message summarises the result and the first findings in one line of
	// at most MaxVerifyMessage bytes; FirstFindings are the first few in
	// full. Both may name objects and references, so /status shows them only
	// to holders of the verify or list role.
	Message       string   `json:"message,omitempty"`
	FirstFindings []string `json:"firstFindings,omitempty"`
}

const custodyLogName = "custody.log"

// Open opens or creates the vault in cfg.Dir and recovers from an unclean
// stop: a torn final custody entry that was never acknowledged is truncated,
// unaccounted object files are quarantined, interrupted expiries are
// completed, and all of it is recorded in a recover entry. Open refuses a
// custody log whose chain is broken and a keyring that changed a key
// version. If acknowledged custody entries are missing, Open repairs nothing
// and returns a vault that refuses every request (Fault says why), so that
// probes report it not ready.
func Open(cfg Config) (*Vault, error) {
	if cfg.Dir == "" {
		return nil, errors.New("vault: data directory is required")
	}
	if cfg.Keyring == nil {
		return nil, errors.New("vault: keyring is required")
	}
	if cfg.Hash == "" {
		cfg.Hash = SHA256
	}
	if _, err := ParseHashAlgorithm(string(cfg.Hash)); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.ChunkSize < 0 || cfg.ChunkSize > maxChunkSize {
		return nil, fmt.Errorf("vault: chunk size %d is outside 1…%d bytes", cfg.ChunkSize, maxChunkSize)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.Grants == nil {
		cfg.Grants = DefaultGrants()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	v := &Vault{cfg: cfg, metrics: cfg.Metrics, log: cfg.Logger, state: newCustodyState(), grants: cfg.Grants}
	v.keyring.Store(cfg.Keyring)

	// One process per data directory: two writers would fork the chain.
	lock, err := os.OpenFile(filepath.Join(cfg.Dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("vault: data directory %s is in use by another vault process: %w", cfg.Dir, err)
	}
	v.lock = lock

	ok := false
	defer func() {
		if !ok {
			v.Close()
		}
	}()
	if v.signer = cfg.Signer; v.signer == nil {
		if v.signer, err = dataDirSigner(cfg.Dir); err != nil {
			return nil, fmt.Errorf("vault: %w", err)
		}
	}
	v.store = cfg.Store
	if v.store == nil {
		if v.store, err = NewFSStore(cfg.Dir); err != nil {
			return nil, fmt.Errorf("vault: %w", err)
		}
	}
	if s3store, onS3 := v.store.(*S3Store); onS3 {
		if err := v.openS3Custody(s3store); err != nil {
			if !errors.Is(err, ErrStorageUnusable) {
				return nil, fmt.Errorf("vault: %w", err)
			}
			// Refuse to serve, saying why: /status and the EvidenceVault's
			// StorageBound condition carry the reason.
			v.fault = err
			v.log.Error(err, "refusing to serve: the S3 bucket does not protect evidence as the vault requires")
			ok = true
			return v, nil
		}
	}
	if err := v.openLog(); err != nil {
		return nil, err
	}
	ok = true
	return v, nil
}

// openLog opens the custody log (on S3, the working copy openS3Custody
// rebuilt), replays it and recovers the store, as Open describes. A log that
// lacks acknowledged history sets the fault and is not an error. Nothing else
// runs on the vault meanwhile (Open, or RecheckStorage under v.mu).
func (v *Vault) openLog() error {
	cfg := v.cfg
	s3store, onS3 := v.store.(*S3Store)
	var replayErr error
	custody, rec, err := openCustodyLog(filepath.Join(cfg.Dir, custodyLogName), func(e Entry) error {
		if err := v.state.apply(e); err != nil && replayErr == nil {
			replayErr = fmt.Errorf("custody entry %d: %w", e.Seq, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	v.custody = custody
	if onS3 {
		custody.segments = s3store
		custody.segmentRetention = v.segmentRetention(s3store)
	}
	if replayErr != nil {
		return fmt.Errorf("vault: custody log is inconsistent: %w; run `cybercoop vault verify`", replayErr)
	}
	// After the replay, so that a key version with no recorded fingerprint
	// (keyring.fingerprints deleted or edited) is tried on its objects.
	if err := checkKeyFingerprints(cfg.Dir, cfg.Keyring, v.keyOpensObjects(cfg.Keyring)); err != nil {
		return fmt.Errorf("vault: --keyring: %w", err)
	}
	if rec.missing != nil {
		v.fault = rec.missing
		v.log.Error(rec.missing, "refusing to serve: the custody log lacks acknowledged history; nothing was repaired")
		return nil //nolint:nilerr // the fault is the vault's state (it refuses to serve), not a failure to open
	}
	if err := syncDir(cfg.Dir); err != nil {
		return err
	}
	v.recovery = Recovery{TornEntryBytes: rec.tornBytes, TornEntryOffset: rec.tornOffset, AckRecordCreated: rec.ackCreated}
	if err := v.recoverStore(); err != nil {
		return fmt.Errorf("vault: recovery: %w", err)
	}
	if !v.recovery.empty() {
		v.log.Info("recovered from an unclean stop", "recovery", v.recovery.String())
		if _, err := v.custody.append(Entry{Time: v.now(), Actor: SystemActor, Action: ActionRecover, Detail: v.recovery.String()}); err != nil {
			return fmt.Errorf("vault: recording recovery: %w", err)
		}
	}
	if missing := v.missingKeyVersions(cfg.Keyring); len(missing) > 0 {
		v.log.Info("keyring lacks key versions that live objects are sealed under; reading those objects answers 503 until the keys are restored", "missingVersions", missing)
	}
	v.updateInventoryLocked()
	return nil
}

// dataDirSigner loads or creates the checkpoint signing key kept in the data
// directory when none is configured.
func dataDirSigner(dir string) (*Signer, error) {
	path := filepath.Join(dir, "checkpoint.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		skey, _, gerr := GenerateSigningKey("cybercoop-vault")
		if gerr != nil {
			return nil, gerr
		}
		if err := writeFileDurably(path, []byte(skey+"\n")); err != nil {
			return nil, fmt.Errorf("writing checkpoint signing key: %w", err)
		}
		b = []byte(skey)
	} else if err != nil {
		return nil, fmt.Errorf("reading checkpoint signing key: %w", err)
	}
	s, err := LoadSigner(b)
	if err != nil {
		return nil, fmt.Errorf("checkpoint signing key %s: %w", path, err)
	}
	return s, nil
}

func (v *Vault) recoverStore() error {
	for d := range v.state.expired {
		exists, err := v.store.Exists(d)
		if err != nil {
			return err
		}
		if exists {
			if err := v.store.Remove(d); errors.Is(err, ErrLockRefused) {
				v.deferRemoval(d, err)
				continue
			} else if err != nil {
				return err
			}
			v.recovery.ExpiriesCompleted = append(v.recovery.ExpiriesCompleted, d)
		}
	}
	objects, _, err := v.store.List()
	if err != nil {
		return err
	}
	for _, d := range objects {
		if _, live := v.state.live[d]; live {
			continue
		}
		// Never delete what might be evidence: set it aside for a person to judge.
		if err := v.store.Quarantine(d); err != nil {
			return err
		}
		v.recovery.Quarantined = append(v.recovery.Quarantined, d)
	}
	slices.Sort(v.recovery.ExpiriesCompleted)
	return nil
}

// Close releases the custody log and the data-directory lock.
func (v *Vault) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	var err error
	if v.custody != nil {
		err = v.custody.close()
		v.custody = nil
	}
	if v.lock != nil {
		v.lock.Close()
		v.lock = nil
	}
	return err
}

// Recovery reports what Open repaired.
func (v *Vault) Recovery() Recovery { return v.recovery }

// Fault reports why the vault refuses to serve, or nil.
func (v *Vault) Fault() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.faultLocked()
}

// faultLocked is Fault: the vault's own fault, or the failure that stopped
// its custody log. Callers hold v.mu.
func (v *Vault) faultLocked() error {
	if v.fault == nil && v.custody != nil {
		if err := v.custody.commit.failure(); err != nil {
			return fmt.Errorf("the custody log stopped; restart the vault: %w", err)
		}
	}
	return v.fault
}

// Metrics returns the vault's metrics.
func (v *Vault) Metrics() *Metrics { return v.metrics }

// Keyring returns the keyring in use.
func (v *Vault) Keyring() *Keyring { return v.keyring.Load() }

// Grants returns who holds which role.
func (v *Vault) Grants() Grants { return v.grants }

// Policy returns the metadata rules.
func (v *Vault) Policy() Policy { return v.cfg.Policy }

// VerifierKey is the public key that verifies the vault's checkpoints and
// export manifests.
func (v *Vault) VerifierKey() string { return v.signer.VerifierKey() }

func (v *Vault) now() time.Time { return v.cfg.Clock.Now().UTC() }

// usable reports the fault or closed state; callers hold v.mu.
func (v *Vault) usable() error {
	if v.fault != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, v.fault)
	}
	if v.custody == nil {
		return fmt.Errorf("%w: vault is closed", ErrUnavailable)
	}
	if err := v.custody.commit.failure(); err != nil {
		return fmt.Errorf("%w: the custody log stopped; restart the vault: %w", ErrUnavailable, err)
	}
	return nil
}

// unlockSettled releases v.mu, then waits until every custody entry appended
// so far is durable, and returns err, or the failure that kept one from
// becoming durable. An answer computed under v.mu may rest on an ingest not
// yet durable (an object listed, a case reference taken); it is given only
// once that ingest is durable, so no answer tells of something a crash could
// still undo.
func (v *Vault) unlockSettled(err error) error {
	var seq uint64
	if v.custody != nil {
		seq = v.custody.lastSeq
	}
	return v.unlockSettledAt(seq, err)
}

// unlockSettledAt is unlockSettled for an answer that rests on custody
// entries up to seq only (0: on none that can be pending).
func (v *Vault) unlockSettledAt(seq uint64, err error) error {
	c := v.custody
	v.mu.Unlock()
	if c == nil || seq == 0 {
		return err
	}
	if werr := c.waitDurable(seq); werr != nil && err == nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, werr)
	}
	return err
}

func (v *Vault) authorise(actor Identity, role Role) error {
	if !v.grants.Allows(actor, role) {
		return fmt.Errorf("%w: %s does not hold the %s role", ErrNotAuthorised, actor.Name(), role)
	}
	return nil
}

// ReloadKeyring switches to kr for new writes and reads. It refuses a keyring
// that lacks a version live objects are sealed under, or that holds a
// different key under a version used before, because accepting either would
// make evidence unreadable by a configuration mistake.
func (v *Vault) ReloadKeyring(kr *Keyring) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if missing := v.missingKeyVersions(kr); len(missing) > 0 {
		return fmt.Errorf("new keyring (%s) lacks key versions %v that live objects are sealed under; keeping the current keyring", kr, missing)
	}
	if err := checkKeyFingerprints(v.cfg.Dir, kr, v.keyOpensObjects(kr)); err != nil {
		return fmt.Errorf("%w; keeping the current keyring", err)
	}
	v.keyring.Store(kr)
	return nil
}

// keyOpensObjects returns a check that kr's key under a version opens the
// first chunk of a live object sealed under it (the first of up to three
// whose file and header are intact). AES-GCM does not authenticate under a wrong key, so
// a key version whose fingerprint was never recorded cannot be swapped for
// another key once objects use it. Callers hold v.mu or run before serving.
func (v *Vault) keyOpensObjects(kr *Keyring) func(uint32) error {
	return func(version uint32) error {
		tried := 0
		var last error
		for _, o := range v.state.live {
			if o.keyVersion != version || tried == 3 {
				continue
			}
			f, err := v.store.Open(o.digest)
			if err != nil {
				continue
			}
			r, err := openSealedAs(f, kr, o.digest, o.size, version)
			if err != nil {
				// A missing or damaged header says nothing about the key.
				f.Close()
				continue
			}
			tried++
			_, err = r.Read(make([]byte, 1))
			r.Close()
			if err == nil || errors.Is(err, io.EOF) {
				return nil
			}
			last = err
		}
		if tried == 0 {
			return nil
		}
		return fmt.Errorf("%w: the key under version %d has no recorded fingerprint and opens none of the %d object(s) tried that are sealed under it "+
			"(last: %v); restore the original key and keyring.fingerprints", ErrKeyChanged, version, tried, last)
	}
}

func (v *Vault) missingKeyVersions(kr *Keyring) []uint32 {
	var missing []uint32
	for _, o := range v.state.live {
		if _, err := kr.key(o.keyVersion); err != nil && !slices.Contains(missing, o.keyVersion) {
			missing = append(missing, o.keyVersion)
		}
	}
	slices.Sort(missing)
	return missing
}

// IngestResult reports a stored object.
type IngestResult struct {
	Digest     Digest `json:"digest"`
	Size       int64  `json:"size"`
	KeyVersion uint32 `json:"keyVersion"`
	// Duplicate is true when the vault already held this content; the data
	// was not stored again, and this ingest's case (authorisation, retention,
	// hold) was attached to the existing object.
	Duplicate bool `json:"duplicate"`
	// Sequence is the custody entry recording this ingest.
	Sequence uint64 `json:"sequence"`
	// Holds lists the legal holds in force on the object after the ingest,
	// under the cases the client may see (as a listing shows them).
	Holds []string `json:"holds"`
	// OtherHolds counts the holds in force under cases the client may not
	// see (another client's case of the same content), unnamed.
	OtherHolds int `json:"otherHolds,omitempty"`
	// RetentionUntil is the object's retention after the ingest: the latest
	// of every case's.
	RetentionUntil time.Time `json:"retentionUntil"`
	// Entry is the custody log line of this ingest's entry, without its
	// newline: the Merkle leaf data, for VerifyInclusion with the proof of
	// entry Sequence (GET /v1/proof/inclusion?seq=Sequence&size=…).
	Entry []byte `json:"entry"`
	// Checkpoint is a signed checkpoint (C2SP signed note) of the durable
	// log once this ingest's entries are durable, so of a size of at least
	// Sequence (more if a default hold was recorded too).
	Checkpoint string `json:"checkpoint"`
	// InclusionProof is the RFC 6962 inclusion proof of entry Sequence in
	// the log Checkpoint commits to (what GET /v1/proof/inclusion answers for
	// them), so the client need not ask for it; VerifyInclusion checks it.
	InclusionProof [][]byte `json:"inclusionProof,omitempty"`
}

// Expectation is what a client declares about the object it sends; the
// ingest fails, and nothing is kept, if the stream differs.
type Expectation struct {
	// Size is the object's length in bytes; negative means not declared.
	Size int64
	// Digest is the object's content address; empty means not declared. Its
	// algorithm must be the vault's.
	Digest Digest
	// NewCase declares that the case reference names no object yet: an
	// ingest under a case that names one already, even of the same content,
	// is refused (CaseTakenError, Recorded) instead of attached. A client that
	// records something once per case (the gateway, a request) so learns of
	// an earlier record in the answer to its ingest, without asking first.
	NewCase bool
}

// NoExpectation declares nothing.
var NoExpectation = Expectation{Size: -1}

// Ingest streams r into the vault. The object is acknowledged (returned
// without error) only once the sealed file and its custody entry are durable,
// and only if r ended with io.EOF (a stream cut off is an error, never the end
// of an object) and matched want. Content the vault already holds is not
// stored twice: this ingest's metadata is attached to the existing object,
// which is then retained until every case lets go.
func (v *Vault) Ingest(ctx context.Context, actor Identity, m Metadata, r io.Reader, want Expectation) (IngestResult, error) {
	res, err := v.ingest(ctx, actor, m, r, want)
	if err != nil {
		v.metrics.ingest.WithLabelValues("failed").Inc()
		return res, err
	}
	v.metrics.ingestBytes.Add(float64(res.Size))
	if res.Duplicate {
		v.metrics.ingest.WithLabelValues("duplicate").Inc()
	} else {
		v.metrics.ingest.WithLabelValues("stored").Inc()
	}
	return res, nil
}

func (v *Vault) ingest(ctx context.Context, actor Identity, m Metadata, r io.Reader, want Expectation) (IngestResult, error) {
	if err := v.authorise(actor, RoleIngest); err != nil {
		return IngestResult{}, err
	}
	if m.OnBehalfOf != nil && (!v.grants.Allows(actor, RoleRelay) || actor.certificate() == nil) {
		return IngestResult{}, fieldRefusal("onBehalfOf", "may be sent only by a client holding the relay role; %s does not hold it, and nothing was stored", actor.Name())
	}
	if err := m.Validate(v.now(), v.cfg.Policy); err != nil {
		return IngestResult{}, err
	}
	if want.Digest != "" && want.Digest.Algorithm() != v.cfg.Hash {
		return IngestResult{}, fmt.Errorf("%w: declared digest uses %s; this vault addresses objects by %s", ErrExpectation, want.Digest.Algorithm(), v.cfg.Hash)
	}
	m.AuthorisationExpiry = m.AuthorisationExpiry.UTC()
	m.RetentionUntil = m.RetentionUntil.UTC()
	v.mu.Lock()
	err := v.usable()
	if err == nil && want.NewCase {
		// Decided again with the append; refused here, the object is not read.
		err = v.caseRecorded(actor, m)
	}
	if err == nil && want.Digest != "" {
		// Decided again once the content is here; a declared digest lets a
		// refusal come before the object is read.
		err = v.caseTaken(actor, m, want.Digest)
	}
	if err != nil {
		// A refusal may rest on an ingest not yet durable: answer once it is.
		return IngestResult{}, v.unlockSettled(err)
	}
	v.mu.Unlock()
	pending, sealed, err := v.sealObject(ctx, r, want)
	if err != nil {
		return IngestResult{}, err
	}
	if want.Size >= 0 && sealed.size != want.Size {
		return IngestResult{}, abortPending(pending, fmt.Errorf("%w: received %d bytes, declared %d; nothing was stored", ErrExpectation, sealed.size, want.Size))
	}
	if want.Digest != "" && sealed.digest != want.Digest {
		return IngestResult{}, abortPending(pending, fmt.Errorf("%w: received content hashes to %s, declared %s; nothing was stored", ErrExpectation, sealed.digest, want.Digest))
	}
	// The slow part of committing the object runs before the lock, side by side
	// with other ingests (see uploadAhead): on a filesystem writing the file (and
	// for a streamed object the fsyncs of the file and its directory; a small
	// object's are the flush's, smallobject.go), on S3 the upload. Nothing is
	// acknowledged before the custody entry is durable, as before.
	release, err := v.uploadAhead(actor, pending, sealed.digest, m)
	if err != nil {
		return IngestResult{}, abortPending(pending, fmt.Errorf("ingest: %w", err))
	}
	defer release()
	v.mu.Lock()
	if err := v.usable(); err != nil {
		v.mu.Unlock()
		return IngestResult{}, abortPending(pending, err)
	}
	// Under the same lock as the append: of two ingests of different
	// content under one exclusive case reference, one is recorded; of two
	// declaring the same case new, one.
	err = v.caseTaken(actor, m, sealed.digest)
	if err == nil && want.NewCase {
		err = v.caseRecorded(actor, m)
	}
	if err != nil {
		// The refusal may rest on an ingest not yet durable: answer once it is.
		return IngestResult{}, abortPending(pending, v.unlockSettled(err))
	}
	res, last, err := v.recordIngest(actor, m, sealed, pending)
	custody := v.custody
	v.mu.Unlock()
	if err != nil {
		return IngestResult{}, err
	}
	// Other ingests append while this one waits, and share its flush.
	if err := custody.waitDurable(last); err != nil {
		return IngestResult{}, fmt.Errorf("ingest: %w", err)
	}
	cp, err := v.durableCheckpoint(last)
	if err == nil {
		res.InclusionProof, err = v.durableInclusionProof(res.Sequence, cp.Size)
	}
	if err != nil {
		return IngestResult{}, fmt.Errorf("ingest: recorded in custody entry %d, but signing a checkpoint or proving the entry in it failed; ingest it again for the receipt: %w", res.Sequence, err)
	}
	res.Checkpoint = string(cp.Note)
	return res, nil
}

// durableInclusionProof proves durable entry seq in the log's first size
// entries, for the client that appended it.
func (v *Vault) durableInclusionProof(seq, size uint64) ([][]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.usable(); err != nil {
		return nil, err
	}
	if size > v.custody.commit.durableSeq() {
		return nil, fmt.Errorf("no inclusion proof in %d entries: the log is durable up to %d", size, v.custody.commit.durableSeq())
	}
	return v.custody.tree.inclusionProof(seq-1, size)
}

// recordIngest records a sealed object: its file is committed unless the
// content is already held (then this ingest's case is attached to the
// existing object), then the ingest entry is appended and, by policy, the
// default hold. It returns the result, but for its checkpoint, and the last
// entry appended: nothing of it may be acknowledged before that entry is
// durable. The result carries the entry's log line (and the caller adds a
// checkpoint signed over it), so the client can prove the entry's inclusion
// without another request for either. Callers hold v.mu.
func (v *Vault) recordIngest(actor Identity, m Metadata, sealed sealResult, pending PendingBlob) (IngestResult, uint64, error) {
	who, via := actor, (*Identity)(nil)
	if m.OnBehalfOf != nil {
		// The relayed party is the actor; it is recorded once, as the cert.
		who, via = *m.OnBehalfOf, actor.certificate()
		m.OnBehalfOf = nil
	}
	entry := Entry{Time: v.now(), Actor: who.Name(), Cert: who.certificate(), Via: via, Action: ActionIngest, Object: sealed.digest,
		LegalBasis: m.LegalBasis, Reference: m.CaseReference, Metadata: &m, Size: sealed.size, KeyVersion: sealed.keyVersion}
	existing, duplicate := v.state.live[sealed.digest]
	if duplicate {
		if placedAhead(pending) {
			// uploadAhead places only content that is not live, and holds it
			// against other ingests of it until this one is recorded.
			return IngestResult{}, 0, fmt.Errorf("ingest: %s was put in place while it was live; nothing was recorded", sealed.digest)
		}
		// The content is already held, so the ingest succeeds whatever
		// happens to the redundant copy; a leftover temporary file is
		// removed on the next start.
		if err := pending.Abort(); err != nil {
			v.log.Error(err, "discarding the redundant copy of a duplicate ingest", "object", sealed.digest)
		}
		entry.Duplicate, entry.Attached = true, true
		entry.Size, entry.KeyVersion = existing.size, existing.keyVersion
		entry.Detail = fmt.Sprintf("content already held since entry %d; not stored again; this case's authorisation, retention and hold are attached", existing.first().ingestSeq)
		// This case's retention and hold reach the store's lock before the entry.
		lock := desiredLock(existing)
		lock.RetainUntil = later(lock.RetainUntil, m.RetentionUntil)
		lock.LegalHold = lock.LegalHold || v.holdsOnIngest(m)
		if err := v.lockAhead(sealed.digest, lock); err != nil {
			return IngestResult{}, 0, fmt.Errorf("ingest: %w", err)
		}
	} else if err := v.commitObject(pending, sealed.digest, m); err != nil {
		return IngestResult{}, 0, fmt.Errorf("ingest: %w", err)
	}
	entry.Detail = v.withDefaultHoldDetail(entry.Detail, m)
	e, line, err := v.custody.appendLine(entry)
	if err != nil {
		if !duplicate {
			// Not acknowledged, so the file must not linger as unrecorded evidence.
			if rerr := v.store.Remove(sealed.digest); rerr != nil {
				v.log.Error(rerr, "removing unrecorded object after a failed custody append; it will be quarantined on start", "object", sealed.digest)
			}
		}
		return IngestResult{}, 0, fmt.Errorf("ingest: %w", err)
	}
	if err := v.state.apply(e); err != nil {
		return IngestResult{}, 0, fmt.Errorf("ingest: %w", err)
	}
	if !duplicate {
		v.updateInventoryLocked()
	}
	last, err := v.placeDefaultHold(e, m)
	if err != nil {
		return IngestResult{}, 0, err
	}
	obj := v.state.live[sealed.digest]
	// The holds as the ingesting client may see them: another case's hold
	// is counted, not named.
	info := obj.info(v.caseFilter(actor))
	return IngestResult{Digest: sealed.digest, Size: obj.size, KeyVersion: obj.keyVersion, Duplicate: duplicate, Sequence: e.Seq,
		Holds: info.Holds, OtherHolds: info.OtherHolds, RetentionUntil: info.RetentionUntil, Entry: line}, max(e.Seq, last), nil
}

// caseTaken decides exclusive cases (Metadata.Exclusive) for an ingest of
// content d under m.CaseReference: refused if the reference names a live
// object with other content and either this ingest or that object's case
// under the reference is exclusive. The refusal names the object only if
// actor may see that case (it ingested or relayed it, or holds the list
// role). Callers hold v.mu.
func (v *Vault) caseTaken(actor Identity, m Metadata, d Digest) error {
	show := v.caseFilter(actor)
	taken := false
	for _, other := range v.state.byCase[m.CaseReference] {
		if other == d {
			continue
		}
		for _, c := range v.state.live[other].cases {
			if c.metadata.CaseReference != m.CaseReference || !m.Exclusive && !c.metadata.Exclusive {
				continue
			}
			if visible, _ := show(c); visible {
				return &CaseTakenError{Digest: other, Sequence: c.ingestSeq}
			}
			taken = true
		}
	}
	if taken {
		return &CaseTakenError{}
	}
	return nil
}

// caseRecorded refuses an ingest that declared its case new
// (Expectation.NewCase) if its case reference names a live object already,
// of any content. The refusal names the object only if actor may see that
// case (the rule of caseTaken). Callers hold v.mu.
func (v *Vault) caseRecorded(actor Identity, m Metadata) error {
	show := v.caseFilter(actor)
	taken := false
	for _, d := range v.state.byCase[m.CaseReference] {
		for _, c := range v.state.live[d].cases {
			if c.metadata.CaseReference != m.CaseReference {
				continue
			}
			if visible, _ := show(c); visible {
				return &CaseTakenError{Digest: d, Sequence: c.ingestSeq, Recorded: true}
			}
			taken = true
		}
	}
	if taken {
		return &CaseTakenError{Recorded: true}
	}
	return nil
}

// abortPending discards a partly written object after cause made the ingest
// fail, and reports a failure to discard it alongside cause (the temporary
// file is also removed on the next start).
func abortPending(pending PendingBlob, cause error) error {
	if err := pending.Abort(); err != nil {
		return errors.Join(cause, fmt.Errorf("discarding the partial object: %w", err))
	}
	return cause
}

// authoriseAccess enforces who may read or export: a holder of the read role
// presenting the authorisation reference of one of the object's cases before
// that authorisation expires. Errors never name a reference the caller did
// not present. Callers hold v.mu.
func (v *Vault) authoriseAccess(actor Identity, d Digest, authorisationRef string) (*objectState, caseState, error) {
	if err := v.usable(); err != nil {
		return nil, caseState{}, err
	}
	if err := v.authorise(actor, RoleRead); err != nil {
		return nil, caseState{}, err
	}
	obj, ok := v.state.live[d]
	if !ok {
		return nil, caseState{}, fmt.Errorf("%w: %s", ErrNotFound, d)
	}
	now := v.now()
	var expired *caseState
	lister := v.grants.Allows(actor, RoleList)
	for i, c := range obj.cases {
		if c.metadata.AuthorisationReference != authorisationRef {
			continue
		}
		if c.metadata.OwnerOnly && !lister && !ownsRecord(c.ingestedBy, c.cert, c.via, actor) {
			continue // the reference opens this case for its owner only
		}
		if now.Before(c.metadata.AuthorisationExpiry) {
			return obj, c, nil
		}
		expired = &obj.cases[i]
	}
	if expired != nil {
		return nil, caseState{}, fmt.Errorf("%w: the authorisation presented for %s expired at %s", ErrNotAuthorised, d, expired.metadata.AuthorisationExpiry.Format(time.RFC3339))
	}
	if !v.canSee(actor, obj) {
		// A client that presents no reference of the object and ingested
		// none of its cases learns nothing, not even that the content is
		// held: the answer is the one for an absent object.
		return nil, caseState{}, fmt.Errorf("%w: %s", ErrNotFound, d)
	}
	if authorisationRef == "" {
		return nil, caseState{}, fmt.Errorf("%w: header %s is required: present the authorisation reference the object was ingested under", ErrNotAuthorised, AuthorisationHeader)
	}
	return nil, caseState{}, fmt.Errorf("%w: the authorisation reference presented is not one %s was ingested under", ErrNotAuthorised, d)
}

// ObjectReader streams a verified object. Read returns io.EOF only after the
// whole plaintext matched the object's digest and recorded size; otherwise it
// returns an error wrapping ErrObjectCorrupt or ErrDigestMismatch before the
// final chunk is released.
type ObjectReader interface {
	io.ReadCloser
	// Info describes the object.
	Info() ObjectInfo
}

type verifiedObject struct {
	*objectReader
	info ObjectInfo
}

func (o verifiedObject) Info() ObjectInfo { return o.info }

// Read opens object d for actor, recording the access in the custody log
// before any byte is returned.
func (v *Vault) Read(ctx context.Context, actor Identity, d Digest, authorisationRef string) (ObjectReader, error) {
	info, err := v.recordAccess(actor, d, authorisationRef, ActionRead)
	if err != nil {
		return nil, err
	}
	return v.openVerified(info)
}

// AuthoriseRead checks that actor may read d with authorisationRef, without
// recording anything: the HTTP API asks before it verifies the object, so
// that a read entry is written only for a read that is then served.
func (v *Vault) AuthoriseRead(actor Identity, d Digest, authorisationRef string) (err error) {
	v.mu.Lock()
	defer func() { err = v.unlockSettled(err) }()
	_, _, err = v.authoriseAccess(actor, d, authorisationRef)
	return err
}

// CheckObject decrypts and hashes d in full without returning any of it: the
// HTTP API calls it before sending a status line, so that a damaged object
// is answered with an error instead of a complete-looking 200.
func (v *Vault) CheckObject(d Digest) error {
	v.mu.Lock()
	obj, ok := v.state.live[d]
	var info ObjectInfo
	if ok {
		info = obj.info(showAll)
	}
	v.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, d)
	}
	r, err := v.openVerified(info)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(io.Discard, r)
	return err
}

func (v *Vault) recordAccess(actor Identity, d Digest, authorisationRef string, action Action) (_ ObjectInfo, err error) {
	v.mu.Lock()
	defer func() { err = v.unlockSettled(err) }()
	obj, c, err := v.authoriseAccess(actor, d, authorisationRef)
	if err != nil {
		return ObjectInfo{}, err
	}
	if _, err := v.custody.append(Entry{Time: v.now(), Actor: actor.Name(), Cert: actor.certificate(), Action: action, Object: d,
		LegalBasis: c.metadata.LegalBasis, Reference: c.metadata.AuthorisationReference}); err != nil {
		return ObjectInfo{}, err
	}
	v.metrics.access.WithLabelValues(string(action)).Inc()
	return obj.info(v.caseFilter(actor)), nil
}

func (v *Vault) openVerified(info ObjectInfo) (ObjectReader, error) {
	f, err := v.store.Open(info.Digest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s is recorded as live but its file is missing; run verify", ErrObjectCorrupt, info.Digest)
	}
	if err != nil {
		return nil, err
	}
	r, err := openSealedAs(f, v.keyring.Load(), info.Digest, info.Size, info.KeyVersion)
	if err != nil {
		f.Close()
		return nil, err
	}
	return verifiedObject{objectReader: r, info: info}, nil
}

// caseFilter shows a caller the cases it ingested (or relayed, see
// ownsRecord) with their authorisation reference; a holder of the list role
// also sees the other cases, without their authorisation references.
func (v *Vault) caseFilter(actor Identity) func(caseState) (bool, bool) {
	lister := v.grants.Allows(actor, RoleList)
	return func(c caseState) (bool, bool) {
		own := ownsRecord(c.ingestedBy, c.cert, c.via, actor)
		return own || lister, own
	}
}

// canSee reports whether actor may know that obj exists: it ingested or
// relayed one of its cases, or it holds the list role. Callers hold v.mu.
func (v *Vault) canSee(actor Identity, obj *objectState) bool {
	show := v.caseFilter(actor)
	return slices.ContainsFunc(obj.cases, func(c caseState) bool { visible, _ := show(c); return visible })
}

// List returns the live objects actor may see, in ingest order: with the
// list role every object, otherwise the objects of the cases actor ingested
// or relayed.
func (v *Vault) List(actor Identity) (_ []ObjectInfo, err error) {
	v.mu.Lock()
	var shown uint64 // the last entry that changed an object listed
	defer func() { err = v.unlockSettledAt(shown, err) }()
	if err := v.usable(); err != nil {
		return nil, err
	}
	show := v.caseFilter(actor)
	out := make([]ObjectInfo, 0, len(v.state.live))
	for _, o := range v.state.live {
		if info := o.info(show); len(info.Cases) > 0 {
			out = append(out, info)
			shown = max(shown, o.changed)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IngestSequence < out[j].IngestSequence })
	return out, nil
}

// ListCase returns the live objects with a case under caseRef that actor
// may see (the rule of List), in ingest order. It looks the case up in the
// index kept with the state, so its cost does not grow with the vault.
func (v *Vault) ListCase(actor Identity, caseRef string) (_ []ObjectInfo, err error) {
	if err := ValidateReference("case", caseRef); err != nil {
		return nil, err
	}
	v.mu.Lock()
	var shown uint64 // the last entry that changed an object listed
	defer func() { err = v.unlockSettledAt(shown, err) }()
	if err := v.usable(); err != nil {
		return nil, err
	}
	show := v.caseFilter(actor)
	out := []ObjectInfo{}
	for _, d := range v.state.byCase[caseRef] {
		o := v.state.live[d]
		// Seeing the object is not enough: this case must be one the caller
		// sees, or the answer would tell it whose object carries the case.
		if slices.ContainsFunc(o.cases, func(c caseState) bool {
			visible, _ := show(c)
			return visible && c.metadata.CaseReference == caseRef
		}) {
			out = append(out, o.info(show))
			shown = max(shown, o.changed)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IngestSequence < out[j].IngestSequence })
	return out, nil
}

// Stat describes one live object, every case included (for the vault's own
// use and tests; the API filters through List).
func (v *Vault) Stat(d Digest) (_ ObjectInfo, err error) {
	v.mu.Lock()
	defer func() { err = v.unlockSettled(err) }()
	o, ok := v.state.live[d]
	if !ok {
		return ObjectInfo{}, fmt.Errorf("%w: %s", ErrNotFound, d)
	}
	return o.info(showAll), nil
}

// Hold places a legal hold on d under reference. While any hold is in force
// the object cannot be expired, whatever its retention.
func (v *Vault) Hold(actor Identity, d Digest, reference, legalBasis string) (Entry, error) {
	return v.changeHold(actor, d, reference, legalBasis, ActionHold)
}

// Release lifts the legal hold placed on d under reference (release role).
func (v *Vault) Release(actor Identity, d Digest, reference, legalBasis string) (Entry, error) {
	return v.changeHold(actor, d, reference, legalBasis, ActionRelease)
}

func (v *Vault) changeHold(actor Identity, d Digest, reference, legalBasis string, action Action) (_ Entry, err error) {
	role := RoleHold
	if action == ActionRelease {
		role = RoleRelease
	}
	if err := v.authorise(actor, role); err != nil {
		return Entry{}, err
	}
	if err := ValidateReference("reference", reference); err != nil {
		return Entry{}, err
	}
	if err := validateText("legalBasis", legalBasis, MaxLegalBasisLength); err != nil {
		return Entry{}, err
	}
	v.mu.Lock()
	defer func() { err = v.unlockSettled(err) }()
	if err := v.usable(); err != nil {
		return Entry{}, err
	}
	obj, ok := v.state.live[d]
	// A hold needs a relation to the object (one of its cases was ingested
	// by the caller, or the caller holds the list role): otherwise any
	// client could block the expiry of every object whose digest it can
	// guess, and probe which content the vault holds. Release is privileged.
	if !ok || action == ActionHold && !v.canSee(actor, obj) {
		return Entry{}, fmt.Errorf("%w: %s", ErrNotFound, d)
	}
	if action == ActionHold && obj.holds[reference] {
		return Entry{}, fmt.Errorf("%w: %s is already held under the reference given", ErrHoldConflict, d)
	}
	if action == ActionRelease && !obj.holds[reference] {
		return Entry{}, fmt.Errorf("%w: %s has no hold under the reference given", ErrHoldConflict, d)
	}
	if action == ActionHold {
		// The store's legal hold first: a crash after it leaves a lock stronger
		// than custody records, never a hold acknowledged but not enforced.
		if err := v.lockAhead(d, ObjectLock{RetainUntil: obj.retentionUntil(), LegalHold: true}); err != nil {
			return Entry{}, err
		}
	}
	e, err := v.custody.append(Entry{Time: v.now(), Actor: actor.Name(), Cert: actor.certificate(), Action: action, Object: d, LegalBasis: legalBasis, Reference: reference})
	if err != nil {
		return Entry{}, err
	}
	v.metrics.access.WithLabelValues(string(action)).Inc()
	if err := v.state.apply(e); err != nil {
		return e, err
	}
	if action == ActionRelease {
		v.syncLock(d)
	}
	return e, nil
}

// ExpireObject removes d if its retention has ended and no hold is in force;
// otherwise it refuses with ErrRetentionActive or ErrUnderHold.
func (v *Vault) ExpireObject(actor Identity, d Digest) (err error) {
	if err := v.authorise(actor, RoleExpire); err != nil {
		return err
	}
	v.mu.Lock()
	defer func() { err = v.unlockSettled(err) }()
	if err := v.usable(); err != nil {
		return err
	}
	return v.expireLocked(actor, d)
}

// Expire removes every object whose retention has ended and that is not
// under hold, and returns them.
func (v *Vault) Expire(actor Identity) (_ []Digest, err error) {
	if err := v.authorise(actor, RoleExpire); err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer func() { err = v.unlockSettled(err) }()
	if err := v.usable(); err != nil {
		return nil, err
	}
	v.retryRemovals()
	expired := []Digest{}
	now := v.now()
	for d, o := range v.state.live {
		if len(o.holds) > 0 || now.Before(o.retentionUntil()) {
			continue
		}
		if err := v.expireLocked(actor, d); err != nil {
			return expired, err
		}
		expired = append(expired, d)
	}
	slices.Sort(expired)
	return expired, nil
}

func (v *Vault) expireLocked(actor Identity, d Digest) error {
	obj, ok := v.state.live[d]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, d)
	}
	if len(obj.holds) > 0 {
		return fmt.Errorf("%w: %s is held under %d legal hold(s); every hold must be released first", ErrUnderHold, d, len(obj.holds))
	}
	now := v.now()
	until := obj.retentionUntil()
	if now.Before(until) {
		return fmt.Errorf("%w: %s must be retained until %s", ErrRetentionActive, d, until.Format(time.RFC3339))
	}
	// The entry goes first: a crash before the removal leaves a file the log
	// says is expired, which the next start removes.
	first := obj.first().metadata
	e, err := v.custody.append(Entry{Time: now, Actor: actor.Name(), Cert: actor.certificate(), Action: ActionExpire, Object: d, LegalBasis: first.LegalBasis,
		Reference: first.CaseReference, Detail: "retention ended " + until.Format(time.RFC3339)})
	if err != nil {
		return err
	}
	if err := v.state.apply(e); err != nil {
		return err
	}
	v.metrics.access.WithLabelValues(string(ActionExpire)).Inc()
	v.updateInventoryLocked()
	if err := v.store.Remove(d); errors.Is(err, ErrLockRefused) {
		// The store's clock has not reached the retain-until date the vault's
		// clock has: expected, not a fault to retry in a loop.
		v.deferRemoval(d, err)
	} else if err != nil {
		return fmt.Errorf("%s is expired in the custody log (entry %d) but removing its file failed; it will be removed on next start: %w", d, e.Seq, err)
	}
	return nil
}

// Status is the vault's summary for /status.
type Status struct {
	Objects int   `json:"objects"`
	Bytes   int64 `json:"bytes"`
	// Held is how many live objects are under at least one legal hold.
	Held int `json:"held"`
	// PastRetention is how many live objects are past their retention and under
	// no hold: they may be expired, and nothing expires them on its own.
	PastRetention int `json:"pastRetention"`
	// KeyVersionsInUse maps key version → live objects sealed under it.
	KeyVersionsInUse map[uint32]int `json:"keyVersionsInUse"`
	ActiveKeyVersion uint32         `json:"activeKeyVersion"`
	KeyringVersions  []uint32       `json:"keyringVersions"`
	CustodyEntries   uint64         `json:"custodyEntries"`
	HashAlgorithm    HashAlgorithm  `json:"hashAlgorithm"`
	LastVerification *VerifyStatus  `json:"lastVerification"`
	// LegalHoldDefault: every ingest without "hold": false is held (--legal-hold-default).
	LegalHoldDefault bool `json:"legalHoldDefault"`
	// VerifierKey is the public key that verifies the vault's checkpoints
	// (to compare with the key its signing key was issued for).
	VerifierKey string    `json:"verifierKey,omitempty"`
	Recovery    *Recovery `json:"recovery,omitempty"`
	// Storage says where evidence is kept and what lock the store enforces.
	Storage *StorageStatus `json:"storage,omitempty"`
	// Fault, when set, is why the vault refuses to serve.
	Fault string `json:"fault,omitempty"`
	// StorageFault is set when Fault is the store's: the bucket does not
	// protect evidence as required, or cannot be reached.
	StorageFault bool `json:"storageFault,omitempty"`
}

// Status reports inventory, keys and the last verification.
func (v *Vault) Status() Status {
	v.mu.Lock()
	// A failure to settle is the fault the next call reports.
	defer func() { _ = v.unlockSettled(nil) }()
	kr := v.keyring.Load()
	objects, bytes, versions := v.inventoryLocked()
	s := Status{Objects: objects, Bytes: bytes, KeyVersionsInUse: versions, ActiveKeyVersion: kr.Active(),
		KeyringVersions: kr.Versions(), HashAlgorithm: v.cfg.Hash, LastVerification: v.lastVerify,
		LegalHoldDefault: v.cfg.Policy.LegalHoldDefault}
	if v.signer != nil {
		s.VerifierKey = v.signer.VerifierKey()
	}
	now := v.now()
	for _, o := range v.state.live {
		switch {
		case len(o.holds) > 0:
			s.Held++
		case !now.Before(o.retentionUntil()):
			s.PastRetention++
		}
	}
	if v.custody != nil {
		s.CustodyEntries = v.custody.commit.durableSeq()
	}
	if !v.recovery.empty() {
		rec := v.recovery
		s.Recovery = &rec
	}
	s.Storage = v.storageStatusLocked()
	if fault := v.faultLocked(); fault != nil {
		s.Fault = fault.Error()
		s.StorageFault = errors.Is(fault, ErrStorageUnusable)
	}
	return s
}

func (v *Vault) inventoryLocked() (int, int64, map[uint32]int) {
	return v.state.inventory()
}

func (v *Vault) updateInventoryLocked() {
	v.metrics.setInventory(v.inventoryLocked())
}
