package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// benchBytes is the stream size: VAULT_BENCH_BYTES or 1 GiB.
func benchBytes(b *testing.B) int64 {
	if s := os.Getenv("VAULT_BENCH_BYTES"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("VAULT_BENCH_BYTES=%q is not a positive byte count", s)
		}
		return n
	}
	return 1 << 30
}

// patternReader yields n bytes cycling through buf; cheap enough not to
// distort the measurement.
type patternReader struct {
	buf []byte
	off int
	n   int64
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	total := 0
	for len(p) > 0 && r.n > 0 {
		c := copy(p[:min(int64(len(p)), r.n)], r.buf[r.off:])
		r.off = (r.off + c) % len(r.buf)
		r.n -= int64(c)
		p = p[c:]
		total += c
	}
	return total, nil
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

// BenchmarkIngest measures ingest throughput and reports it against the
// slowest of the three things ingest must do to every byte, each measured
// here on the same data size and disk: SHA-256, AES-256-GCM sealing, and a
// sequential write followed by fsync.
func BenchmarkIngest(b *testing.B) {
	size := benchBytes(b)
	dir := b.TempDir()
	pattern := randomBytes(99, 4<<20)
	const block = 1 << 20

	start := time.Now()
	h := sha256.New()
	for done := int64(0); done < size; done += block {
		h.Write(pattern[done%int64(len(pattern)-block):][:min(block, size-done)])
	}
	h.Sum(nil)
	shaRate := mbps(size, time.Since(start))

	blk, _ := aes.NewCipher(testKey(1))
	gcm, _ := cipher.NewGCM(blk)
	nonce := make([]byte, 12)
	out := make([]byte, 0, DefaultChunkSize+gcmTagSize)
	start = time.Now()
	for done := int64(0); done < size; done += DefaultChunkSize {
		binary.BigEndian.PutUint64(nonce[4:], uint64(done))
		out = gcm.Seal(out[:0], nonce, pattern[done%int64(len(pattern)-DefaultChunkSize):][:min(DefaultChunkSize, size-done)], nonce)
	}
	aesRate := mbps(size, time.Since(start))

	// Measured twice, keeping the faster: a fresh disk (or a thin-provisioned
	// virtual one) is slower the first time its blocks are written, and the
	// ingest that follows reuses the blocks the probe freed.
	diskRate := max(writeFsyncRate(b, filepath.Join(dir, "write-probe"), pattern, size),
		writeFsyncRate(b, filepath.Join(dir, "write-probe"), pattern, size))

	v, err := Open(Config{Dir: filepath.Join(dir, "vault"), Keyring: testKeyring(b, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	m := testMetadata(time.Now())
	b.SetBytes(size)
	var elapsed time.Duration
	iteration := 0
	for b.Loop() {
		iteration++
		binary.BigEndian.PutUint64(pattern, uint64(iteration)) // distinct content, no dedup
		start := time.Now()
		if _, err := v.Ingest(context.Background(), testActor, m, &patternReader{buf: pattern, n: size}); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
	}
	ingestRate := mbps(size*int64(iteration), elapsed)
	slowest := min(shaRate, aesRate, diskRate)
	b.ReportMetric(shaRate, "sha256-MB/s")
	b.ReportMetric(aesRate, "aes-gcm-MB/s")
	b.ReportMetric(diskRate, "write+fsync-MB/s")
	b.ReportMetric(ingestRate, "ingest-MB/s")
	b.ReportMetric(ingestRate/slowest, "ratio-to-slowest")
}

// writeFsyncRate writes size bytes sequentially to path, fsyncs, and removes
// the file. It starts writeback as it goes, exactly as ingest does, so the
// limit is the disk's best sequential rate, not an artefact of one big fsync.
func writeFsyncRate(b *testing.B, path string, pattern []byte, size int64) float64 {
	const block = 1 << 20
	start := time.Now()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(path)
	var kicked int64
	for done := int64(0); done < size; done += block {
		if _, err := f.Write(pattern[done%int64(len(pattern)-block):][:min(block, size-done)]); err != nil {
			b.Fatal(err)
		}
		if written := min(done+block, size); written-kicked >= writebackStep {
			startWriteback(f, kicked, written-kicked)
			kicked = written
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return mbps(size, time.Since(start))
}
