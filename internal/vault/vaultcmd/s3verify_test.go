package vaultcmd

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cybercoop/cybercoop-operator/internal/vault"
	"github.com/cybercoop/cybercoop-operator/internal/vault/s3test"
)

func TestMain(m *testing.M) {
	code := m.Run()
	s3test.Stop()
	os.Exit(code)
}

// TestS3VerifySubcommand: `vault verify --s3-bucket …` verifies a vault kept in
// S3 against the bucket alone, with a checkpoint held elsewhere, and names a
// custody segment written over in the bucket.
func TestS3VerifySubcommand(t *testing.T) {
	tg := s3test.Get(t)
	keyDir := filepath.Join(t.TempDir(), "keys")
	os.Mkdir(keyDir, 0o700)
	os.WriteFile(filepath.Join(keyDir, "1"), []byte(hex.EncodeToString(bytes.Repeat([]byte{7}, 32))), 0o600)
	kr, err := vault.LoadKeyring(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := vault.GenerateSigningKey("vault.test/s3")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := vault.LoadSigner([]byte(skey))
	if err != nil {
		t.Fatal(err)
	}
	prefix := s3test.Prefix(t)
	cfg := vault.S3Config{Endpoint: tg.Endpoint, Bucket: tg.Bucket, Region: tg.Region, PathStyle: tg.PathStyle, Prefix: prefix,
		AccessKeyID: tg.AccessKeyID, SecretAccessKey: tg.SecretAccessKey, CABundle: tg.CABundle, CustodyRetention: 5 * time.Minute, ProbeRetention: time.Minute}
	store, err := vault.NewS3Store(cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(vault.Config{Dir: t.TempDir(), Keyring: kr, Store: store, Signer: signer, Policy: vault.Policy{MinRetention: time.Second}})
	if err != nil || v.Fault() != nil {
		t.Fatalf("open on S3: %v %v", err, v.Fault())
	}
	now := time.Now()
	if _, err := v.Ingest(context.Background(), vault.Identity{Subject: "CN=test"}, vault.Metadata{
		CaseReference: "CASE/1", LegalBasis: "UNCC art. 28", AuthorisationReference: "W/1",
		AuthorisationExpiry: now.Add(time.Hour), RetentionUntil: now.Add(2 * time.Minute),
	}, strings.NewReader("evidence"), vault.NoExpectation); err != nil {
		t.Fatal(err)
	}
	cp, err := v.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	cpFile := filepath.Join(t.TempDir(), "checkpoint")
	os.WriteFile(cpFile, cp.Note, 0o600)

	credDir := t.TempDir()
	os.WriteFile(filepath.Join(credDir, accessKeyIDName), []byte(tg.AccessKeyID+"\n"), 0o600)
	os.WriteFile(filepath.Join(credDir, secretAccessKeyName), []byte(tg.SecretAccessKey+"\n"), 0o600)
	run := func(extra ...string) (string, error) {
		cmd := NewCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		args := []string{"verify", "--keyring", keyDir, "--s3-bucket", tg.Bucket, "--s3-endpoint", tg.Endpoint, "--s3-region", tg.Region,
			"--s3-prefix", prefix, "--s3-credentials-dir", credDir, "--checkpoint", cpFile, "--verifier-key", vkey}
		if tg.PathStyle {
			args = append(args, "--s3-path-style")
		}
		cmd.SetArgs(append(args, extra...))
		err := cmd.Execute()
		return out.String(), err
	}
	out, err := run()
	if err != nil || !strings.Contains(out, "OK") || !strings.Contains(out, "verified 1 custody entries, 1 objects") || !strings.Contains(out, "signature verified") {
		t.Fatalf("verify of a vault in S3: %v\n%s", err, out)
	}
	if strings.Contains(out, tg.SecretAccessKey) {
		t.Fatal("verify printed the secret access key")
	}

	forged := []byte("{}\n")
	if _, err := tg.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(tg.Bucket),
		Key: aws.String(prefix + "custody/entries/00000000000000000001"), Body: bytes.NewReader(forged), ContentLength: aws.Int64(int64(len(forged)))}); err != nil {
		t.Fatal(err)
	}
	out, err = run()
	if !errors.Is(err, ErrFindings) || !strings.Contains(out, "FINDING: entry 1: the custody segment of this entry was written more than once") {
		t.Fatalf("verify after a custody segment was written over: %v\n%s", err, out)
	}

	// Both or neither: a data directory and a bucket at once is refused.
	if _, err := run("--data", t.TempDir()); err == nil || !strings.Contains(err.Error(), "exactly one of --data") {
		t.Fatalf("--data with --s3-bucket: %v", err)
	}
}
