package vault

import (
	"testing"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/vault/s3test"
)

// The S3 suite is every test and benchmark with S3 in its name; it runs
// against a real S3 server (see package s3test: the pinned Versity gateway,
// or any store named in VAULT_S3_*).

// s3Target is the store the suite runs against.
type s3Target struct {
	*s3test.Target
	// gapLegalHoldAfterRetention: the store lets a version under legal hold
	// be deleted once its retain-until date has passed (Versity v1.8.0).
	gapLegalHoldAfterRetention bool
}

func s3TestTarget(t testing.TB) *s3Target {
	t.Helper()
	tg := s3test.Get(t)
	return &s3Target{Target: tg, gapLegalHoldAfterRetention: tg.Versity}
}

// config is an S3Config under a prefix of the test's own, with retentions of
// minutes so that a test bucket on a real store empties itself.
func (tg *s3Target) config(t testing.TB) S3Config {
	return S3Config{Endpoint: tg.Endpoint, Bucket: tg.Bucket, Region: tg.Region, PathStyle: tg.PathStyle,
		AccessKeyID: tg.AccessKeyID, SecretAccessKey: tg.SecretAccessKey, CABundle: tg.CABundle,
		Prefix: s3test.Prefix(t), CustodyRetention: 5 * time.Minute, ProbeRetention: time.Minute}
}

func (tg *s3Target) store(t testing.TB, cfg S3Config) *S3Store {
	t.Helper()
	s, err := NewS3Store(cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openS3Vault opens a vault on cfg with a fresh (empty) data directory, as a
// pod with only a scratch volume would.
func openS3Vault(t testing.TB, tg *s3Target, cfg S3Config, clock Clock, kr *Keyring, signer *Signer) *Vault {
	t.Helper()
	v, err := Open(Config{Dir: t.TempDir(), Keyring: kr, Clock: clock, Grants: allGranted(), Policy: s3Policy,
		Store: tg.store(t, cfg), Signer: signer})
	if err != nil {
		t.Fatalf("Open on bucket %s: %v", cfg.Bucket, err)
	}
	t.Cleanup(func() { v.Close() })
	if f := v.Fault(); f != nil {
		t.Fatalf("vault on bucket %s refuses to serve: %v", cfg.Bucket, f)
	}
	return v
}

// s3Policy allows retentions of seconds: the store judges them on its own clock.
var s3Policy = Policy{MinRetention: time.Second}

// wallClock is a settable clock that starts at the real time: the store's
// retain-until dates are judged by the store's own clock.
func wallClock() *fakeClock { return &fakeClock{now: time.Now().UTC().Truncate(time.Second)} }

// within asks cond every 100ms until it holds or timeout passes: for what the
// store decides on its own clock (a retain-until date reached).
func within(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		<-tick.C
	}
}
