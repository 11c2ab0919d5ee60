package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Small objects on a filesystem.
//
// Most of what a gateway stores is a few kilobytes: a request document, its
// receipt, a status update. For them the streaming path (sealStream through
// a direct-I/O writer into a temporary file, then rename, fsync of the file
// and of its directory) costs far more than the bytes: goroutines, a padded
// direct write and a truncate, and two or three syncs of their own per
// object. An object whose whole stream fits in smallObjectMax bytes is
// instead read into memory, sealed there in the same format (seal.go), and
// written to its place in objects/ in one write, outside the vault's lock.
// Its custody entry is then appended, and the custody log's next flush makes
// the object durable before the entry (groupCommit.syncFileFirst):
//
//   - the flush fdatasyncs the file and fsyncs its directory before it
//     writes any entry appended after the object was placed, and does so for
//     every object of the flush at once, beside the directory fsync they
//     share: a batch of ingests waits for the disk once for their objects,
//     instead of each ingest waiting for its object's sync, then its
//     directory's, then the flush;
//   - so nothing is acknowledged, and no entry can reach the disk, before
//     its object is durable, as for a streamed object (fsPending.uploadAhead);
//   - a crash before the entry is durable leaves at most a file no entry
//     names, partial perhaps, which the next start quarantines, as for a
//     placed streamed object: nothing acknowledged can be missing;
//   - a failed sync of an object stops the custody log, as a failed sync of
//     the log does (groupcommit.go): its entry may be in the log already.
//
// Placing the file without a temporary name is sound for the same reason
// uploadAhead's rename over the object's path is: the vault places only
// content that is not live and that no other ingest is placing
// (Vault.uploadAhead reserves it until the entry is recorded).

// smallObjectMax is the largest object sealed in memory. Eight ingests at
// once hold at most twice this much each.
const smallObjectMax = 64 << 10

// smallHeads recycles the read-ahead buffers of ingests of undeclared size.
var smallHeads = sync.Pool{New: func() any { b := make([]byte, smallObjectMax+1); return &b }}

// sealObject reads, seals and hashes an ingest's stream: a small one in memory
// (see above), anything else through sealStream into a new pending object of
// the store. A stream whose declared size is small is read up to one byte past
// it, so that an object longer than declared still fails as such. On error no
// pending object is left.
func (v *Vault) sealObject(ctx context.Context, r io.Reader, want Expectation) (PendingBlob, sealResult, error) {
	fs, onFS := v.store.(*FSStore)
	if onFS && want.Size <= smallObjectMax {
		if err := ctx.Err(); err != nil {
			return nil, sealResult{}, fmt.Errorf("ingest: %w", err)
		}
		var head []byte
		if want.Size >= 0 {
			head = make([]byte, want.Size+1)
		} else {
			pooled := smallHeads.Get().(*[]byte)
			defer smallHeads.Put(pooled)
			head = *pooled
		}
		n, eof, err := fillChunk(r, head)
		if err != nil {
			return nil, sealResult{}, fmt.Errorf("ingest: reading object stream after %d bytes: %w", n, err)
		}
		if eof {
			return fs.sealSmall(head[:n], v.keyring.Load(), v.cfg.Hash, v.cfg.ChunkSize)
		}
		// Longer than a small object: what was read ahead goes first.
		r = io.MultiReader(bytes.NewReader(head[:n]), r)
	}
	pending, err := v.store.Create()
	if err != nil {
		return nil, sealResult{}, err
	}
	sealed, err := sealStream(ctx, r, pending, v.keyring.Load(), v.cfg.Hash, v.cfg.ChunkSize)
	if err != nil {
		return nil, sealResult{}, abortPending(pending, fmt.Errorf("ingest: %w", err))
	}
	return pending, sealed, nil
}

// sealBytes seals plain as sealStream would: chunks of chunkSize plaintext
// bytes, the last one flagged (an empty object is one empty final chunk).
func sealBytes(plain []byte, kr *Keyring, alg HashAlgorithm, chunkSize int) ([]byte, sealResult, error) {
	if chunkSize <= 0 || chunkSize > maxChunkSize {
		return nil, sealResult{}, fmt.Errorf("chunk size %d is outside 1…%d bytes", chunkSize, maxChunkSize)
	}
	version := kr.Active()
	master, err := kr.key(version)
	if err != nil {
		return nil, sealResult{}, err
	}
	var hdr sealHeader
	copy(hdr[:8], sealMagic)
	binary.BigEndian.PutUint32(hdr[8:12], version)
	binary.BigEndian.PutUint32(hdr[12:16], uint32(chunkSize))
	if _, err := rand.Read(hdr[16:36]); err != nil {
		return nil, sealResult{}, err
	}
	aead, err := objectAEAD(master, hdr.salt())
	if err != nil {
		return nil, sealResult{}, err
	}
	chunks := max(1, (len(plain)+chunkSize-1)/chunkSize)
	out := make([]byte, 0, sealHeaderSize+len(plain)+chunks*gcmTagSize)
	out = append(out, hdr[:]...)
	var nonce [12]byte
	copy(nonce[:4], hdr.noncePrefix())
	aad := append(hdr[:], 0)
	for seq := range chunks {
		start, end := seq*chunkSize, min((seq+1)*chunkSize, len(plain))
		binary.BigEndian.PutUint64(nonce[4:], uint64(seq))
		aad[sealHeaderSize] = 0
		if seq == chunks-1 {
			aad[sealHeaderSize] = 1
		}
		out = aead.Seal(out, nonce[:], plain[start:end], aad)
	}
	h := alg.new()
	h.Write(plain)
	return out, sealResult{digest: newDigest(alg, h.Sum(nil)), size: int64(len(plain)), keyVersion: version}, nil
}

// sealSmall seals plain in memory into a pending object of s.
func (s *FSStore) sealSmall(plain []byte, kr *Keyring, alg HashAlgorithm, chunkSize int) (PendingBlob, sealResult, error) {
	sealed, res, err := sealBytes(plain, kr, alg, chunkSize)
	if err != nil {
		return nil, sealResult{}, fmt.Errorf("ingest: %w", err)
	}
	return &smallPending{store: s, sealed: sealed}, res, nil
}

// smallPending is a small object sealed in memory, not yet in the store.
type smallPending struct {
	store  *FSStore
	sealed []byte
	// placed is the object's path once written there (uploadAhead), dir
	// the directory whose fsync makes that name durable, f the file, open
	// until its data is synced (by the custody log's flush once handed to
	// it: syncedBy).
	placed, dir string
	f           *os.File
	done        bool
}

// Write refuses: the object was sealed whole before the pending object was made.
func (p *smallPending) Write([]byte) (int, error) {
	return 0, errors.New("a small object is sealed whole; nothing more can be written to it")
}

// uploadAhead writes the object to its path in one write, not synced: the
// custody log's flush syncs it before the entry recording it (syncedBy). The
// vault calls it only for content that is not live and that no other ingest
// is placing, so an existing file at the path is no evidence (one left by a
// failed ingest) and is replaced.
func (p *smallPending) uploadAhead(d Digest, _ ObjectLock) error {
	if p.done || p.placed != "" {
		return errors.New("object already placed, committed or aborted")
	}
	path := p.store.path(d)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("placing object %s: %w", d, err)
	}
	p.placed, p.dir, p.f = path, p.store.dir(d.Algorithm()), f
	if _, err := f.Write(p.sealed); err != nil {
		_ = p.Abort() // the file; err is what matters
		return fmt.Errorf("writing object %s: %w", d, err)
	}
	p.sealed = nil
	return nil
}

// syncedBy hands the placed object to the custody log's group commit, which
// makes it durable (and closes it) before any entry appended from now on.
// The vault calls it, under its lock, right before appending the object's
// ingest entry.
func (p *smallPending) syncedBy(g *groupCommit) {
	g.syncFileFirst(p.f, p.dir)
	p.f, p.done = nil, true
}

// Commit makes the object durable and visible under d on its own; the vault
// places it ahead instead and has the custody log's flush sync it.
func (p *smallPending) Commit(d Digest) error {
	if p.done {
		return errors.New("object already committed or aborted")
	}
	if p.placed == "" {
		if err := p.uploadAhead(d, ObjectLock{}); err != nil {
			return err
		}
	}
	err := p.store.syncData(p.f)
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	p.f, p.done = nil, true
	if err != nil {
		_ = os.Remove(p.placed)
		return fmt.Errorf("syncing object %s: %w", d, err)
	}
	return syncDir(p.dir)
}

// Abort removes the object if it was placed but not recorded. Should the
// removal not reach the disk, the next start quarantines the file.
func (p *smallPending) Abort() error {
	if p.done {
		return nil
	}
	p.done = true
	p.sealed = nil
	if p.f != nil {
		p.f.Close()
		p.f = nil
	}
	if p.placed != "" {
		return os.Remove(p.placed)
	}
	return nil
}

// placedAhead reports whether an ingest's object file was put in its place
// before its custody entry was appended (uploadAhead).
func placedAhead(p PendingBlob) bool {
	switch p := p.(type) {
	case *fsPending:
		return p.placed != ""
	case *smallPending:
		return p.placed != ""
	}
	return false
}

// syncData makes the data of a small object file durable (fdatasync): with
// the fsync of its directory, everything needed to read it back.
func (s *FSStore) syncData(f *os.File) error { return syncData(f) }
