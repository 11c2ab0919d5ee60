package vault

import (
	"errors"
	"os"
	"sync"
	"unsafe"
)

// Direct I/O for object files.
//
// A buffered write makes the kernel copy every byte into the page cache, and
// on the ingest path that copy costs about as much CPU as SHA-256 itself —
// CPU the hasher and sealer need. Object files are written once, sequentially,
// fsynced and not read back soon, so the page cache buys nothing: where the
// file system supports it, FSStore writes them with O_DIRECT from aligned
// segments instead. The sealer encrypts straight into the segments (lend and
// keep), so ciphertext is never copied in user space either. Full segments
// are written by background goroutines at explicit offsets while the sealer
// fills the next one. The last segment is padded to the alignment and the
// file truncated back to its real length before the fsync; a segment's
// unaligned tail is carried over to the start of the next segment.
//
// If the file system refuses direct I/O (when enabling it, or on the first
// write), the writer falls back to ordinary buffered writes on the same file.
const (
	// directAlign is the alignment of buffers, offsets and lengths. 4096
	// covers devices with 512-byte and 4 KiB logical blocks.
	directAlign = 4096
	// directSegmentSize is the size of each direct write.
	directSegmentSize = 4 << 20
	// directInFlight is how many segment writes may be outstanding.
	directInFlight = 2
)

// segmentPool recycles aligned segment buffers between ingests.
var segmentPool sync.Pool

func getSegment() []byte {
	if b, ok := segmentPool.Get().(*[]byte); ok {
		return *b
	}
	return alignedBuffer(directSegmentSize)
}

func putSegment(b []byte) {
	b = b[:directSegmentSize]
	segmentPool.Put(&b)
}

// alignedBuffer returns n bytes starting at a directAlign boundary. The Go
// heap does not move objects, so the alignment holds for the buffer's life.
func alignedBuffer(n int) []byte {
	raw := make([]byte, n+directAlign)
	off := 0
	if rem := int(uintptr(unsafe.Pointer(&raw[0])) & (directAlign - 1)); rem != 0 {
		off = directAlign - rem
	}
	return raw[off : off+n : off+n]
}

type segmentJob struct {
	buf []byte
	off int64
}

// directWriter writes a file sequentially through aligned segments.
type directWriter struct {
	f     *os.File
	seg   []byte // segment being filled
	n     int    // bytes in seg
	off   int64  // file offset of seg
	free  chan []byte
	queue chan segmentJob
	wg    sync.WaitGroup

	mu       sync.Mutex
	err      error
	buffered bool // direct I/O was refused; writes go through the page cache
}

func newDirectWriter(f *os.File) *directWriter {
	w := &directWriter{
		f:     f,
		free:  make(chan []byte, directInFlight+1),
		queue: make(chan segmentJob, directInFlight),
	}
	for range directInFlight + 1 {
		w.free <- nil // allocated (or taken from the pool) on first use
	}
	// The first segment is taken on the first write: an ingest still
	// waiting for its first bytes holds none.
	for range directInFlight {
		w.wg.Go(w.flush)
	}
	return w
}

func (w *directWriter) nextSegment() []byte {
	if b := <-w.free; b != nil {
		return b
	}
	return getSegment()
}

func (w *directWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *directWriter) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// Write copies b into segments, handing each full one to a flusher. It
// returns the first error any flusher met.
func (w *directWriter) Write(b []byte) (int, error) {
	total := len(b)
	for len(b) > 0 {
		if w.seg == nil {
			w.seg, w.n = w.nextSegment(), 0
		}
		if w.n == len(w.seg) {
			if err := w.rotate(); err != nil {
				return total - len(b), err
			}
		}
		c := copy(w.seg[w.n:], b)
		w.n += c
		b = b[c:]
	}
	return total, w.failed()
}

// lend returns room for n bytes at the end of the stream, for the sealer to
// encrypt into, or nil if a segment cannot hold n bytes.
func (w *directWriter) lend(n int) ([]byte, error) {
	if n > directSegmentSize-directAlign {
		return nil, nil
	}
	if w.seg == nil {
		w.seg, w.n = w.nextSegment(), 0
	}
	if w.n+n > len(w.seg) {
		if err := w.rotate(); err != nil {
			return nil, err
		}
	}
	return w.seg[w.n : w.n : w.n+n], w.failed()
}

// keep appends the first n bytes of the room lend returned.
func (w *directWriter) keep(n int) error {
	w.n += n
	return w.failed()
}

// rotate hands the aligned part of the current segment to a flusher and
// starts the next segment with the unaligned rest.
func (w *directWriter) rotate() error {
	aligned := w.n &^ (directAlign - 1)
	var carry [directAlign]byte
	c := copy(carry[:], w.seg[aligned:w.n])
	w.queue <- segmentJob{buf: w.seg[:aligned], off: w.off}
	w.off += int64(aligned)
	w.seg = w.nextSegment()
	w.n = copy(w.seg, carry[:c])
	return w.failed()
}

func (w *directWriter) flush() {
	for job := range w.queue {
		if w.failed() == nil {
			if err := w.writeAt(job.buf, job.off); err != nil {
				w.fail(err)
			}
		}
		w.free <- job.buf[:cap(job.buf)]
	}
}

func (w *directWriter) writeAt(b []byte, off int64) error {
	w.mu.Lock()
	buffered := w.buffered
	w.mu.Unlock()
	_, err := w.f.WriteAt(b, off)
	if err == nil || buffered || !directRefused(err) {
		return err
	}
	// The file system accepted O_DIRECT but refused this write: switch the
	// file to buffered I/O for good and write the segment again.
	w.mu.Lock()
	if !w.buffered {
		if derr := setDirectIO(w.f, false); derr != nil {
			w.mu.Unlock()
			return errors.Join(err, derr)
		}
		w.buffered = true
	}
	w.mu.Unlock()
	if _, err := w.f.WriteAt(b, off); err != nil {
		return err
	}
	return startWriteback(w.f, off, int64(len(b)))
}

// finish writes the partial last segment, waits for every write, and cuts
// the alignment padding off again. It returns the file's length.
func (w *directWriter) finish() (int64, error) {
	size := w.off + int64(w.n)
	if w.n > 0 {
		padded := (w.n + directAlign - 1) &^ (directAlign - 1)
		clear(w.seg[w.n:padded])
		w.queue <- segmentJob{buf: w.seg[:padded], off: w.off}
		w.seg = nil
	}
	w.close()
	if err := w.failed(); err != nil {
		return 0, err
	}
	if size%directAlign != 0 {
		if err := w.f.Truncate(size); err != nil {
			return 0, err
		}
	}
	return size, nil
}

// close stops the flushers and returns the segments to the pool.
func (w *directWriter) close() {
	close(w.queue)
	w.wg.Wait()
	if w.seg != nil {
		w.free <- w.seg
		w.seg = nil
	}
	for range directInFlight + 1 {
		if b := <-w.free; b != nil {
			putSegment(b)
		}
	}
}
