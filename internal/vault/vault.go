package vault

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
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
)

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
	// Readers lists the certificate subjects allowed to read and export;
	// empty means every authenticated actor (who must still present the
	// object's authorisation reference before it expires).
	Readers []string
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
	// Quarantined lists object files no custody entry accounted for: ingests
	// interrupted between committing the file and logging it, never acknowledged.
	Quarantined []Digest `json:"quarantined,omitempty"`
	// ExpiriesCompleted lists objects whose expiry was logged but whose file
	// removal was interrupted.
	ExpiriesCompleted []Digest `json:"expiriesCompleted,omitempty"`
}

func (r Recovery) empty() bool {
	return r.TornEntryBytes == 0 && len(r.Quarantined) == 0 && len(r.ExpiriesCompleted) == 0
}

func (r Recovery) String() string {
	var parts []string
	if r.TornEntryBytes > 0 {
		parts = append(parts, fmt.Sprintf("truncated a torn final custody entry of %d bytes at offset %d", r.TornEntryBytes, r.TornEntryOffset))
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
// on disk. Ingest commits the object file before its entry (a crash in
// between leaves a file no entry accounts for, quarantined on start); expiry
// writes its entry before removing the file (a crash in between leaves a file
// the log says is gone, removed on start). Either way nothing acknowledged is
// lost and nothing unrecorded becomes evidence.
type Vault struct {
	cfg     Config
	store   BlobStore
	keyring atomic.Pointer[Keyring]
	metrics *Metrics
	log     logr.Logger
	lock    *os.File

	mu         sync.Mutex // guards custody, state, lastVerify
	custody    *custodyLog
	state      *custodyState
	lastVerify *VerifyStatus
	recovery   Recovery
}

// VerifyStatus summarises the last verification.
type VerifyStatus struct {
	Time     time.Time `json:"time"`
	OK       bool      `json:"ok"`
	Findings int       `json:"findings"`
	Sequence uint64    `json:"sequence"`
}

const custodyLogName = "custody.log"

// Open opens or creates the vault in cfg.Dir and recovers from an unclean
// stop: a torn final custody entry is truncated, unaccounted object files are
// quarantined, interrupted expiries are completed, and all of it is recorded
// in a recover entry. Open refuses a custody log whose chain is broken.
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
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	v := &Vault{cfg: cfg, metrics: cfg.Metrics, log: cfg.Logger, state: newCustodyState()}
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
	v.store = cfg.Store
	if v.store == nil {
		if v.store, err = NewFSStore(cfg.Dir); err != nil {
			return nil, fmt.Errorf("vault: %w", err)
		}
	}
	var replayErr error
	custody, rec, err := openCustodyLog(filepath.Join(cfg.Dir, custodyLogName), func(e Entry) error {
		if err := v.state.apply(e); err != nil && replayErr == nil {
			replayErr = fmt.Errorf("custody entry %d: %w", e.Seq, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	v.custody = custody
	if replayErr != nil {
		return nil, fmt.Errorf("vault: custody log is inconsistent: %w; run `cybercoop vault verify`", replayErr)
	}
	if err := syncDir(cfg.Dir); err != nil {
		return nil, err
	}
	v.recovery = Recovery{TornEntryBytes: rec.tornBytes, TornEntryOffset: rec.tornOffset}
	if err := v.recoverStore(); err != nil {
		return nil, fmt.Errorf("vault: recovery: %w", err)
	}
	if !v.recovery.empty() {
		v.log.Info("recovered from an unclean stop", "recovery", v.recovery.String())
		if _, err := v.custody.append(Entry{Time: v.now(), Actor: SystemActor, Action: ActionRecover, Detail: v.recovery.String()}); err != nil {
			return nil, fmt.Errorf("vault: recording recovery: %w", err)
		}
	}
	if missing := v.missingKeyVersions(cfg.Keyring); len(missing) > 0 {
		v.log.Info("keyring lacks key versions that live objects are sealed under; those objects cannot be read", "missingVersions", missing)
	}
	v.updateInventory()
	ok = true
	return v, nil
}

func (v *Vault) recoverStore() error {
	for d := range v.state.expired {
		exists, err := v.store.Exists(d)
		if err != nil {
			return err
		}
		if exists {
			if err := v.store.Remove(d); err != nil {
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

// Metrics returns the vault's metrics.
func (v *Vault) Metrics() *Metrics { return v.metrics }

// Keyring returns the keyring in use.
func (v *Vault) Keyring() *Keyring { return v.keyring.Load() }

func (v *Vault) now() time.Time { return v.cfg.Clock.Now().UTC() }

// ReloadKeyring switches to kr for new writes and reads. It refuses a keyring
// that lacks a version live objects are sealed under, because accepting it
// would make evidence unreadable by a configuration mistake.
func (v *Vault) ReloadKeyring(kr *Keyring) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if missing := v.missingKeyVersions(kr); len(missing) > 0 {
		return fmt.Errorf("new keyring (%s) lacks key versions %v that live objects are sealed under; keeping the current keyring", kr, missing)
	}
	v.keyring.Store(kr)
	return nil
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
	// was not stored again, but the ingest was recorded.
	Duplicate bool `json:"duplicate"`
	// Sequence is the custody entry recording this ingest.
	Sequence uint64 `json:"sequence"`
}

// Ingest streams r into the vault. The object is acknowledged (returned
// without error) only once the sealed file and its custody entry are durable.
// Content the vault already holds is not stored twice; the ingest is logged
// as a duplicate and the existing object reported.
func (v *Vault) Ingest(ctx context.Context, actor string, m Metadata, r io.Reader) (IngestResult, error) {
	if err := m.Validate(v.now()); err != nil {
		v.metrics.ingest.WithLabelValues("failed").Inc()
		return IngestResult{}, err
	}
	m.AuthorisationExpiry = m.AuthorisationExpiry.UTC()
	m.RetentionUntil = m.RetentionUntil.UTC()
	res, err := v.ingest(ctx, actor, m, r)
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

func (v *Vault) ingest(ctx context.Context, actor string, m Metadata, r io.Reader) (IngestResult, error) {
	pending, err := v.store.Create()
	if err != nil {
		return IngestResult{}, err
	}
	sealed, err := sealStream(ctx, r, pending, v.keyring.Load(), v.cfg.Hash, v.cfg.ChunkSize)
	if err != nil {
		return IngestResult{}, abortPending(pending, fmt.Errorf("ingest: %w", err))
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	if v.custody == nil {
		return IngestResult{}, abortPending(pending, errors.New("ingest: vault is closed"))
	}
	entry := Entry{Time: v.now(), Actor: actor, Action: ActionIngest, Object: sealed.digest,
		LegalBasis: m.LegalBasis, Reference: m.CaseReference, Metadata: &m, Size: sealed.size, KeyVersion: sealed.keyVersion}
	if existing, ok := v.state.live[sealed.digest]; ok {
		// The content is already held, so the ingest succeeds whatever
		// happens to the redundant copy; a leftover temporary file is
		// removed on the next start.
		if err := pending.Abort(); err != nil {
			v.log.Error(err, "discarding the redundant copy of a duplicate ingest", "object", sealed.digest)
		}
		entry.Duplicate = true
		entry.KeyVersion = existing.keyVersion
		entry.Detail = fmt.Sprintf("content already held since entry %d; not stored again", existing.ingestSeq)
		e, err := v.custody.append(entry)
		if err != nil {
			return IngestResult{}, fmt.Errorf("ingest: %w", err)
		}
		return IngestResult{Digest: sealed.digest, Size: existing.size, KeyVersion: existing.keyVersion, Duplicate: true, Sequence: e.Seq}, nil
	}
	if err := pending.Commit(sealed.digest); err != nil {
		return IngestResult{}, fmt.Errorf("ingest: %w", err)
	}
	e, err := v.custody.append(entry)
	if err != nil {
		// Not acknowledged, so the file must not linger as unrecorded evidence.
		if rerr := v.store.Remove(sealed.digest); rerr != nil {
			v.log.Error(rerr, "removing unrecorded object after a failed custody append; it will be quarantined on start", "object", sealed.digest)
		}
		return IngestResult{}, fmt.Errorf("ingest: %w", err)
	}
	if err := v.state.apply(e); err != nil {
		return IngestResult{}, fmt.Errorf("ingest: %w", err)
	}
	v.updateInventoryLocked()
	return IngestResult{Digest: sealed.digest, Size: sealed.size, KeyVersion: sealed.keyVersion, Sequence: e.Seq}, nil
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

// authoriseAccess enforces who may read or export: a listed reader (if a list
// is configured) presenting the object's authorisation reference before it
// expires. Callers hold v.mu.
func (v *Vault) authoriseAccess(actor string, d Digest, authorisationRef string) (*objectState, error) {
	obj, ok := v.state.live[d]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, d)
	}
	if len(v.cfg.Readers) > 0 && !slices.Contains(v.cfg.Readers, actor) {
		return nil, fmt.Errorf("%w: %q is not a configured reader", ErrNotAuthorised, actor)
	}
	if authorisationRef != obj.metadata.AuthorisationReference {
		return nil, fmt.Errorf("%w: the authorisation reference presented does not match the one %s was ingested under", ErrNotAuthorised, d)
	}
	if now := v.now(); !now.Before(obj.metadata.AuthorisationExpiry) {
		return nil, fmt.Errorf("%w: authorisation %q for %s expired at %s", ErrNotAuthorised,
			obj.metadata.AuthorisationReference, d, obj.metadata.AuthorisationExpiry.Format(time.RFC3339))
	}
	return obj, nil
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
func (v *Vault) Read(ctx context.Context, actor string, d Digest, authorisationRef string) (ObjectReader, error) {
	info, err := v.recordAccess(actor, d, authorisationRef, ActionRead)
	if err != nil {
		return nil, err
	}
	return v.openVerified(info)
}

func (v *Vault) recordAccess(actor string, d Digest, authorisationRef string, action Action) (ObjectInfo, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	obj, err := v.authoriseAccess(actor, d, authorisationRef)
	if err != nil {
		return ObjectInfo{}, err
	}
	if _, err := v.custody.append(Entry{Time: v.now(), Actor: actor, Action: action, Object: d,
		LegalBasis: obj.metadata.LegalBasis, Reference: obj.metadata.AuthorisationReference}); err != nil {
		return ObjectInfo{}, err
	}
	v.metrics.access.WithLabelValues(string(action)).Inc()
	return obj.info(), nil
}

func (v *Vault) openVerified(info ObjectInfo) (ObjectReader, error) {
	f, err := v.store.Open(info.Digest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s is recorded as live but its file is missing; run verify", ErrObjectCorrupt, info.Digest)
	}
	if err != nil {
		return nil, err
	}
	r, err := openSealed(f, v.keyring.Load(), info.Digest, info.Size)
	if err != nil {
		f.Close()
		return nil, err
	}
	return verifiedObject{objectReader: r, info: info}, nil
}

// List returns the live objects in ingest order.
func (v *Vault) List() []ObjectInfo {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]ObjectInfo, 0, len(v.state.live))
	for _, o := range v.state.live {
		out = append(out, o.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IngestSequence < out[j].IngestSequence })
	return out
}

// Stat describes one live object.
func (v *Vault) Stat(d Digest) (ObjectInfo, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	o, ok := v.state.live[d]
	if !ok {
		return ObjectInfo{}, fmt.Errorf("%w: %s", ErrNotFound, d)
	}
	return o.info(), nil
}

// Hold places a legal hold on d under reference. While any hold is in force
// the object cannot be expired, whatever its retention.
func (v *Vault) Hold(actor string, d Digest, reference, legalBasis string) (Entry, error) {
	return v.changeHold(actor, d, reference, legalBasis, ActionHold)
}

// Release lifts the legal hold placed on d under reference.
func (v *Vault) Release(actor string, d Digest, reference, legalBasis string) (Entry, error) {
	return v.changeHold(actor, d, reference, legalBasis, ActionRelease)
}

func (v *Vault) changeHold(actor string, d Digest, reference, legalBasis string, action Action) (Entry, error) {
	if err := ValidateReference("reference", reference); err != nil {
		return Entry{}, err
	}
	if err := validateText("legalBasis", legalBasis, MaxLegalBasisLength); err != nil {
		return Entry{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	obj, ok := v.state.live[d]
	if !ok {
		return Entry{}, fmt.Errorf("%w: %s", ErrNotFound, d)
	}
	if action == ActionHold && obj.holds[reference] {
		return Entry{}, fmt.Errorf("%w: %s is already held under %q", ErrHoldConflict, d, reference)
	}
	if action == ActionRelease && !obj.holds[reference] {
		return Entry{}, fmt.Errorf("%w: %s has no hold under %q (holds: %v)", ErrHoldConflict, d, reference, slices.Sorted(maps.Keys(obj.holds)))
	}
	e, err := v.custody.append(Entry{Time: v.now(), Actor: actor, Action: action, Object: d, LegalBasis: legalBasis, Reference: reference})
	if err != nil {
		return Entry{}, err
	}
	v.metrics.access.WithLabelValues(string(action)).Inc()
	return e, v.state.apply(e)
}

// ExpireObject removes d if its retention has ended and no hold is in force;
// otherwise it refuses with ErrRetentionActive or ErrUnderHold.
func (v *Vault) ExpireObject(actor string, d Digest) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.expireLocked(actor, d)
}

// Expire removes every object whose retention has ended and that is not
// under hold, and returns them.
func (v *Vault) Expire(actor string) ([]Digest, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var expired []Digest
	now := v.now()
	for d, o := range v.state.live {
		if len(o.holds) > 0 || now.Before(o.metadata.RetentionUntil) {
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

func (v *Vault) expireLocked(actor string, d Digest) error {
	obj, ok := v.state.live[d]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, d)
	}
	if len(obj.holds) > 0 {
		return fmt.Errorf("%w: %s is held under %v; release every hold first", ErrUnderHold, d, slices.Sorted(maps.Keys(obj.holds)))
	}
	now := v.now()
	if now.Before(obj.metadata.RetentionUntil) {
		return fmt.Errorf("%w: %s must be retained until %s", ErrRetentionActive, d, obj.metadata.RetentionUntil.Format(time.RFC3339))
	}
	// The entry goes first: a crash before the removal leaves a file the log
	// says is expired, which the next start removes.
	e, err := v.custody.append(Entry{Time: now, Actor: actor, Action: ActionExpire, Object: d, LegalBasis: obj.metadata.LegalBasis,
		Reference: obj.metadata.CaseReference, Detail: "retention ended " + obj.metadata.RetentionUntil.Format(time.RFC3339)})
	if err != nil {
		return err
	}
	if err := v.state.apply(e); err != nil {
		return err
	}
	v.metrics.access.WithLabelValues(string(ActionExpire)).Inc()
	v.updateInventoryLocked()
	if err := v.store.Remove(d); err != nil {
		return fmt.Errorf("%s is expired in the custody log (entry %d) but removing its file failed; it will be removed on next start: %w", d, e.Seq, err)
	}
	return nil
}

// ExportManifest is the first member of an export archive.
type ExportManifest struct {
	Object ObjectInfo `json:"object"`
	// ExportSequence is the custody entry recording this export; the custody
	// member holds every entry naming the object up to and including it.
	ExportSequence uint64    `json:"exportSequence"`
	ExportedAt     time.Time `json:"exportedAt"`
	ExportedBy     string    `json:"exportedBy"`
}

// Export writes a tar archive of d with its custody record to w:
//
//	manifest.json   ExportManifest
//	custody.jsonl   every custody entry naming d, verbatim, so each entry's
//	                hash can be checked by the recipient
//	object          the verified plaintext
//
// The object member comes last and the archive is closed only after the
// digest verified, so a failure leaves a visibly truncated archive.
func (v *Vault) Export(ctx context.Context, actor string, d Digest, authorisationRef string, w io.Writer) error {
	v.mu.Lock()
	obj, err := v.authoriseAccess(actor, d, authorisationRef)
	if err != nil {
		v.mu.Unlock()
		return err
	}
	e, err := v.custody.append(Entry{Time: v.now(), Actor: actor, Action: ActionExport, Object: d,
		LegalBasis: obj.metadata.LegalBasis, Reference: obj.metadata.AuthorisationReference})
	if err != nil {
		v.mu.Unlock()
		return err
	}
	info := obj.info()
	logSize := v.custody.size
	v.mu.Unlock()
	v.metrics.access.WithLabelValues(string(ActionExport)).Inc()

	var custody []byte
	logFile, err := os.Open(filepath.Join(v.cfg.Dir, custodyLogName))
	if err != nil {
		return err
	}
	defer logFile.Close()
	needle := []byte(`"object":"` + string(d) + `"`)
	err = scanLog(io.NewSectionReader(logFile, 0, logSize), func(l logLine) error {
		if l.complete && strings.Contains(string(l.text), string(needle)) {
			custody = append(append(custody, l.text...), '\n')
		}
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("export %s: reading custody log: %w", d, err)
	}
	manifest, err := json.MarshalIndent(ExportManifest{Object: info, ExportSequence: e.Seq, ExportedAt: e.Time, ExportedBy: actor}, "", "  ")
	if err != nil {
		return err
	}
	r, err := v.openVerified(info)
	if err != nil {
		return fmt.Errorf("export %s: %w", d, err)
	}
	defer r.Close()
	tw := tar.NewWriter(w)
	for _, m := range []struct {
		name string
		body []byte
	}{{"manifest.json", manifest}, {"custody.jsonl", custody}} {
		if err := tw.WriteHeader(&tar.Header{Name: m.name, Mode: 0o400, Size: int64(len(m.body)), ModTime: e.Time, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(m.body); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "object", Mode: 0o400, Size: info.Size, ModTime: e.Time, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, r); err != nil {
		return fmt.Errorf("export %s: %w", d, err)
	}
	return tw.Close()
}

// Status is the vault's summary for /status.
type Status struct {
	Objects int   `json:"objects"`
	Bytes   int64 `json:"bytes"`
	// KeyVersionsInUse maps key version → live objects sealed under it.
	KeyVersionsInUse map[uint32]int `json:"keyVersionsInUse"`
	ActiveKeyVersion uint32         `json:"activeKeyVersion"`
	KeyringVersions  []uint32       `json:"keyringVersions"`
	CustodyEntries   uint64         `json:"custodyEntries"`
	HashAlgorithm    HashAlgorithm  `json:"hashAlgorithm"`
	LastVerification *VerifyStatus  `json:"lastVerification"`
	Recovery         *Recovery      `json:"recovery,omitempty"`
}

// Status reports inventory, keys and the last verification.
func (v *Vault) Status() Status {
	v.mu.Lock()
	defer v.mu.Unlock()
	kr := v.keyring.Load()
	objects, bytes, versions := v.inventoryLocked()
	s := Status{Objects: objects, Bytes: bytes, KeyVersionsInUse: versions, ActiveKeyVersion: kr.Active(),
		KeyringVersions: kr.Versions(), HashAlgorithm: v.cfg.Hash, LastVerification: v.lastVerify}
	if v.custody != nil {
		s.CustodyEntries = v.custody.lastSeq
	}
	if !v.recovery.empty() {
		rec := v.recovery
		s.Recovery = &rec
	}
	return s
}

func (v *Vault) inventoryLocked() (int, int64, map[uint32]int) {
	var bytes int64
	versions := map[uint32]int{}
	for _, o := range v.state.live {
		bytes += o.size
		versions[o.keyVersion]++
	}
	return len(v.state.live), bytes, versions
}

func (v *Vault) updateInventory() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.updateInventoryLocked()
}

func (v *Vault) updateInventoryLocked() {
	v.metrics.setInventory(v.inventoryLocked())
}
