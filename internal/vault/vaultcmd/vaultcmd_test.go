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

	"github.com/spf13/pflag"

	"github.com/cybercoop/cybercoop-operator/internal/vault"
)

func TestEveryFlagHasHelp(t *testing.T) {
	cmd := NewCommand()
	for _, c := range append(cmd.Commands(), cmd) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if strings.TrimSpace(f.Usage) == "" {
				t.Errorf("%s --%s has no help text", c.Name(), f.Name)
			}
		})
	}
	for _, name := range []string{"data-dir", "listen", "health-listen", "tls-cert", "tls-key", "client-ca", "keyring", "hash", "reload-interval"} {
		if cmd.Flags().Lookup(name) == nil {
			t.Errorf("vault has no --%s flag", name)
		}
	}
}

func TestVerifySubcommand(t *testing.T) {
	dir := t.TempDir()
	keyDir := filepath.Join(t.TempDir(), "keys")
	os.Mkdir(keyDir, 0o700)
	os.WriteFile(filepath.Join(keyDir, "1"), []byte(hex.EncodeToString(bytes.Repeat([]byte{7}, 32))), 0o600)
	kr, err := vault.LoadKeyring(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(vault.Config{Dir: dir, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	res, err := v.Ingest(context.Background(), vault.Identity{Subject: "CN=test"}, vault.Metadata{
		CaseReference: "CASE/1", LegalBasis: "UNCC art. 28", AuthorisationReference: "W/1",
		AuthorisationExpiry: now.Add(time.Hour), RetentionUntil: now.Add(61 * 24 * time.Hour),
	}, strings.NewReader("evidence"), vault.NoExpectation)
	if err != nil {
		t.Fatal(err)
	}
	v.Close()

	run := func() (string, error) {
		cmd := NewCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs([]string{"verify", "--data", dir, "--keyring", keyDir})
		err := cmd.Execute()
		return out.String(), err
	}
	if out, err := run(); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("verify of a clean store: %v\n%s", err, out)
	}
	p := filepath.Join(dir, "objects", "sha256", res.Digest.Hex())
	b, _ := os.ReadFile(p)
	b[len(b)-3] ^= 1
	os.WriteFile(p, b, 0o600)
	out, err := run()
	if !errors.Is(err, ErrFindings) || !strings.Contains(out, "FINDING: entry 1, object "+string(res.Digest)) {
		t.Fatalf("verify of a damaged store: %v\n%s", err, out)
	}
}
