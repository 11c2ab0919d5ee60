package vault

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// An ingest stopped half-way, by its body or by its context, stops every
// stage of the sealing pipeline before it returns: no goroutine of it is left,
// nothing is stored, recorded or left in tmp/, and the vault takes the next
// object as usual.

// pipelineGoroutines returns the stacks of goroutines still running a stage of
// sealStream or a segment writer. sealStream and the store's Abort join every
// one they start, so right after a failed ingest there must be none: no
// waiting is needed (or allowed) to see them go.
func pipelineGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var found []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "vault.sealStream") || strings.Contains(g, "vault.(*directWriter)") {
			found = append(found, g)
		}
	}
	return found
}

// streamFrom yields pattern bytes without end, counting them. The read that
// brings it to at bytes calls do (if at is set); from then on it returns err,
// if not nil, instead of more bytes.
type streamFrom struct {
	pattern []byte
	n       atomic.Int64
	at      int64
	do      func()
	err     error
}

func (s *streamFrom) Read(p []byte) (int, error) {
	n := s.n.Load()
	if s.at > 0 && n >= s.at && s.err != nil {
		return 0, s.err
	}
	if s.at > 0 && n < s.at {
		p = p[:min(int64(len(p)), s.at-n)]
	}
	c := 0
	for c < len(p) {
		c += copy(p[c:], s.pattern[(n+int64(c))%int64(len(s.pattern)):])
	}
	if s.n.Add(int64(c)) == s.at && s.do != nil {
		s.do()
	}
	return c, nil
}

func TestIngestStoppedHalfWayLeavesNothing(t *testing.T) {
	half := int64(5 * DefaultChunkSize / 2)
	for _, mode := range []string{"direct I/O", "buffered"} {
		for _, tc := range []struct {
			name string
			// stop makes the stream for ctx's cancel.
			stop func(cancel func()) *streamFrom
			want error
			// after is at most how much may be read once the stream stopped.
			after int64
		}{
			{"body fails half-way", func(func()) *streamFrom {
				return &streamFrom{at: half, err: syscall.ECONNRESET}
			}, syscall.ECONNRESET, 0},
			{"body cut off half-way", func(func()) *streamFrom {
				return &streamFrom{at: half, err: io.ErrUnexpectedEOF}
			}, ErrIncompleteBody, 0},
			// The reader finishes the chunk it is filling, then stops.
			{"context cancelled half-way", func(cancel func()) *streamFrom {
				return &streamFrom{at: half, do: cancel}
			}, context.Canceled, DefaultChunkSize},
		} {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				if leftover := pipelineGoroutines(); len(leftover) != 0 {
					t.Fatalf("pipeline goroutines before the test:\n%s", strings.Join(leftover, "\n\n"))
				}
				clock := newFakeClock()
				dir := t.TempDir()
				store, err := NewFSStore(dir)
				if err != nil {
					t.Fatal(err)
				}
				store.buffered = mode == "buffered"
				v, err := Open(Config{Dir: dir, Keyring: testKeyring(t, 1), Clock: clock, Grants: allGranted(), Policy: testPolicy, Store: store})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { v.Close() })

				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				src := tc.stop(cancel)
				src.pattern = randomBytes(31, 1<<20)
				_, err = v.Ingest(ctx, testActor, testMetadata(clock.Now()), src, NoExpectation)
				if !errors.Is(err, tc.want) {
					t.Fatalf("Ingest error = %v; want %v", err, tc.want)
				}
				if read := src.n.Load(); read < half || read > half+tc.after {
					t.Errorf("read %d bytes of the stream; want %d…%d: the reader went on after it stopped", read, half, half+tc.after)
				}
				if leftover := pipelineGoroutines(); len(leftover) != 0 {
					t.Fatalf("%d pipeline goroutine(s) outlived the failed ingest:\n%s", len(leftover), strings.Join(leftover, "\n\n"))
				}
				if n := v.Status().CustodyEntries; n != 0 {
					t.Errorf("%d custody entries after a failed ingest; want none", n)
				}
				for _, sub := range []string{filepath.Join("objects", "sha256"), "tmp"} {
					if files, err := os.ReadDir(filepath.Join(dir, sub)); err != nil || len(files) != 0 {
						t.Errorf("%s after a failed ingest: %d file(s) (err %v); want none", sub, len(files), err)
					}
				}

				data := randomBytes(32, 3*DefaultChunkSize+5)
				res := ingest(t, v, testMetadata(clock.Now()), data)
				if got, err := readObject(t, v, res.Digest); err != nil || !bytes.Equal(got, data) {
					t.Fatalf("the next ingest reads back %d bytes (err %v); want its %d bytes", len(got), err, len(data))
				}
			})
		}
	}
}

// gatedWriter holds every Write until gate is closed, as a stuck disk would.
type gatedWriter struct {
	gate chan struct{}
	n    int64
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	<-w.gate
	w.n += int64(len(p))
	return len(p), nil
}

// failingWriter fails its writes from the (ok+1)th on.
type failingWriter struct{ ok int }

var errDiskFull = errors.New("no space left on the test device")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.ok == 0 {
		return 0, errDiskFull
	}
	w.ok--
	return len(p), nil
}

func TestSealStreamStopsEveryStage(t *testing.T) {
	const chunk = 4096
	kr := testKeyring(t, 1)

	t.Run("a failed write stops the reader", func(t *testing.T) {
		src := &streamFrom{pattern: randomBytes(33, 1<<16)}
		_, err := sealStream(context.Background(), src, &failingWriter{ok: 3}, kr, SHA256, chunk)
		if !errors.Is(err, errDiskFull) {
			t.Fatalf("sealStream error = %v; want %v", err, errDiskFull)
		}
		// Header and two chunks written, the third failed; the reader may have
		// filled every buffer meanwhile, and one more it was reading into.
		if read, most := src.n.Load(), int64((3+pipelineDepth+1)*chunk); read > most {
			t.Errorf("read %d bytes of an endless stream after the write failed; want at most %d", read, most)
		}
		if leftover := pipelineGoroutines(); len(leftover) != 0 {
			t.Fatalf("pipeline goroutines outlived sealStream:\n%s", strings.Join(leftover, "\n\n"))
		}
	})

	t.Run("cancelled while a stuck write holds every buffer", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// The sealer is stuck writing the header of chunk 0, so no buffer
		// comes back: the reader fills all pipelineDepth of them and waits.
		full := make(chan struct{})
		src := &streamFrom{pattern: randomBytes(34, 1<<16), at: pipelineDepth * chunk, do: func() { close(full) }}
		dst := &gatedWriter{gate: make(chan struct{})}
		done := make(chan error, 1)
		go func() {
			_, err := sealStream(ctx, src, dst, kr, SHA256, chunk)
			done <- err
		}()
		<-full
		cancel()
		// The write comes back only after the cancellation: a reader that did
		// not watch the context would now get a buffer and read on.
		close(dst.gate)
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("sealStream error = %v; want %v", err, context.Canceled)
		}
		if read, want := src.n.Load(), int64(pipelineDepth*chunk); read != want {
			t.Errorf("read %d bytes; want %d: the reader read on after the context was cancelled", read, want)
		}
		if leftover := pipelineGoroutines(); len(leftover) != 0 {
			t.Fatalf("pipeline goroutines outlived sealStream:\n%s", strings.Join(leftover, "\n\n"))
		}
	})
}
