package vaultcmd

import (
	"bytes"
	"context"
	"encoding/hex"

	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/pki"
	"github.com/cybercoop/cybercoop-operator/internal/vault"
	"github.com/cybercoop/cybercoop-operator/internal/vault/s3test"
)

// lockedBuffer is a log sink written from the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serveFiles writes what `vault` serves with: a serving certificate from a CA of
// the test's, the client CA, a keyring, a checkpoint key and the S3 credentials.
func serveFiles(t *testing.T, tg *s3test.Target) (dir string) {
	t.Helper()
	dir = t.TempDir()
	now := time.Now()
	ca, err := pki.CreateCA(pki.CASpec{CommonName: "vault test CA", Country: "KE"}, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := pki.IssueLeaf(ca, pki.LeafSpec{CommonName: "vault", DNSNames: []string{"localhost"}, Usages: []pki.Usage{pki.UsageServer}}, now)
	if err != nil {
		t.Fatal(err)
	}
	key, err := leaf.PrivateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	skey, _, err := vault.GenerateSigningKey("vault.test/serve")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"tls.crt": leaf.CertificatePEM(), "tls.key": key, "ca.crt": ca.CertificatePEM(), "signing.key": []byte(skey),
		"keyring/1":                    []byte(hex.EncodeToString(bytes.Repeat([]byte{9}, 32))),
		"creds/" + accessKeyIDName:     []byte(tg.AccessKeyID),
		"creds/" + secretAccessKeyName: []byte(tg.SecretAccessKey),
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// startServe runs `vault` with the S3 flags on bucket until the test ends and
// returns its health address and log.
func startServe(t *testing.T, tg *s3test.Target, bucket string, extra ...string) (string, *lockedBuffer) {
	t.Helper()
	files := serveFiles(t, tg)
	health := freeAddr(t)
	args := []string{"--data-dir", t.TempDir(), "--listen", freeAddr(t), "--health-listen", health,
		"--tls-cert", filepath.Join(files, "tls.crt"), "--tls-key", filepath.Join(files, "tls.key"), "--client-ca", filepath.Join(files, "ca.crt"),
		"--keyring", filepath.Join(files, "keyring"), "--signing-key", filepath.Join(files, "signing.key"),
		"--s3-bucket", bucket, "--s3-endpoint", tg.Endpoint, "--s3-region", tg.Region, "--s3-prefix", s3test.Prefix(t),
		"--s3-credentials-dir", filepath.Join(files, "creds")}
	if tg.PathStyle {
		args = append(args, "--s3-path-style")
	}
	if tg.CABundle != nil {
		p := filepath.Join(files, "s3-ca.pem")
		os.WriteFile(p, tg.CABundle, 0o600)
		args = append(args, "--s3-ca-file", p)
	}
	cmd := NewCommand()
	logs := &lockedBuffer{}
	cmd.SetOut(logs)
	cmd.SetErr(logs)
	cmd.SetArgs(append(args, extra...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return health, logs
}

// readyz waits until the health endpoint answers, and returns its readiness.
func readyz(t *testing.T, health string, logs *lockedBuffer) (int, string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get("http://" + health + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the vault's health endpoint %s did not answer within 30s: %v\n%s", health, err, logs.String())
		}
		<-tick.C
	}
}

// TestS3Serve runs `cybercoop vault` with the --s3-* flags as the EvidenceVault's
// StatefulSet does: on a bucket with Object Lock it is ready; on one without, it
// stays up, not ready, and says why (in /readyz and its log) without printing
// the credentials.
func TestS3Serve(t *testing.T) {
	tg := s3test.Get(t)
	t.Run("a locked bucket", func(t *testing.T) {
		health, logs := startServe(t, tg, tg.Bucket)
		if code, body := readyz(t, health, logs); code != http.StatusOK {
			t.Fatalf("readyz = %d %q, want ready\n%s", code, body, logs.String())
		}
	})
	t.Run("a bucket without Object Lock", func(t *testing.T) {
		if tg.UnlockedBucket == "" {
			t.Skip("VAULT_S3_UNLOCKED_BUCKET names no bucket without Object Lock")
		}
		health, logs := startServe(t, tg, tg.UnlockedBucket)
		code, body := readyz(t, health, logs)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "does not have Object Lock enabled") {
			t.Fatalf("readyz = %d %q, want 503 saying the bucket has no Object Lock", code, body)
		}
		out := logs.String()
		if !strings.Contains(out, "does not have Object Lock enabled") {
			t.Fatalf("the log does not say why the vault refuses:\n%s", out)
		}
		if strings.Contains(out, tg.SecretAccessKey) || strings.Contains(body, tg.SecretAccessKey) {
			t.Fatal("the secret access key was printed")
		}
	})
	t.Run("no checkpoint key", func(t *testing.T) {
		cmd := NewCommand()
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		files := serveFiles(t, tg)
		cmd.SetArgs([]string{"--data-dir", t.TempDir(), "--tls-cert", filepath.Join(files, "tls.crt"), "--tls-key", filepath.Join(files, "tls.key"),
			"--client-ca", filepath.Join(files, "ca.crt"), "--keyring", filepath.Join(files, "keyring"), "--s3-bucket", tg.Bucket,
			"--s3-credentials-dir", filepath.Join(files, "creds")})
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--s3-bucket needs --signing-key") {
			t.Fatalf("vault --s3-bucket without --signing-key: %v", err)
		}
	})
}
