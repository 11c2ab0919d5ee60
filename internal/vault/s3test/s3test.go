// Package s3test gives the vault's S3 suite a real S3 server: by default
// Versity S3 Gateway, built into bin/ by `make versitygw` and named by
// $VERSITYGW, started on 127.0.0.1 with a versioning directory (Object Lock
// needs it). To run the same suite against another store (AWS S3, Ceph RGW,
// MinIO), name it in the environment:
//
//	VAULT_S3_ENDPOINT            e.g. https://s3.eu-west-1.amazonaws.com
//	VAULT_S3_BUCKET              a bucket created with Object Lock enabled
//	VAULT_S3_REGION              default us-east-1
//	VAULT_S3_PATH_STYLE          true for most self-hosted stores
//	VAULT_S3_ACCESS_KEY_ID, VAULT_S3_SECRET_ACCESS_KEY
//	VAULT_S3_CA_FILE             PEM bundle for the endpoint's certificate (optional)
//	VAULT_S3_UNLOCKED_BUCKET     a bucket without Object Lock, for the refusal test (optional)
//
// Every test writes under a prefix of its own (cybercoop-conformance/<test>-<random>/)
// and under COMPLIANCE retentions of minutes at most, so a test bucket on a real
// store empties itself. Without $VERSITYGW and VAULT_S3_ENDPOINT the suite is skipped.
//
// The package does not import the vault, so the vault's own tests can use it.
package s3test

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
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cybercoop/cybercoop-operator/test/childproc"
)

// TB is what the package needs of a test: *testing.T and Ginkgo's GinkgoT() both have it.
type TB interface {
	Helper()
	Name() string
	Skip(args ...any)
	Fatal(args ...any)
}

// Target is the S3 store the suite runs against.
type Target struct {
	Endpoint, Bucket, Region     string
	PathStyle                    bool
	AccessKeyID, SecretAccessKey string
	CABundle                     []byte
	// UnlockedBucket is a bucket without Object Lock; empty if none was given.
	UnlockedBucket string
	// Versity is set when the target is the pinned Versity gateway started here.
	Versity bool
}

var (
	once    sync.Once
	target  *Target
	failure error
	proc    *childproc.Child
	workDir string
)

// Get returns the store the suite runs against, starting the Versity gateway
// the first time; it skips the test if there is none.
func Get(t TB) *Target {
	t.Helper()
	if os.Getenv("VAULT_S3_ENDPOINT") == "" && os.Getenv("VERSITYGW") == "" {
		t.Skip("no S3 store: set VERSITYGW (make test-s3 builds it) or VAULT_S3_ENDPOINT and the other VAULT_S3_* variables")
	}
	once.Do(func() { target, failure = newTarget() })
	if failure != nil {
		t.Fatal(failure)
	}
	return target
}

// Stop stops the gateway Get started, if any (call it from TestMain).
func Stop() {
	if proc != nil {
		_ = proc.Cmd.Process.Kill()
		<-proc.Done() // killed: its exit status says nothing
	}
	if workDir != "" {
		os.RemoveAll(workDir)
	}
}

// Prefix is a key prefix of the test's own.
func Prefix(t TB) string {
	var b [6]byte
	rand.Read(b[:])
	name := strings.NewReplacer("/", "-", " ", "-").Replace(strings.ToLower(t.Name()))
	return "cybercoop-conformance/" + name + "-" + hex.EncodeToString(b[:]) + "/"
}

// Client is an S3 client with the target's credentials.
func (tg *Target) Client() *s3.Client {
	return s3.New(s3.Options{Region: tg.Region, UsePathStyle: tg.PathStyle, BaseEndpoint: aws.String(tg.Endpoint),
		Credentials:                credentials.NewStaticCredentialsProvider(tg.AccessKeyID, tg.SecretAccessKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired})
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newTarget() (*Target, error) {
	ep := os.Getenv("VAULT_S3_ENDPOINT")
	if ep == "" {
		return startVersity(os.Getenv("VERSITYGW"))
	}
	tg := &Target{Endpoint: ep, Bucket: os.Getenv("VAULT_S3_BUCKET"), Region: envOr("VAULT_S3_REGION", "us-east-1"),
		PathStyle: os.Getenv("VAULT_S3_PATH_STYLE") == "true", AccessKeyID: os.Getenv("VAULT_S3_ACCESS_KEY_ID"),
		SecretAccessKey: os.Getenv("VAULT_S3_SECRET_ACCESS_KEY"), UnlockedBucket: os.Getenv("VAULT_S3_UNLOCKED_BUCKET")}
	if tg.Bucket == "" || tg.AccessKeyID == "" || tg.SecretAccessKey == "" {
		return nil, errors.New("VAULT_S3_ENDPOINT is set: VAULT_S3_BUCKET, VAULT_S3_ACCESS_KEY_ID and VAULT_S3_SECRET_ACCESS_KEY are required too")
	}
	if f := os.Getenv("VAULT_S3_CA_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("VAULT_S3_CA_FILE: %w", err)
		}
		tg.CABundle = b
	}
	return tg, nil
}

// startVersity starts the gateway on a free loopback port with a POSIX root
// and a versioning directory in a temporary directory, waits until it answers,
// and creates a bucket with Object Lock (versioning enabled) and one without.
func startVersity(bin string) (*Target, error) {
	dir, err := os.MkdirTemp("", "vault-versitygw-")
	if err != nil {
		return nil, err
	}
	workDir = dir
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
	var secret [20]byte
	rand.Read(secret[:])
	tg := &Target{Endpoint: "http://" + addr, Bucket: "vault-locked", UnlockedBucket: "vault-unlocked", Region: "us-east-1", PathStyle: true,
		AccessKeyID: "vault-test-access", SecretAccessKey: hex.EncodeToString(secret[:]), Versity: true}
	logPath := filepath.Join(dir, "versitygw.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	// The credentials go in the environment, not on the command line (ps).
	cmd := exec.Command(bin, "--port", addr, "posix", "--versioning-dir", versions, root)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+tg.AccessKeyID, "ROOT_SECRET_KEY="+tg.SecretAccessKey)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// childproc has the kernel kill the gateway when the test binary dies, even
	// by a signal that skips Stop, so no gateway outlives its tests.
	child, err := childproc.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	proc = child
	c := tg.Client()
	// Wait until the gateway answers: it binds its port a moment after it starts.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if err == nil {
			break
		}
		select {
		case <-child.Done():
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("versitygw exited (%w): %s", child.Err(), out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("versitygw at %s did not answer within 30s: %w", addr, err)
		}
	}
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &tg.Bucket, ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		return nil, fmt.Errorf("creating the locked bucket: %w", err)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &tg.Bucket,
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		return nil, fmt.Errorf("enabling versioning: %w", err)
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &tg.UnlockedBucket}); err != nil {
		return nil, fmt.Errorf("creating the unlocked bucket: %w", err)
	}
	return tg, nil
}
