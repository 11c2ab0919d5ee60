package vaultcmd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

// TestVerifyAgainstCheckpoint: `vault verify --checkpoint --verifier-key`
// passes on the vault's own directory and reports a rolled-back copy, which
// plain `vault verify` accepts.
func TestVerifyAgainstCheckpoint(t *testing.T) {
	dir := t.TempDir()
	keyDir := filepath.Join(t.TempDir(), "keys")
	os.Mkdir(keyDir, 0o700)
	os.WriteFile(filepath.Join(keyDir, "1"), []byte(hex.EncodeToString(bytes.Repeat([]byte{7}, 32))), 0o600)
	kr, err := vault.LoadKeyring(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := vault.GenerateSigningKey("vault.test/cybercoop")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := vault.LoadSigner([]byte(skey))
	if err != nil {
		t.Fatal(err)
	}
	vkeyFile := filepath.Join(t.TempDir(), "verifier.key")
	os.WriteFile(vkeyFile, []byte(vkey+"\n"), 0o600)

	ingestOne := func(content string) {
		t.Helper()
		v, err := vault.Open(vault.Config{Dir: dir, Keyring: kr, Signer: signer})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		now := time.Now()
		if _, err := v.Ingest(context.Background(), vault.Identity{Subject: "CN=test"}, vault.Metadata{
			CaseReference: "CASE/1", LegalBasis: "UNCC art. 28", AuthorisationReference: "W/1",
			AuthorisationExpiry: now.Add(time.Hour), RetentionUntil: now.Add(61 * 24 * time.Hour),
		}, strings.NewReader(content), vault.NoExpectation); err != nil {
			t.Fatal(err)
		}
	}
	ingestOne("first")
	// The earlier state of every file, as a backup would hold it.
	backup := map[string][]byte{}
	for _, name := range []string{"custody.log", "custody.log.ack"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		backup[name] = b
	}
	ingestOne("second")
	v, err := vault.Open(vault.Config{Dir: dir, Keyring: kr, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := v.Checkpoint()
	v.Close()
	if err != nil {
		t.Fatal(err)
	}
	cpFile := filepath.Join(t.TempDir(), "checkpoint")
	os.WriteFile(cpFile, cp.Note, 0o600)

	run := func(args ...string) (string, error) {
		cmd := NewCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetIn(bytes.NewReader(cp.Note))
		cmd.SetArgs(append([]string{"verify", "--data", dir, "--keyring", keyDir}, args...))
		err := cmd.Execute()
		return out.String(), err
	}
	for _, args := range [][]string{{"--checkpoint", cpFile, "--verifier-key", vkey}, {"--checkpoint", "-", "--verifier-key", vkeyFile}} {
		out, err := run(args...)
		if err != nil || !strings.Contains(out, "checkpoint: vault.test/cybercoop, 2 entries") || !strings.HasSuffix(out, "OK\n") {
			t.Fatalf("verify %v of the vault's own directory: %v\n%s", args, err, out)
		}
	}
	if _, err := run("--checkpoint", cpFile); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Fatalf("--checkpoint without --verifier-key: %v", err)
	}
	_, otherKey, _ := vault.GenerateSigningKey("vault.test/cybercoop")
	if out, err := run("--checkpoint", cpFile, "--verifier-key", otherKey); err == nil || errors.Is(err, ErrFindings) || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("checkpoint with another key: %v\n%s", err, out)
	}

	// Roll the log and its acknowledgement record back; the second object's
	// file goes too, as a restored backup would have it.
	for name, b := range backup {
		os.WriteFile(filepath.Join(dir, name), b, 0o600)
	}
	objects, _ := filepath.Glob(filepath.Join(dir, "objects", "sha256", "*"))
	for _, p := range objects {
		if sum := sha256.Sum256([]byte("second")); filepath.Base(p) != hex.EncodeToString(sum[:]) {
			continue
		}
		os.Remove(p)
	}
	if out, err := run(); err != nil {
		t.Fatalf("plain verify of the rolled-back directory should pass (that is the point): %v\n%s", err, out)
	}
	out, err := run("--checkpoint", cpFile, "--verifier-key", vkey)
	if !errors.Is(err, ErrFindings) || !strings.Contains(out, "FINDING: the checkpoint of vault.test/cybercoop commits to 2 custody entries but the log holds 1: entry 2 is missing") {
		t.Fatalf("verify of the rolled-back directory against the checkpoint: %v\n%s", err, out)
	}
}

func TestLegalHoldDefaultFlag(t *testing.T) {
	cmd := NewCommand()
	if err := cmd.ParseFlags([]string{"--legal-hold-default"}); err != nil {
		t.Fatal(err)
	}
	if on, err := cmd.Flags().GetBool("legal-hold-default"); err != nil || !on {
		t.Fatalf("--legal-hold-default: %v %v", on, err)
	}
	if f := NewCommand().Flags().Lookup("legal-hold-default"); f.DefValue != "false" {
		t.Fatalf("--legal-hold-default defaults to %s", f.DefValue)
	}
}
