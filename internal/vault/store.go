package vault

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// BlobStore keeps sealed object files by content address. It knows nothing
// about custody, retention or keys; the Vault enforces those. FSStore keeps
// them on the filesystem; S3Store (s3store.go) in an S3 bucket with Object
// Lock in COMPLIANCE mode, where each object is PUT with its retain-until date
// and legal hold (lockingStore, lockingPending) and Remove is refused by the
// store itself before that date.
type BlobStore interface {
	// Create starts a new object. Nothing is visible until Commit.
	Create() (PendingBlob, error)
	// Open opens the sealed bytes of d; fs.ErrNotExist if absent.
	Open(d Digest) (io.ReadCloser, error)
	// Exists reports whether d is stored.
	Exists(d Digest) (bool, error)
	// Remove deletes d durably. Absent objects are not an error.
	Remove(d Digest) error
	// List returns every stored object, plus names in the store that are not
	// content addresses (which verification reports).
	List() (objects []Digest, strays []string, err error)
	// Quarantine moves d aside where it is kept but no longer served.
	Quarantine(d Digest) error
}

// PendingBlob is an object being written.
type PendingBlob interface {
	io.Writer
	// Commit makes the object durable and atomically visible under d.
	Commit(d Digest) error
	// Abort discards the object.
	Abort() error
}

// FSStore is the filesystem BlobStore. Layout under its root:
//
//	objects/<algorithm>/<hex>   committed sealed objects
//	tmp/                        objects being written (removed on start)
//	quarantine/                 files no custody entry accounts for
//
// Every commit is: write to tmp, fsync the file, rename into objects/, fsync
// the directory. A crash therefore leaves either nothing or a whole object.
//
// Object files are written with direct I/O where the file system supports it
// (see directio.go), through the page cache otherwise.
type FSStore struct {
	root string
	// buffered disables direct I/O (for tests and the benchmark).
	buffered bool
}

// NewFSStore prepares root and discards leftovers in tmp/ from a crashed
// process: they were never committed, so nobody was told they were stored.
func NewFSStore(root string) (*FSStore, error) {
	s := &FSStore{root: root}
	for _, dir := range []string{s.dir(SHA256), s.dir(SHA512), s.tmpDir(), s.quarantineDir()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("object store %s: %w", root, err)
		}
	}
	if err := os.RemoveAll(s.tmpDir()); err != nil {
		return nil, fmt.Errorf("object store %s: clearing tmp: %w", root, err)
	}
	if err := os.Mkdir(s.tmpDir(), 0o700); err != nil {
		return nil, fmt.Errorf("object store %s: %w", root, err)
	}
	if err := syncDir(root); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *FSStore) dir(a HashAlgorithm) string { return filepath.Join(s.root, "objects", string(a)) }
func (s *FSStore) tmpDir() string             { return filepath.Join(s.root, "tmp") }
func (s *FSStore) quarantineDir() string      { return filepath.Join(s.root, "quarantine") }

// path is only ever called with a parsed Digest, whose algorithm and hex part
// cannot contain separators or dots.
func (s *FSStore) path(d Digest) string { return filepath.Join(s.dir(d.Algorithm()), d.Hex()) }

type fsPending struct {
	store   *FSStore
	f       *os.File
	direct  *directWriter // nil: writes go through the page cache
	done    bool
	written int64
	kicked  int64 // bytes handed to startWriteback so far
	// placed is where uploadAhead renamed the file: the object's own path,
	// not yet recorded by the vault.
	placed string
	closed bool // the file is closed (uploadAhead)
}

// uploadAhead puts the object in place under d before the vault records it,
// outside the vault's lock, so that ingests running side by side sync their
// objects together: rename into objects/, fsync the file, fsync the directory.
// (Renamed before its data is synced, the file may be partial after a crash;
// no custody entry can name it then, since its entry is appended only after
// this returns, and the next start quarantines it.) The vault calls it only
// for content that is not live and that no other ingest is putting in place
// (Vault.uploadAhead), so nothing evidence depends on is replaced. Commit
// then has nothing left to do; Abort removes the file again.
func (p *fsPending) uploadAhead(d Digest, _ ObjectLock) error {
	if p.done || p.placed != "" {
		return errors.New("object already placed, committed or aborted")
	}
	fail := func(err error) error {
		_ = p.Abort() // the temporary file; err is what matters
		return err
	}
	if p.direct != nil {
		// finish releases the writer whatever it returns; Abort must not again.
		_, err := p.direct.finish()
		p.direct = nil
		if err != nil {
			return fail(fmt.Errorf("writing object %s: %w", d, err))
		}
	}
	final := p.store.path(d)
	if err := os.Rename(p.f.Name(), final); err != nil {
		return fail(fmt.Errorf("placing object %s: %w", d, err))
	}
	p.placed = final
	if err := p.f.Sync(); err != nil {
		return fail(fmt.Errorf("syncing object %s: %w", d, err))
	}
	if err := p.f.Close(); err != nil {
		return fail(fmt.Errorf("closing object %s: %w", d, err))
	}
	p.closed = true
	if err := syncDir(p.store.dir(d.Algorithm())); err != nil {
		return fail(err)
	}
	return nil
}

// writebackStep is how much unsynced data a buffered ingest lets accumulate
// before asking the kernel to start writing it out.
const writebackStep = 8 << 20

// Create opens a temporary file in tmp/.
func (s *FSStore) Create() (PendingBlob, error) {
	f, err := os.CreateTemp(s.tmpDir(), "ingest-*")
	if err != nil {
		return nil, fmt.Errorf("creating temporary object file: %w", err)
	}
	p := &fsPending{store: s, f: f}
	// A file system without direct I/O refuses to switch it on; that is not
	// an error, the object is then written through the page cache.
	if !s.buffered && setDirectIO(f, true) == nil {
		p.direct = newDirectWriter(f)
	}
	return p, nil
}

func (p *fsPending) Write(b []byte) (int, error) {
	if p.direct != nil {
		return p.direct.Write(b)
	}
	n, err := p.f.Write(b)
	p.written += int64(n)
	if err == nil && p.written-p.kicked >= writebackStep {
		// An error here (other than "not supported", which startWriteback
		// swallows) is an I/O error the fsync would meet too; fail now.
		if err = startWriteback(p.f, p.kicked, p.written-p.kicked); err != nil {
			err = fmt.Errorf("starting writeback: %w", err)
		}
		p.kicked = p.written
	}
	return n, err
}

// lend and keep let the sealer encrypt straight into the direct writer's
// segments (see bufferLender); buffered writes lend nothing.
func (p *fsPending) lend(n int) ([]byte, error) {
	if p.direct == nil {
		return nil, nil
	}
	return p.direct.lend(n)
}

func (p *fsPending) keep(n int) error { return p.direct.keep(n) }

func (p *fsPending) Commit(d Digest) error {
	dir, err := p.commitRename(d)
	if err != nil || dir == "" {
		return err
	}
	return syncDir(dir)
}

// commitRename is Commit but for the last step, the fsync of the directory
// the file was renamed into, which it returns: the vault has the custody
// log's group commit sync it before the entry recording the object can be
// durable (groupcommit.go), so that ingests share that fsync too.
func (p *fsPending) commitRename(d Digest) (string, error) {
	if p.done {
		return "", errors.New("object already committed or aborted")
	}
	p.done = true
	if p.placed != "" {
		// In place and durable already (uploadAhead).
		return "", nil
	}
	tmp := p.f.Name()
	if p.direct != nil {
		if _, err := p.direct.finish(); err != nil {
			p.f.Close()
			os.Remove(tmp)
			return "", fmt.Errorf("writing object %s: %w", d, err)
		}
	}
	if err := p.f.Sync(); err != nil {
		p.f.Close()
		os.Remove(tmp)
		return "", fmt.Errorf("syncing object %s: %w", d, err)
	}
	if err := p.f.Close(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("closing object %s: %w", d, err)
	}
	if err := os.Rename(tmp, p.store.path(d)); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("committing object %s: %w", d, err)
	}
	return p.store.dir(d.Algorithm()), nil
}

func (p *fsPending) Abort() error {
	if p.done {
		return nil
	}
	p.done = true
	if p.direct != nil {
		p.direct.close()
	}
	if !p.closed {
		p.f.Close()
	}
	if p.placed != "" {
		// Placed ahead but never recorded: not evidence. Should the removal
		// not reach the disk, the next start quarantines the file.
		return os.Remove(p.placed)
	}
	return os.Remove(p.f.Name())
}

// Open opens the sealed file of d.
func (s *FSStore) Open(d Digest) (io.ReadCloser, error) { return os.Open(s.path(d)) }

// Exists reports whether d is stored.
func (s *FSStore) Exists(d Digest) (bool, error) {
	_, err := os.Lstat(s.path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Remove deletes d and syncs its directory so the deletion is durable.
func (s *FSStore) Remove(d Digest) error {
	if err := os.Remove(s.path(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing object %s: %w", d, err)
	}
	return syncDir(s.dir(d.Algorithm()))
}

// List walks objects/.
func (s *FSStore) List() ([]Digest, []string, error) {
	var objects []Digest
	var strays []string
	for _, a := range []HashAlgorithm{SHA256, SHA512} {
		entries, err := os.ReadDir(s.dir(a))
		if err != nil {
			return nil, nil, fmt.Errorf("listing objects: %w", err)
		}
		for _, e := range entries {
			d, err := ParseDigest(string(a) + ":" + e.Name())
			if err != nil || !e.Type().IsRegular() {
				strays = append(strays, filepath.Join("objects", string(a), e.Name()))
				continue
			}
			objects = append(objects, d)
		}
	}
	return objects, strays, nil
}

// Quarantine moves d into quarantine/ under a name that keeps earlier
// quarantined copies.
func (s *FSStore) Quarantine(d Digest) error {
	dst := filepath.Join(s.quarantineDir(), string(d.Algorithm())+"-"+d.Hex()+"-"+strconv.FormatInt(time.Now().UnixNano(), 10))
	if err := os.Rename(s.path(d), dst); err != nil {
		return fmt.Errorf("quarantining object %s: %w", d, err)
	}
	if err := syncDir(s.quarantineDir()); err != nil {
		return err
	}
	return syncDir(s.dir(d.Algorithm()))
}

// syncDir makes renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
