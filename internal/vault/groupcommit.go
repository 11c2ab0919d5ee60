package vault

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// Group commit of the custody log on a filesystem. An append assigns the
// entry its sequence number and previous hash under v.mu, as before, and
// encodes its line into a buffer; the Vault applies it to its state and may
// release v.mu. Before anything that depends on the entry is acknowledged,
// its appender waits until the entry is durable (waitDurable). The first
// waiter to find no flush running becomes the leader and, without v.mu:
//
//  1. makes durable the object files of the entries it flushes that are not
//     yet (small objects, written but not synced: fdatasync) and fsyncs the
//     directories object files were placed in, all at once (so no entry can
//     reach the disk before the object file it records, even by the
//     kernel's own writeback, and one flush syncs the objects of every
//     ingest it makes durable side by side);
//  2. writes every buffered line in one write and fsyncs the log;
//  3. records the last of them in the acknowledgement record (ackFile), and
//     fsyncs that;
//
// then wakes the waiters. Appends made meanwhile wait for the next flush,
// which the first of them leads: one fsync of each file serves every entry
// buffered while the previous flush ran (the scheme of Postgres's WAL flush
// and etcd's WAL batching). So:
//
//   - nothing is acknowledged before its entry and every entry before it are
//     durable and recorded as acknowledged (the waiter returns only then);
//   - a crash loses only entries nobody was told about, the trailing part of
//     one flush at most; a start keeps whole lines past the acknowledgement
//     record (at most maxUnsyncedEntries of them) and trims a torn one;
//   - checkpoints are signed only over the durable prefix (durableSeq), so no
//     signed checkpoint can cover an entry a crash may lose;
//   - a failed write, fsync or record write stops the log for good (Postgres
//     panics for the same reason: after a failed fsync the kernel may have
//     dropped the dirty pages, and a retry could report success over a hole).
//     Every waiter gets the error, nothing after the durable prefix is
//     acknowledged, and the vault refuses to serve until restarted.
//
// On S3 every append is made durable one by one under v.mu (appendSegment),
// and the group commit only mirrors its progress.

// maxUnsyncedEntries bounds how many entries the log may hold past the last
// one recorded as acknowledged: an append waits for a flush first when this
// many are pending. A start refuses a log that runs further ahead of its
// acknowledgement record, as added by something other than the vault.
const maxUnsyncedEntries = 64

// position is a point in the custody log: the entry with sequence number seq
// and hash hash, whose line ends at byte size.
type position struct {
	seq  uint64
	hash string
	size int64
}

type groupCommit struct {
	l    *custodyLog
	mu   sync.Mutex
	cond sync.Cond
	// written is the last entry appended, durable the last one durable and
	// recorded as acknowledged; buffered holds the lines between the two.
	written, durable position
	buffered         []byte
	// dirs are directories holding object files renamed for buffered entries.
	dirs map[string]bool
	// files are object files written for buffered entries whose data is not
	// yet durable; the flush that writes those entries syncs and closes them.
	files []*os.File
	// dirFiles keeps the directories the flushes sync open between flushes;
	// only the leader of a flush uses it.
	dirFiles map[string]*os.File
	flushing bool
	// err, once set, stops the log: a flush failed.
	err    error
	closed bool
	// fsync makes a file durable, and datasync the data of a file
	// overwritten in place (the acknowledgement record); tests replace them
	// to see what a power loss would keep.
	fsync, datasync func(*os.File) error
	// onBuffer, if set, is told of every entry buffered (tests).
	onBuffer func(seq uint64)
}

func (g *groupCommit) start(l *custodyLog, p position) {
	g.l = l
	g.cond.L = &g.mu
	g.written, g.durable = p, p
	if g.fsync == nil {
		g.fsync, g.datasync = (*os.File).Sync, syncData
	}
	l.ack.fsync = func(f *os.File) error { return g.datasync(f) }
}

// buffer queues line, the encoding of the entry at p, for the next flush.
func (g *groupCommit) buffer(line []byte, p position) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.buffered = append(g.buffered, line...)
	g.written = p
	if g.onBuffer != nil {
		g.onBuffer(p.seq)
	}
}

// syncDirFirst has the next flush fsync dir before it writes any entry
// buffered from now on: an object file renamed into dir must be durable
// before the entry that records it can be.
func (g *groupCommit) syncDirFirst(dir string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dirs == nil {
		g.dirs = map[string]bool{}
	}
	g.dirs[dir] = true
}

// syncFileFirst has the next flush make f's data durable, and fsync dir, the
// directory naming it, before it writes any entry buffered from now on; the
// flush closes f. f is the object file of the entry about to be appended.
func (g *groupCommit) syncFileFirst(f *os.File, dir string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.files = append(g.files, f)
	if g.dirs == nil {
		g.dirs = map[string]bool{}
	}
	g.dirs[dir] = true
}

// synced records p, written and made durable by the caller (appendSegment).
func (g *groupCommit) synced(p position) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.written, g.durable = p, p
}

func (g *groupCommit) durableSeq() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.durable.seq
}

// durablePosition is the end of the durable prefix: what checkpoints sign,
// proofs and reports cover and readers of the file may read.
func (g *groupCommit) durablePosition() position {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.durable
}

func (g *groupCommit) failure() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// waitDurable returns once entry seq (and so every entry before it) is
// durable and recorded as acknowledged, leading the flush that makes it so if
// none is running. It returns the flush's error if the entry never became
// durable. The caller may or may not hold v.mu: the flush never takes it.
func (l *custodyLog) waitDurable(seq uint64) error {
	g := &l.commit
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.durable.seq < seq {
		switch {
		case g.err != nil:
			return fmt.Errorf("custody entry %d was not made durable: %w", seq, g.err)
		case g.flushing:
			g.cond.Wait()
			continue
		case g.closed:
			return fmt.Errorf("custody entry %d was not made durable: the custody log was closed", seq)
		}
		target, lines, dirs, files := g.written, g.buffered, g.dirs, g.files
		g.buffered, g.dirs, g.files, g.flushing = nil, nil, nil, true
		g.mu.Unlock()
		err := l.flush(target, lines, dirs, files)
		g.mu.Lock()
		g.flushing = false
		if err != nil {
			g.err = err
		} else {
			g.durable = target
		}
		g.cond.Broadcast()
	}
	return nil
}

// flush makes the entries up to target durable: their objects and the
// directories of their objects, then their lines, then the acknowledgement
// record. Only the leader of a flush calls it, so it is the only writer of
// the file.
func (l *custodyLog) flush(target position, lines []byte, dirs map[string]bool, files []*os.File) error {
	g := &l.commit
	if err := g.syncObjects(dirs, files); err != nil {
		return fmt.Errorf("syncing objects before custody entry %d: %w", target.seq, err)
	}
	if len(lines) > 0 {
		if _, err := l.f.Write(lines); err != nil {
			return fmt.Errorf("writing custody entries up to %d: %w", target.seq, err)
		}
	}
	if err := g.fsync(l.f); err != nil {
		return fmt.Errorf("syncing custody entries up to %d: %w", target.seq, err)
	}
	if err := l.ack.write(target.seq, target.hash); err != nil {
		return fmt.Errorf("recording custody entry %d as acknowledged: %w", target.seq, err)
	}
	return nil
}

// syncObjects makes files' data durable and fsyncs dirs, side by side: each
// is one wait for the disk, and the disk serves them together. It closes
// files, whatever happens.
func (g *groupCommit) syncObjects(dirs map[string]bool, files []*os.File) error {
	if len(files)+len(dirs) == 0 {
		return nil
	}
	errs := make([]error, 0, len(files)+len(dirs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	failed := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	for _, f := range files {
		wg.Go(func() {
			err := g.datasync(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				failed(fmt.Errorf("object file %s: %w", f.Name(), err))
			}
		})
	}
	for dir := range dirs {
		// Only the leader of a flush opens directories (openDir).
		d, err := g.openDir(dir)
		if err != nil {
			failed(fmt.Errorf("directory %s: %w", dir, err))
			continue
		}
		wg.Go(func() {
			if err := g.fsync(d); err != nil {
				failed(fmt.Errorf("directory %s: %w", dir, err))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// openDir returns dir opened for fsync, kept open for the next flushes (a
// vault syncs the same few object directories over and over). Only the
// leader of a flush calls it.
func (g *groupCommit) openDir(dir string) (*os.File, error) {
	if d, ok := g.dirFiles[dir]; ok {
		return d, nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if g.dirFiles == nil {
		g.dirFiles = map[string]*os.File{}
	}
	g.dirFiles[dir] = d
	return d, nil
}

// close flushes what is buffered (its appenders may still be waiting) and
// stops the group commit; later waits fail.
func (g *groupCommit) close() {
	if g.l == nil {
		return
	}
	g.mu.Lock()
	seq := g.written.seq
	g.mu.Unlock()
	_ = g.l.waitDurable(seq) // an error is its appenders' to report
	g.mu.Lock()
	g.closed = true
	g.cond.Broadcast()
	for g.flushing {
		g.cond.Wait()
	}
	for _, d := range g.dirFiles { // no flush starts once closed
		d.Close()
	}
	for _, f := range g.files { // left by a failed flush
		f.Close()
	}
	g.dirFiles, g.files = nil, nil
	g.mu.Unlock()
}
