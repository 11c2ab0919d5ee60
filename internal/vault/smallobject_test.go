package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestSealBytesIsASealedStream: an object sealed in memory (the small-object
// path) has the layout, length and content address sealStream gives the same
// bytes, and opens, verified, to them; cut short it does not open.
func TestSealBytesIsASealedStream(t *testing.T) {
	kr := testKeyring(t, 1)
	for _, chunk := range []int{16, 4096} {
		for _, n := range []int{0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 3*chunk + 5} {
			data := randomBytes(uint64(n), n)
			sealed, got, err := sealBytes(data, kr, SHA256, chunk)
			if err != nil {
				t.Fatal(err)
			}
			var streamed bytes.Buffer
			want, err := sealStream(context.Background(), bytes.NewReader(data), &streamed, kr, SHA256, chunk)
			if err != nil {
				t.Fatal(err)
			}
			if got != want || len(sealed) != streamed.Len() {
				t.Fatalf("%d bytes in chunks of %d: sealed in memory %+v, %d bytes; streamed %+v, %d bytes", n, chunk, got, len(sealed), want, streamed.Len())
			}
			r, err := openSealed(io.NopCloser(bytes.NewReader(sealed)), kr, got.digest, int64(n))
			if err != nil {
				t.Fatal(err)
			}
			if plain, err := io.ReadAll(r); err != nil || !bytes.Equal(plain, data) {
				t.Fatalf("%d bytes in chunks of %d: opened %d bytes, %v", n, chunk, len(plain), err)
			}
			if len(sealed) > sealHeaderSize+gcmTagSize {
				r, err := openSealed(io.NopCloser(bytes.NewReader(sealed[:len(sealed)-1])), kr, got.digest, int64(n))
				if err == nil {
					_, err = io.ReadAll(r)
				}
				if !errors.Is(err, ErrObjectCorrupt) {
					t.Fatalf("%d bytes in chunks of %d, the last byte cut off: %v; want ErrObjectCorrupt", n, chunk, err)
				}
			}
		}
	}
}

// TestSmallObjectsIngest: objects up to smallObjectMax, declared or not, are
// stored in place without a temporary file and read back verified; a stream
// that differs from its declaration, or is cut off, stores nothing; content
// held already is a duplicate, stored once.
func TestSmallObjectsIngest(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	v := openTestVault(t, dir, clock, testKeyring(t, 1))
	ctx := context.Background()
	for i, n := range []int{0, 1, 100, DefaultChunkSize / 16, smallObjectMax - 1, smallObjectMax, smallObjectMax + 1} {
		for _, declared := range []bool{false, true} {
			data := randomBytes(uint64(1000*i)+map[bool]uint64{false: 1, true: 2}[declared], n)
			want := NoExpectation
			if declared {
				want.Size = int64(n)
			}
			m := testMetadata(clock.Now())
			m.CaseReference = fmt.Sprintf("CASE/SMALL/%d/%t", n, declared)
			res, err := v.Ingest(ctx, testActor, m, bytes.NewReader(data), want)
			if err != nil {
				t.Fatalf("%d bytes (declared %t): %v", n, declared, err)
			}
			if got, err := readObject(t, v, res.Digest); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%d bytes (declared %t) read back: %d bytes, %v", n, declared, len(got), err)
			}
		}
	}
	objects := func() int {
		entries, err := os.ReadDir(filepath.Join(dir, "objects", string(SHA256)))
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	stored := objects()

	m := testMetadata(clock.Now())
	m.CaseReference = "CASE/SMALL/refused"
	data := randomBytes(77, 500)
	for name, tc := range map[string]struct {
		r    io.Reader
		want Expectation
		is   error
	}{
		"longer than declared":  {bytes.NewReader(data), Expectation{Size: 499}, ErrExpectation},
		"shorter than declared": {bytes.NewReader(data), Expectation{Size: 501}, ErrExpectation},
		"cut off":               {io.MultiReader(bytes.NewReader(data), iotestErrReader{io.ErrUnexpectedEOF}), NoExpectation, ErrIncompleteBody},
		"cut off, declared":     {io.MultiReader(bytes.NewReader(data), iotestErrReader{io.ErrUnexpectedEOF}), Expectation{Size: 600}, ErrIncompleteBody},
	} {
		if _, err := v.Ingest(ctx, testActor, m, tc.r, tc.want); !errors.Is(err, tc.is) {
			t.Fatalf("%s: %v; want %v", name, err, tc.is)
		}
	}
	if got := objects(); got != stored {
		t.Fatalf("refused ingests left %d object files", got-stored)
	}

	first := ingest(t, v, m, data)
	m.CaseReference = "CASE/SMALL/again"
	if again := ingest(t, v, m, data); !again.Duplicate || again.Digest != first.Digest {
		t.Fatalf("the same content again: %+v; want a duplicate of %s", again, first.Digest)
	}
	if got := objects(); got != stored+1 {
		t.Fatalf("%d object files for one new content", got-stored)
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Fatalf("%d temporary files left", len(tmp))
	}
	if rep, err := v.Verify(ctx, testActor); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", err, rep.Findings)
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }
