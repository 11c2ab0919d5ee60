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

func TestReaderFlagTakesEachValueWhole(t *testing.T) {
	cmd := NewCommand()
	if err := cmd.ParseFlags([]string{"--reader", "CN=alice,O=Police KE", "--releaser", "spiffe://example.org/admin"}); err != nil {
		t.Fatal(err)
	}
	var o serveOptions
	o.grants = map[vault.Role]*[]string{}
	for _, rf := range roleFlags {
		vals, err := cmd.Flags().GetStringArray(rf.flag)
		if err != nil {
			t.Fatal(err)
		}
		o.grants[rf.role] = &vals
	}
	g, err := o.buildGrants()
	if err != nil {
		t.Fatal(err)
	}
	if len(g[vault.RoleRead]) != 1 || g[vault.RoleRead][0].String() != "CN=alice,O=Police KE" {
		t.Fatalf("--reader 'CN=alice,O=Police KE' became %v; want one principal", g[vault.RoleRead])
	}
	if g.Allows(vault.Identity{Subject: "CN=alice"}, vault.RoleRead) || g.Allows(vault.Identity{Subject: "O=Police KE"}, vault.RoleRead) {
		t.Fatal("a part of the name was granted the read role")
	}
	if len(g[vault.RoleExpire]) != 0 || len(g[vault.RoleVerify]) != 0 || len(g[vault.RoleRelay]) != 0 || !g.Allows(vault.Identity{Subject: "CN=anyone"}, vault.RoleIngest) {
		t.Fatalf("defaults: %s", g)
	}
	if hl := cmd.Flags().Lookup("health-listen"); !strings.HasPrefix(hl.DefValue, "127.0.0.1:") {
		t.Fatalf("--health-listen defaults to %q; want loopback", hl.DefValue)
	}
}

func TestRelayFlagGrantsTheRelayRole(t *testing.T) {
	cmd := NewCommand()
	if err := cmd.ParseFlags([]string{"--relay", "spiffe://police.example/ns/cybercoop/sa/gateway", "--relay", "CN=gateway,O=Police KE"}); err != nil {
		t.Fatal(err)
	}
	var o serveOptions
	o.grants = map[vault.Role]*[]string{}
	for _, rf := range roleFlags {
		vals, err := cmd.Flags().GetStringArray(rf.flag)
		if err != nil {
			t.Fatal(err)
		}
		o.grants[rf.role] = &vals
	}
	g, err := o.buildGrants()
	if err != nil {
		t.Fatal(err)
	}
	gateway := vault.Identity{Subject: "CN=other", URI: "spiffe://police.example/ns/cybercoop/sa/gateway"}
	if len(g[vault.RoleRelay]) != 2 || !g.Allows(gateway, vault.RoleRelay) || !g.Allows(vault.Identity{Subject: "CN=gateway,O=Police KE"}, vault.RoleRelay) {
		t.Fatalf("--relay: %s", g)
	}
	if g.Allows(vault.Identity{Subject: "CN=gateway"}, vault.RoleRelay) || g.Allows(gateway, vault.RoleList) {
		t.Fatalf("--relay granted too much: %s", g)
	}
}

func TestExportVerifiesOfflineWithTheCLI(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "signing.key")
	var out bytes.Buffer
	cmd := NewCommand()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"keygen", "--name", "vault.test/cybercoop", "--out", keyFile})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	vkey := strings.TrimSpace(out.String())
	skey, _ := os.ReadFile(keyFile)
	signer, err := vault.LoadSigner(skey)
	if err != nil || signer.VerifierKey() != vkey {
		t.Fatalf("signer %v, verifier key %q vs %q", err, signer.VerifierKey(), vkey)
	}
	if strings.Contains(out.String(), "PRIVATE") {
		t.Fatal("keygen printed the private key")
	}
	kr, _ := vault.NewKeyring(map[uint32][]byte{1: bytes.Repeat([]byte{7}, 32)})
	v, err := vault.Open(vault.Config{Dir: dir, Keyring: kr, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	alice := vault.Identity{Subject: "CN=alice", Issuer: "CN=ca", Serial: "1", Fingerprint: "sha256:" + strings.Repeat("ab", 32)}
	m := vault.Metadata{CaseReference: "CASE/1", LegalBasis: "UNCC art. 28", AuthorisationReference: "W/1",
		AuthorisationExpiry: now.Add(time.Hour), RetentionUntil: now.Add(61 * 24 * time.Hour)}
	res, err := v.Ingest(context.Background(), alice, m, strings.NewReader("evidence"), vault.NoExpectation)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "export.tar")
	f, _ := os.Create(archive)
	if err := v.Export(context.Background(), alice, res.Digest, "W/1", f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	v.Close()
	run := func(args ...string) (string, error) {
		cmd := NewCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.Execute()
		return out.String(), err
	}
	if out, err := run("verify-export", "--verifier-key", vkey, archive); err != nil || !strings.Contains(out, "OK: "+string(res.Digest)) || !strings.Contains(out, "export") {
		t.Fatalf("verify-export: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(archive)
	b[bytes.LastIndex(b, []byte("evidence"))] ^= 1 // inside the object member
	os.WriteFile(archive, b, 0o600)
	if out, err := run("verify-export", "--verifier-key", vkey, archive); err == nil {
		t.Fatalf("verify-export of a damaged archive succeeded:\n%s", out)
	}
	if out, err := run("report", "--data", dir, "--case", "CASE/1"); err != nil || !strings.Contains(out, "ingest") || !strings.Contains(out, alice.Fingerprint) {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if out, err := run("access", "--data", dir, "--actor", "CN=alice"); err != nil || !strings.Contains(out, "export") || strings.Contains(out, "  ingest  ") {
		t.Fatalf("access: %v\n%s", err, out)
	}
}
