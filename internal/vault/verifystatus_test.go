package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLastVerificationInStatus(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	auditor := testIdentity("CN=auditor")
	aud, err := ParsePrincipal(auditor.Subject)
	if err != nil {
		t.Fatal(err)
	}
	g := DefaultGrants()
	g[RoleVerify] = []Principal{aud}
	v, err := Open(Config{Dir: dir, Keyring: testKeyring(t, 1), Clock: clock, Grants: g, Policy: testPolicy})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	d := ingest(t, v, testMetadata(clock.Now()), randomBytes(5, 3000)).Digest
	ingest(t, v, testMetadata(clock.Now()), randomBytes(6, 100))

	if _, err := v.Verify(context.Background(), auditor); err != nil {
		t.Fatal(err)
	}
	lv := v.Status().LastVerification
	if lv == nil || !lv.OK || lv.Entries != 2 || lv.Objects != 2 || lv.Bytes != 3100 || lv.Message != "verified 2 custody entries, 2 objects, 3100 bytes: no findings" || lv.FirstFindings != nil {
		t.Fatalf("clean verification: %+v", lv)
	}

	// Damage the object: the message names the finding, for the auditor only.
	p := objectPath(dir, d)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := v.Verify(context.Background(), auditor)
	if err != nil || rep.OK() {
		t.Fatalf("verify of a damaged object: %v %v", rep.Findings, err)
	}
	lv = v.statusFor(auditor).LastVerification
	if lv.OK || lv.Findings != 1 || lv.Entries != 3 || len(lv.FirstFindings) != 1 || !strings.Contains(lv.FirstFindings[0], string(d)) ||
		!strings.HasPrefix(lv.Message, "verified 3 custody entries, 2 objects, 3100 bytes: 1 finding(s): entry 1, object "+string(d)) {
		t.Fatalf("damaged object, auditor's view: %+v", lv)
	}
	other := v.statusFor(testActor).LastVerification
	if other.Message != "" || other.FirstFindings != nil || other.Findings != 1 || other.Objects != 2 {
		t.Fatalf("a client without the verify or list role sees %+v", other)
	}
	if v.Status().LastVerification.Message == "" {
		t.Fatal("redacting a client's view changed the vault's own record")
	}
	js, _ := json.Marshal(v.statusFor(auditor))
	for _, field := range []string{`"entries":3`, `"objects":2`, `"message":"verified`, `"firstFindings":[`, `"legalHoldDefault":false`, `"verifierKey":"cybercoop-vault+`} {
		if !bytes.Contains(js, []byte(field)) {
			t.Errorf("/status JSON lacks %s: %s", field, js)
		}
	}
}

func TestVerifyMessageIsBounded(t *testing.T) {
	rep := Report{Entries: 9, Objects: 9}
	for range 40 {
		rep.Findings = append(rep.Findings, Finding{Seq: 7, Problem: strings.Repeat("é", 400)})
	}
	s := verifyStatusOf(rep, 10)
	if len(s.Message) > MaxVerifyMessage || !strings.Contains(s.Message, "more") || len(s.FirstFindings) != maxFirstFindings {
		t.Fatalf("message of %d bytes, %d first findings: %q", len(s.Message), len(s.FirstFindings), s.Message)
	}
	for _, f := range s.FirstFindings {
		if len(f) > maxFindingText || !strings.HasSuffix(f, "…") || !strings.HasPrefix(f, "entry 7: é") {
			t.Fatalf("first finding of %d bytes: %q", len(f), f)
		}
	}
}

// TestVerifyComparesTheFileWithTheTree: a log file rewritten under the
// running vault with a consistent hash chain passes the chain checks; the
// Merkle tree the vault signs checkpoints from does not match it.
func TestVerifyComparesTheFileWithTheTree(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	v := openTestVault(t, dir, clock, testKeyring(t, 1))
	ingest(t, v, testMetadata(clock.Now()), []byte("one"))
	ingest(t, v, testMetadata(clock.Now()), []byte("two"))

	lines := logLines(t, dir)
	prev := genesisHash
	for i, line := range lines {
		if len(line) == 0 {
			continue
		}
		e, err := DecodeEntry(bytes.TrimSuffix(line, []byte("\n")))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			e.LegalBasis = strings.Replace(e.LegalBasis, "28", "29", 1)
			m := *e.Metadata
			m.LegalBasis = e.LegalBasis
			e.Metadata = &m
		}
		e.Prev = prev
		e, lines[i], err = encodeEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		prev = e.Hash
	}
	if err := os.WriteFile(filepath.Join(dir, custodyLogName), bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := v.Verify(context.Background(), testActor)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 || !strings.Contains(rep.Findings[0].Problem, "the file was changed while the vault was running") {
		t.Fatalf("findings: %v", rep.Findings)
	}
}
