package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// How the vault runs on an S3 store (S3Store):
//
//   - The bucket is the record. Each custody entry is a segment object under
//     COMPLIANCE retention, written before the entry is acknowledged; the
//     custody.log in the data directory is a working copy rebuilt from the
//     segments at every start, so the data directory can be a scratch volume.
//     The acknowledgement record there only serves to notice, at the next
//     start, a bucket that lost an entry this process acknowledged.
//   - Objects are PUT with their own COMPLIANCE retain-until (the object's
//     retention) and legal hold (on while any hold is in force); a case that
//     attaches a later retention extends it, a hold sets the legal hold, the
//     release of the last hold clears it. Nothing relies on a bucket default.
//   - An expiry writes its entry, then deletes the object's versions; a store
//     whose clock has not reached the retain-until date refuses (ErrLockRefused)
//     and the removal waits for the next Expire or start.
//   - At start the bucket is checked (CheckBucket); a bucket that would let
//     evidence be deleted early makes the vault refuse to serve, saying why.

// startTimeout bounds the bucket check and the rebuild of the custody copy.
const startTimeout = 10 * time.Minute

// openS3Custody checks the bucket and rebuilds the working copy of the custody
// log (and its acknowledgement record) from the bucket's segments. Errors that
// mean the bucket cannot be trusted or reached wrap ErrStorageUnusable.
func (v *Vault) openS3Custody(s *S3Store) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.CheckBucket(ctx); err != nil {
		return err
	}
	log, overwritten, err := s.CustodyLog(ctx, 0)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStorageUnusable, err)
	}
	if len(overwritten) > 0 {
		v.log.Info("custody segments in the bucket have more than one version; the first version of each is the log (run verify)", "segments", overwritten)
	}
	var lastSeq uint64
	lastHash := genesisHash
	if n := bytes.LastIndexByte(log[:max(len(log)-1, 0)], '\n'); len(log) > 0 {
		e, err := DecodeEntry(log[n+1 : len(log)-1])
		if err != nil {
			return fmt.Errorf("%w: the last custody segment in bucket %s: %w", ErrStorageUnusable, s.Bucket(), err)
		}
		lastSeq, lastHash = e.Seq, e.Hash
	}
	logPath := filepath.Join(v.cfg.Dir, custodyLogName)
	ackPath := logPath + ".ack"
	// The copy from this process's last run may still be here (an emptyDir
	// survives a container restart): what it acknowledged must be in the bucket.
	if _, err := os.Stat(ackPath); err == nil {
		ack, st, err := openAckFile(ackPath)
		if err != nil {
			return err
		}
		ack.close()
		if st.seq > lastSeq {
			return fmt.Errorf("%w: custody entry %d was acknowledged by this vault but bucket %s holds entries up to %d only: acknowledged entries are missing from the store",
				ErrStorageUnusable, st.seq, s.Bucket(), lastSeq)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := writeFileDurably(logPath, log); err != nil {
		return fmt.Errorf("writing the working copy of the custody log: %w", err)
	}
	os.Remove(ackPath)
	ack, _, err := openAckFile(ackPath)
	if err != nil {
		return err
	}
	defer ack.close()
	return ack.write(lastSeq, lastHash)
}

// segmentRetention keeps a custody segment for the store's custody retention
// from now, and an ingest's segment at least as long as its object.
func (v *Vault) segmentRetention(s *S3Store) func(Entry) time.Time {
	return func(e Entry) time.Time {
		until := v.now().Add(s.cfg.CustodyRetention)
		if e.Metadata != nil && e.Metadata.RetentionUntil.After(until) {
			until = e.Metadata.RetentionUntil
		}
		return until
	}
}

// commitObject commits a new object, with its lock where the store keeps one:
// the retention m asks for, and a legal hold if m places one or the policy's
// default hold will. Callers hold v.mu.
func (v *Vault) commitObject(pending PendingBlob, d Digest, m Metadata) error {
	if sp, ok := pending.(*smallPending); ok && sp.placed != "" && v.custody.segments == nil {
		// Placed ahead, not synced: the flush that makes its entry durable
		// syncs it and its directory first (see smallobject.go).
		sp.syncedBy(&v.custody.commit)
		return nil
	}
	if fp, ok := pending.(*fsPending); ok && v.custody.segments == nil {
		// The directory fsync waits for the custody log's next flush, which
		// makes it durable before the entry recording the object (see
		// groupcommit.go). A crash before that flush leaves a file no entry
		// accounts for, which the next start quarantines.
		dir, err := fp.commitRename(d)
		if err == nil && dir != "" {
			v.custody.commit.syncDirFirst(dir)
		}
		return err
	}
	lp, ok := pending.(lockingPending)
	if !ok {
		return pending.Commit(d)
	}
	return lp.CommitLocked(d, ObjectLock{RetainUntil: m.RetentionUntil, LegalHold: v.holdsOnIngest(m)})
}

// aheadUploader is a PendingBlob that can be uploaded under its digest before
// the vault records it, outside the vault's lock; CommitLocked then only
// confirms the upload.
type aheadUploader interface {
	uploadAhead(d Digest, l ObjectLock) error
}

// uploadAhead uploads a new object before its ingest is recorded, without the
// vault's lock, so that reads, holds and other ingests go on meanwhile (on a
// filesystem: puts the file in place and syncs it, fsPending.uploadAhead). Content
// already live needs no upload (a duplicate); content another ingest is
// uploading is waited for, so that one version is stored per object. The
// returned release must be called once the ingest is recorded or has failed;
// an object uploaded but never recorded (the process died, the append failed) is
// quarantined at the next start, as on a filesystem.
func (v *Vault) uploadAhead(actor Identity, pending PendingBlob, d Digest, m Metadata) (func(), error) {
	up, ok := pending.(aheadUploader)
	if !ok {
		return func() {}, nil
	}
	for {
		v.mu.Lock()
		if err := v.usable(); err != nil {
			v.mu.Unlock()
			return nil, err
		}
		if _, live := v.state.live[d]; live {
			v.mu.Unlock()
			return func() {}, nil
		}
		if busy, ok := v.uploading[d]; ok {
			v.mu.Unlock()
			<-busy
			continue
		}
		// Decided again under the lock with the append; refused here, nothing is uploaded.
		if err := v.caseTaken(actor, m, d); err != nil {
			return nil, v.unlockSettled(err)
		}
		if v.uploading == nil {
			v.uploading = map[Digest]chan struct{}{}
		}
		done := make(chan struct{})
		v.uploading[d] = done
		v.mu.Unlock()
		release := func() {
			v.mu.Lock()
			delete(v.uploading, d)
			v.mu.Unlock()
			close(done)
		}
		if err := up.uploadAhead(d, ObjectLock{RetainUntil: m.RetentionUntil, LegalHold: v.holdsOnIngest(m)}); err != nil {
			release()
			return nil, err
		}
		return release, nil
	}
}

// holdsOnIngest reports whether an ingest with m places a hold: its own, or
// the policy's default hold.
func (v *Vault) holdsOnIngest(m Metadata) bool {
	return m.Hold || v.cfg.Policy.LegalHoldDefault && !m.DeclineDefaultHold
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// lockAhead sets the store's lock on d before custody records what asks for
// it (a hold, a case with a later retention): if the append then fails or the
// process dies, the store holds the object more strongly than custody says,
// which the next release or expiry undoes, never less strongly. A failure
// refuses the change. Callers hold v.mu.
func (v *Vault) lockAhead(d Digest, l ObjectLock) error {
	ls, ok := v.store.(lockingStore)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), segmentTimeout)
	defer cancel()
	if err := ls.SetLock(ctx, d, l); err != nil {
		return fmt.Errorf("%w: setting the store's lock on %s before recording it: %w", ErrUnavailable, d, err)
	}
	return nil
}

// desiredLock is the lock the custody record asks of o.
func desiredLock(o *objectState) ObjectLock {
	return ObjectLock{RetainUntil: o.retentionUntil(), LegalHold: len(o.holds) > 0}
}

// syncLock brings the store's lock on d to what custody records after a
// release: the legal hold off once no hold is in force. A failure leaves the
// store holding the object more strongly than custody says (expiry clears the
// legal hold before deleting). Callers hold v.mu.
func (v *Vault) syncLock(d Digest) {
	ls, ok := v.store.(lockingStore)
	if !ok {
		return
	}
	o, live := v.state.live[d]
	if !live {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), segmentTimeout)
	defer cancel()
	if err := ls.SetLock(ctx, d, desiredLock(o)); err != nil {
		v.log.Error(err, "the store's lock on an object lags behind its custody record; verification reports it", "object", d)
	}
}

// deferRemoval notes an expired object the store would not delete yet.
// Callers hold v.mu (or run before serving).
func (v *Vault) deferRemoval(d Digest, err error) {
	if v.removalPending == nil {
		v.removalPending = map[Digest]bool{}
	}
	v.removalPending[d] = true
	v.log.Info("the store refuses to delete an expired object until its own retain-until date; it is removed by a later expiry run or start",
		"object", d, "reason", err.Error())
}

// retryRemovals removes expired objects whose removal the store refused
// before. Callers hold v.mu.
func (v *Vault) retryRemovals() {
	for d := range v.removalPending {
		if err := v.store.Remove(d); err == nil {
			delete(v.removalPending, d)
		} else if !errors.Is(err, ErrLockRefused) {
			v.log.Error(err, "removing an expired object", "object", d)
		}
	}
}

// StorageStatus says where the vault keeps evidence and what protects it.
type StorageStatus struct {
	// Backend is "filesystem" or "s3".
	Backend string `json:"backend"`
	// Bucket is the S3 bucket (s3 only).
	Bucket string `json:"bucket,omitempty"`
	// LockMode is the store-enforced lock every object and custody segment
	// carries: "COMPLIANCE" on S3 with Object Lock; empty on a filesystem,
	// where only the vault enforces retention.
	LockMode string `json:"lockMode,omitempty"`
	// PendingRemovals counts expired objects the store has not let go yet.
	PendingRemovals int `json:"pendingRemovals,omitempty"`
}

// storageStatusLocked describes the store. Callers hold v.mu.
func (v *Vault) storageStatusLocked() *StorageStatus {
	if s, ok := v.store.(*S3Store); ok {
		st := &StorageStatus{Backend: "s3", Bucket: s.Bucket(), PendingRemovals: len(v.removalPending)}
		if v.fault == nil || !errors.Is(v.fault, ErrStorageUnusable) {
			st.LockMode = "COMPLIANCE"
		}
		return st
	}
	return &StorageStatus{Backend: "filesystem"}
}

// checkLock compares the store's lock on o with its custody record.
func checkLock(ctx context.Context, ls lockingStore, o *objectState) string {
	have, err := ls.Lock(ctx, o.digest)
	if err != nil {
		return "cannot read the store's lock: " + err.Error()
	}
	want := desiredLock(o)
	switch {
	case have.RetainUntil.Before(retainUntil(want.RetainUntil)):
		return fmt.Sprintf("the store retains the object until %s, but custody records a retention until %s (the store's lock lags; extended by the next hold, or by a person)",
			have.RetainUntil.UTC().Format(time.RFC3339), want.RetainUntil.UTC().Format(time.RFC3339))
	case want.LegalHold && !have.LegalHold:
		return "custody records a legal hold in force, but the store's legal hold on the object is off"
	}
	return ""
}

// RecheckStorage checks again a bucket the vault refused at start (the store
// unreachable, the credentials wrong, Object Lock not enabled yet); once the
// bucket passes, the vault rebuilds its custody log from it and serves. It does
// nothing unless the vault refuses to serve because of its storage; the
// command that serves the vault calls it periodically. A fault found past the
// bucket check (a broken custody chain) is kept: a person must act.
func (v *Vault) RecheckStorage() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.store.(*S3Store)
	if !ok || v.custody != nil || v.fault == nil || !errors.Is(v.fault, ErrStorageUnusable) {
		return nil
	}
	if err := v.openS3Custody(s); err != nil {
		v.fault = err
		return err
	}
	v.fault = nil
	v.state = newCustodyState()
	v.lastCheckpoint.Store(nil)
	if err := v.openLog(); err != nil {
		if v.custody != nil {
			v.custody.close()
			v.custody = nil
		}
		v.state = newCustodyState()
		v.fault = err
		return err
	}
	v.log.Info("the bucket passed its check; the vault serves", "bucket", s.Bucket())
	return nil
}
