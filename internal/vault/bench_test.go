package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment knobs of BenchmarkIngest:
//
//	VAULT_BENCH_BYTES   stream size per measurement (default 1 GiB)
//	VAULT_BENCH_ROUNDS  measured rounds (default 5; one unmeasured warm-up round runs first)
//	VAULT_BENCH_CHUNK   chunk size ingest seals with (default DefaultChunkSize)
//	VAULT_BENCH_IO      "buffered" makes the store skip direct I/O (default: as in production)
func benchEnvInt(b *testing.B, name string, def int64) int64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q is not a positive integer", name, s)
	}
	return n
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

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// sealedLen is the length of the object file sealing size bytes produces.
func sealedLen(size int64, chunk int) int64 {
	chunks := max(1, (size+int64(chunk)-1)/int64(chunk))
	return sealHeaderSize + size + chunks*gcmTagSize
}

// BenchmarkIngest measures ingest throughput against the slowest of the
// three things ingest must do to every byte, each measured alone on the same
// data size, the same chunk and write sizes and the same disk: SHA-256,
// AES-256-GCM sealing, and writing the sealed length sequentially followed
// by fsync. The disk limit is the better of the two ways of writing a file —
// through the page cache (write calls of one sealed chunk, writeback started
// every writebackStep, as the buffered store does) and with direct I/O
// (aligned segments with directInFlight writes outstanding, straight from
// one buffer, which is the best the direct store could do) — so the limit
// does not depend on which of the two the store uses.
//
// Background load on a shared machine moves every number, so each round
// measures all limits and one ingest back to back (rotating the order), one
// unmeasured warm-up round runs first so every measurement finds the disk,
// memory and buffer pools in the same warm state, and the report is the
// median of each over the rounds, with ratio-to-slowest the ratio of the
// medians. Every file written is removed again (objects by expiry) so the
// disk does not fill up across rounds. ingest-others-cores is the CPU the
// rest of the machine (other processes, kernel threads, hypervisor steal)
// used during the ingest measurements (median), to tell a slow ingest from a
// busy machine.
func BenchmarkIngest(b *testing.B) {
	size := benchEnvInt(b, "VAULT_BENCH_BYTES", 1<<30)
	rounds := int(benchEnvInt(b, "VAULT_BENCH_ROUNDS", 5))
	chunk := int(benchEnvInt(b, "VAULT_BENCH_CHUNK", DefaultChunkSize))
	ioMode := os.Getenv("VAULT_BENCH_IO")
	if ioMode != "" && ioMode != "buffered" {
		b.Fatalf(`VAULT_BENCH_IO=%q: only "buffered" is recognised`, ioMode)
	}
	dir := b.TempDir()
	pattern := randomBytes(99, 4<<20)

	store, err := NewFSStore(filepath.Join(dir, "vault"))
	if err != nil {
		b.Fatal(err)
	}
	store.buffered = ioMode == "buffered"
	clock := newFakeClock()
	v, err := Open(Config{Dir: filepath.Join(dir, "vault"), Keyring: testKeyring(b, 1), Store: store, Clock: clock, ChunkSize: chunk, Grants: allGranted()})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()

	type measure struct {
		name string
		run  func() float64 // MB/s of plaintext
	}
	iteration := 0
	var ingestCPU []float64 // CPU seconds (all threads) per GiB, per round
	var lastIngestCPU float64
	var othersCores []float64 // the rest of the machine's CPU during the ingest, per round
	var lastOthers float64
	_, machineKnown := machineCPU()
	measures := []measure{
		{"sha256", func() float64 { return shaRate(pattern, size, chunk) }},
		{"aes-gcm", func() float64 { return aesRate(pattern, size, chunk) }},
		{"write-buffered", func() float64 { return bufferedWriteRate(b, filepath.Join(dir, "probe"), pattern, size, chunk) }},
		{"write-direct", func() float64 { return directWriteRate(b, filepath.Join(dir, "probe"), size, chunk) }},
		{"ingest", func() float64 {
			iteration++
			binary.BigEndian.PutUint64(pattern, uint64(iteration)) // distinct content, no dedup
			m := testMetadata(clock.Now())
			busy0, _ := machineCPU()
			cpu0 := processCPU()
			start := time.Now()
			res, err := v.Ingest(context.Background(), testActor, m, &patternReader{buf: pattern, n: size}, NoExpectation)
			elapsed := time.Since(start)
			cpu := processCPU() - cpu0
			busy1, _ := machineCPU()
			lastIngestCPU = cpu.Seconds() * (1 << 30) / float64(size)
			lastOthers = max(0, (busy1-busy0-cpu).Seconds()/elapsed.Seconds())
			if err != nil {
				b.Fatal(err)
			}
			clock.Advance(m.RetentionUntil.Sub(clock.Now()))
			if err := v.ExpireObject(testActor, res.Digest); err != nil {
				b.Fatal(err)
			}
			return mbps(size, elapsed)
		}},
	}
	samples := make([][]float64, len(measures))
	for b.Loop() {
		for r := -1; r < rounds; r++ {
			line := []string{fmt.Sprintf("round %d:", r)}
			if r < 0 {
				line[0] = "warm-up:"
			}
			for i := range measures {
				j := (i + r + len(measures)) % len(measures)
				rate := measures[j].run()
				line = append(line, fmt.Sprintf("%s %.0f", measures[j].name, rate))
				if r >= 0 {
					samples[j] = append(samples[j], rate)
					if measures[j].name == "ingest" {
						ingestCPU = append(ingestCPU, lastIngestCPU)
						othersCores = append(othersCores, lastOthers)
					}
				}
			}
			b.Log(strings.Join(line, ", "))
		}
	}
	med := make([]float64, len(measures))
	for i := range measures {
		med[i] = median(samples[i])
	}
	sha, aesGCM, buffered, direct, ingest := med[0], med[1], med[2], med[3], med[4]
	disk := max(buffered, direct)
	slowest := min(sha, aesGCM, disk)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(sha, "sha256-MB/s")
	b.ReportMetric(aesGCM, "aes-gcm-MB/s")
	b.ReportMetric(disk, "write+fsync-MB/s")
	b.ReportMetric(buffered, "write-buffered-MB/s")
	b.ReportMetric(direct, "write-direct-MB/s")
	b.ReportMetric(ingest, "ingest-MB/s")
	b.ReportMetric(slices.Min(samples[4]), "ingest-min-MB/s")
	b.ReportMetric(slices.Max(samples[4]), "ingest-max-MB/s")
	b.ReportMetric(ingest/slowest, "ratio-to-slowest")
	// CPU time per GiB barely moves with background load, unlike MB/s: when
	// other processes leave ingest about one core, its rate is about
	// 1/ingest-cpu-s/GiB however well it overlaps.
	b.ReportMetric(median(ingestCPU), "ingest-cpu-s/GiB")
	// Hashing runs on one core and the other stages need about 0.35 CPU s/GiB
	// more, so the rest of the machine taking more than about half a core
	// during the ingest (and not during the single-threaded limits) lowers
	// ratio-to-slowest; this says how much it took.
	if machineKnown {
		b.ReportMetric(median(othersCores), "ingest-others-cores")
	}
}

// machineCPU is the CPU time all processes of the machine have spent busy
// (user, nice, system, interrupts and steal from /proc/stat, at its 10 ms
// resolution); false where /proc/stat cannot be read.
func machineCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, false
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		n, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += n
	}
	const userHZ = 100 // USER_HZ, fixed at 100 on Linux whatever the kernel's HZ
	return time.Duration(ticks) * time.Second / userHZ, true
}

// processCPU is the user and system CPU time of the whole process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// shaRate hashes size bytes in chunk-sized writes, as the hasher does.
func shaRate(pattern []byte, size int64, chunk int) float64 {
	start := time.Now()
	h := sha256.New()
	for done := int64(0); done < size; done += int64(chunk) {
		h.Write(pattern[done%int64(len(pattern)-chunk):][:min(int64(chunk), size-done)])
	}
	h.Sum(nil)
	return mbps(size, time.Since(start))
}

// aesRate seals size bytes chunk by chunk with the same AAD and output
// buffer reuse as the sealer.
func aesRate(pattern []byte, size int64, chunk int) float64 {
	blk, err := aes.NewCipher(testKey(1))
	if err != nil {
		panic(err)
	}
	gcm, err := cipher.NewGCM(blk)
	if err != nil {
		panic(err)
	}
	nonce := make([]byte, 12)
	aad := make([]byte, sealHeaderSize+1)
	out := make([]byte, 0, chunk+gcmTagSize)
	start := time.Now()
	for done := int64(0); done < size; done += int64(chunk) {
		binary.BigEndian.PutUint64(nonce[4:], uint64(done))
		out = gcm.Seal(out[:0], nonce, pattern[done%int64(len(pattern)-chunk):][:min(int64(chunk), size-done)], aad)
	}
	return mbps(size, time.Since(start))
}

// bufferedWriteRate writes the sealed length of size bytes to path through
// the page cache in sealed-chunk-sized writes, starting writeback every
// writebackStep as the buffered store does, fsyncs and removes the file.
func bufferedWriteRate(b *testing.B, path string, pattern []byte, size int64, chunk int) float64 {
	total := sealedLen(size, chunk)
	block := int64(chunk + gcmTagSize)
	start := time.Now()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(path)
	var kicked int64
	for done := int64(0); done < total; done += block {
		if _, err := f.Write(pattern[done%int64(len(pattern)-int(block)):][:min(block, total-done)]); err != nil {
			b.Fatal(err)
		}
		if written := min(done+block, total); written-kicked >= writebackStep {
			if err := startWriteback(f, kicked, written-kicked); err != nil {
				b.Fatal(err)
			}
			kicked = written
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return mbps(size, time.Since(start))
}

// directWriteRate writes the sealed length of size bytes to path with direct
// I/O in aligned segments, directInFlight at a time, pads and truncates the
// tail, fsyncs and removes the file: the best case of the direct store, with
// no copying. It returns 0 where direct I/O is not available.
func directWriteRate(b *testing.B, path string, size int64, chunk int) float64 {
	total := sealedLen(size, chunk)
	seg := alignedBuffer(directSegmentSize)
	copy(seg, randomBytes(98, directSegmentSize))
	start := time.Now()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(path)
	defer f.Close()
	if setDirectIO(f, true) != nil {
		return 0
	}
	var (
		mu       sync.Mutex
		next     int64
		writeErr error
		wg       sync.WaitGroup
	)
	for range directInFlight {
		wg.Go(func() {
			for {
				mu.Lock()
				off := next
				next += directSegmentSize
				mu.Unlock()
				if off >= total {
					return
				}
				n := min(directSegmentSize, (total-off+directAlign-1)&^(directAlign-1))
				if _, err := f.WriteAt(seg[:n], off); err != nil {
					mu.Lock()
					writeErr = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if writeErr != nil {
		b.Fatal(writeErr)
	}
	if err := f.Truncate(total); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return mbps(size, time.Since(start))
}
