package vault

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// patternAt is n bytes cycling through buf, readable at any offset, so that a
// gigabyte needs neither memory nor disk of its own.
type patternAt struct {
	buf []byte
	n   int64
}

func (p patternAt) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.n {
		return 0, io.EOF
	}
	total := 0
	for len(b) > 0 && off < p.n {
		c := copy(b[:min(int64(len(b)), p.n-off)], p.buf[off%int64(len(p.buf)):])
		b, off, total = b[c:], off+int64(c), total+c
	}
	if total < len(b) {
		return total, io.EOF
	}
	return total, nil
}

// BenchmarkS3Ingest measures the vault's ingest of a stream into S3 (seal,
// spool, PUT with its lock and a SHA-256 checksum, custody segment) against
// the S3 client alone writing as many bytes in one PutObject with the same lock
// headers and checksum, to the same store, in the same run. The store is the
// suite's (Versity by default; VAULT_S3_* for another). Knobs:
//
//	VAULT_BENCH_BYTES   bytes per object (default 1 GiB)
//	VAULT_BENCH_ROUNDS  measured rounds, each the client then the vault (default 1)
//
// The figure is ratio-to-client: the vault's time over the client's (median of
// the rounds). Each object is deleted as soon as its short retention lets the
// store delete it, so the store holds one object at a time.
func BenchmarkS3Ingest(b *testing.B) {
	size := benchEnvInt(b, "VAULT_BENCH_BYTES", 1<<30)
	rounds := int(benchEnvInt(b, "VAULT_BENCH_ROUNDS", 1))
	tg := s3TestTarget(b)
	clock := wallClock()
	cfg := tg.config(b)
	v := openS3Vault(b, tg, cfg, clock, testKeyring(b, 1), nil)
	store := storeOf(v)
	c := store.Client()
	ctx := context.Background()
	gone := func(key string) {
		within(b, 2*time.Minute, "the store deletes "+key+" once its retention passed", func() error {
			versions, _, err := store.versionsOf(ctx, key)
			if err != nil {
				return err
			}
			for _, id := range versions {
				if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &cfg.Bucket, Key: &key, VersionId: aws.String(id)}); err != nil {
					return err
				}
			}
			if len(versions) > 0 {
				return fmt.Errorf("%d version(s) were left", len(versions))
			}
			return nil
		})
	}
	var ratios, clientRates, vaultRates []float64
	b.ResetTimer()
	for range b.N {
		for round := range rounds {
			pattern := randomBytes(uint64(1000+round), 1<<20)
			data := patternAt{buf: pattern, n: size}

			key := cfg.Prefix + fmt.Sprintf("bench/client-%d", round)
			start := time.Now()
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &cfg.Bucket, Key: &key, Body: io.NewSectionReader(data, 0, size),
				ContentLength: aws.Int64(size), ObjectLockMode: s3types.ObjectLockModeCompliance,
				ObjectLockRetainUntilDate: aws.Time(retainUntil(time.Now().Add(time.Second))),
				ObjectLockLegalHoldStatus: s3types.ObjectLockLegalHoldStatusOff, ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256}); err != nil {
				b.Fatal(err)
			}
			clientTime := time.Since(start)
			gone(key)

			clock.set(time.Now().UTC())
			m := s3Metadata(clock.Now(), 5*time.Second)
			start = time.Now()
			res, err := v.Ingest(ctx, testActor, m, io.NewSectionReader(data, 0, size), NoExpectation)
			if err != nil {
				b.Fatal(err)
			}
			vaultTime := time.Since(start)
			if res.Size != size {
				b.Fatalf("ingested %d bytes, want %d", res.Size, size)
			}
			clock.Advance(time.Hour)
			if err := v.ExpireObject(testActor, res.Digest); err != nil {
				b.Fatal(err)
			}
			gone(store.ObjectKey(res.Digest))

			ratios = append(ratios, vaultTime.Seconds()/clientTime.Seconds())
			clientRates, vaultRates = append(clientRates, mbps(size, clientTime)), append(vaultRates, mbps(size, vaultTime))
			b.Logf("round %d: %d bytes: client PutObject %s (%.0f MB/s), vault ingest %s (%.0f MB/s), ratio %.2f",
				round, size, clientTime.Round(time.Millisecond), mbps(size, clientTime), vaultTime.Round(time.Millisecond), mbps(size, vaultTime),
				vaultTime.Seconds()/clientTime.Seconds())
		}
	}
	b.ReportMetric(median(ratios), "ratio-to-client")
	b.ReportMetric(median(clientRates), "client-MB/s")
	b.ReportMetric(median(vaultRates), "vault-MB/s")
}

// set moves the clock to t.
func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// TestPatternAt: the benchmark's source yields exactly its bytes.
func TestPatternAt(t *testing.T) {
	p := patternAt{buf: []byte("abcdefg"), n: 20}
	got, err := io.ReadAll(io.NewSectionReader(p, 0, p.n))
	if err != nil || !bytes.Equal(got, []byte("abcdefgabcdefgabcdef")) {
		t.Fatalf("read %q, %v", got, err)
	}
}
