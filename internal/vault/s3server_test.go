package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The S3 suite (every test and benchmark with S3 in its name) runs against a
// real S3 server: by default Versity S3 Gateway, built into bin/ by
// `make versitygw` and named by $VERSITYGW, started here on 127.0.0.1 with a
// versioning directory (Object Lock needs it). To run the same tests against
// another store (AWS S3, Ceph RGW, MinIO), give it in the environment:
//
//	VAULT_S3_ENDPOINT            e.g. https://s3.eu-west-1.amazonaws.com
//	VAULT_S3_BUCKET              a bucket created with Object Lock enabled
//	VAULT_S3_REGION              default us-east-1
//	VAULT_S3_PATH_STYLE          true for most self-hosted stores
//	VAULT_S3_ACCESS_KEY_ID, VAULT_S3_SECRET_ACCESS_KEY
//	VAULT_S3_CA_FILE             PEM bundle for the endpoint's certificate (optional)
//	VAULT_S3_UNLOCKED_BUCKET     a bucket without Object Lock, for the refusal test (optional)
//
// Every test writes under a prefix of its own (cybercoop-conformance/<random>/).
// Objects are written under COMPLIANCE retention of a few minutes at most
// (custody segments and probes included), so a test bucket empties itself.
// Without $VERSITYGW and without VAULT_S3_ENDPOINT the suite is skipped.

// s3Target is the S3 store the suite runs against.
type s3Target struct {
	endpoint, bucket, region string
	pathStyle                bool
	accessKey, secretKey     string
	caBundle                 []byte
	unlockedBucket           string
	// admin creates buckets (Versity only); nil for an external store.
	admin *s3.Client
	// gapLegalHoldAfterRetention: the store lets a version under legal hold
	// be deleted once its retain-until date has passed (Versity v1.8.0).
	gapLegalHoldAfterRetention bool
}

var (
	s3TargetOnce sync.Once
	s3TargetVal  *s3Target
	s3TargetErr  error
	versityProc  *exec.Cmd
)

// stopVersity stops the Versity gateway the S3 suite started (TestMain).
func stopVersity() {
	if versityProc != nil && versityProc.Process != nil {
		versityProc.Process.Kill()
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// s3TestTarget returns the store the suite runs against, starting the
// Versity gateway the first time; it skips the test if there is none.
func s3TestTarget(t testing.TB) *s3Target {
	t.Helper()
	if os.Getenv("VAULT_S3_ENDPOINT") == "" && os.Getenv("VERSITYGW") == "" {
		t.Skip("no S3 store: set VERSITYGW (make test-s3 builds it) or VAULT_S3_ENDPOINT and the other VAULT_S3_* variables")
	}
	s3TargetOnce.Do(func() { s3TargetVal, s3TargetErr = newS3Target() })
	if s3TargetErr != nil {
		t.Fatal(s3TargetErr)
	}
	return s3TargetVal
}

func newS3Target() (*s3Target, error) {
	if ep := os.Getenv("VAULT_S3_ENDPOINT"); ep != "" {
		tg := &s3Target{endpoint: ep, bucket: os.Getenv("VAULT_S3_BUCKET"), region: envOr("VAULT_S3_REGION", "us-east-1"),
			pathStyle: os.Getenv("VAULT_S3_PATH_STYLE") == "true", accessKey: os.Getenv("VAULT_S3_ACCESS_KEY_ID"),
			secretKey: os.Getenv("VAULT_S3_SECRET_ACCESS_KEY"), unlockedBucket: os.Getenv("VAULT_S3_UNLOCKED_BUCKET")}
		if tg.bucket == "" || tg.accessKey == "" || tg.secretKey == "" {
			return nil, errors.New("VAULT_S3_ENDPOINT is set: VAULT_S3_BUCKET, VAULT_S3_ACCESS_KEY_ID and VAULT_S3_SECRET_ACCESS_KEY are required too")
		}
		if f := os.Getenv("VAULT_S3_CA_FILE"); f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("VAULT_S3_CA_FILE: %w", err)
			}
			tg.caBundle = b
		}
		return tg, nil
	}
	return startVersity()
}

// startVersity starts the gateway on a free loopback port with a POSIX root
// and a versioning directory in a temporary directory, waits until it answers
// and creates a bucket with Object Lock and one without.
func startVersity() (*s3Target, error) {
	bin := os.Getenv("VERSITYGW")
	dir, err := os.MkdirTemp("", "vault-versitygw-")
	if err != nil {
		return nil, err
	}
	root, versions := filepath.Join(dir, "root"), filepath.Join(dir, "versions")
	for _, d := range []string{root, versions} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	tg := &s3Target{endpoint: "http://" + addr, bucket: "vault-locked", unlockedBucket: "vault-unlocked", region: "us-east-1", pathStyle: true,
		accessKey: "vault-test-access", secretKey: randomSecret(), gapLegalHoldAfterRetention: true}
	logFile, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--access", tg.accessKey, "--secret", tg.secretKey, "--port", addr, "posix", "--versioning-dir", versions, root)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	versityProc = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	admin := s3.New(s3.Options{Region: tg.region, UsePathStyle: true, BaseEndpoint: aws.String(tg.endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(tg.accessKey, tg.secretKey, "")})
	tg.admin = admin
	// Wait until the gateway answers (it binds its port a moment after start).
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := admin.ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if err == nil {
			break
		}
		select {
		case werr := <-exited:
			log, _ := os.ReadFile(logFile.Name())
			return nil, fmt.Errorf("versitygw exited (%v): %s", werr, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("versitygw at %s did not answer within 30s: %v", addr, err)
		}
	}
	ctx := context.Background()
	if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &tg.bucket, ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		return nil, fmt.Errorf("creating the locked bucket: %w", err)
	}
	if _, err := admin.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &tg.bucket,
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		return nil, fmt.Errorf("enabling versioning: %w", err)
	}
	if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &tg.unlockedBucket}); err != nil {
		return nil, fmt.Errorf("creating the unlocked bucket: %w", err)
	}
	return tg, nil
}

func randomSecret() string {
	var b [20]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// config is an S3Config for a prefix of the test's own, with retentions of
// a few minutes so that a test bucket on a real store empties itself.
func (tg *s3Target) config(t testing.TB) S3Config {
	var b [6]byte
	rand.Read(b[:])
	return S3Config{Endpoint: tg.endpoint, Bucket: tg.bucket, Region: tg.region, PathStyle: tg.pathStyle,
		AccessKeyID: tg.accessKey, SecretAccessKey: tg.secretKey, CABundle: tg.caBundle,
		Prefix:           "cybercoop-conformance/" + strings.ToLower(t.Name()) + "-" + hex.EncodeToString(b[:]) + "/",
		CustodyRetention: 5 * time.Minute, ProbeRetention: time.Minute}
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
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond) // polling interval of a condition, not a wait in its place
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
