package vault

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func openDefaultHoldVault(t *testing.T, clock Clock, releaser Identity) (*Vault, string) {
	t.Helper()
	dir := t.TempDir()
	rel, err := ParsePrincipal(releaser.Subject)
	if err != nil {
		t.Fatal(err)
	}
	g := allGranted()
	g[RoleRelease] = []Principal{rel}
	v, err := Open(Config{Dir: dir, Keyring: testKeyring(t, 1), Clock: clock, Grants: g,
		Policy: Policy{MinRetention: time.Minute, LegalHoldDefault: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v, dir
}

func custodyEntries(t *testing.T, dir string) []Entry {
	t.Helper()
	var out []Entry
	for _, line := range logLines(t, dir) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		e, err := DecodeEntry(bytes.TrimSuffix(line, []byte("\n")))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestLegalHoldByDefault(t *testing.T) {
	clock := newFakeClock()
	releaser := testIdentity("CN=releaser,O=Court")
	v, dir := openDefaultHoldVault(t, clock, releaser)
	m := testMetadata(clock.Now())
	m.RetentionUntil = clock.Now().Add(time.Hour)

	if !v.Status().LegalHoldDefault {
		t.Fatal("status does not report legalHoldDefault")
	}
	res := ingest(t, v, m, []byte("held by default"))
	if !slices.Equal(res.Holds, []string{m.CaseReference}) {
		t.Fatalf("holds after an ingest without \"hold\": %v; want the case reference", res.Holds)
	}
	entries := custodyEntries(t, dir)
	if len(entries) != 2 {
		t.Fatalf("%d entries; want the ingest and the default hold", len(entries))
	}
	h := entries[1]
	if h.Action != ActionHold || h.Actor != SystemActor || h.Cert != nil || h.Object != res.Digest || h.Reference != m.CaseReference ||
		h.LegalBasis != m.LegalBasis || !strings.Contains(h.Detail, "--legal-hold-default") || !strings.Contains(h.Detail, "entry 1") {
		t.Fatalf("default hold entry: %+v", h)
	}

	clock.Advance(2 * time.Hour)
	if err := v.ExpireObject(testActor, res.Digest); !errors.Is(err, ErrUnderHold) {
		t.Fatalf("expiring an object under the default hold: %v", err)
	}
	if _, err := v.Release(testActor, res.Digest, m.CaseReference, "no longer needed"); !errors.Is(err, ErrNotAuthorised) {
		t.Fatalf("release by a client without the release role: %v", err)
	}
	if _, err := v.Release(releaser, res.Digest, m.CaseReference, "order of 2031-03-02"); err != nil {
		t.Fatalf("release by the releaser: %v", err)
	}
	if err := v.ExpireObject(testActor, res.Digest); err != nil {
		t.Fatalf("expiry after the release: %v", err)
	}

	// "hold": false declines it; the ingest entry says so.
	declined := m
	declined.RetentionUntil = clock.Now().Add(time.Hour)
	declined.DeclineDefaultHold = true
	res = ingest(t, v, declined, []byte("not held"))
	if len(res.Holds) != 0 {
		t.Fatalf("holds after \"hold\": false: %v", res.Holds)
	}
	entries = custodyEntries(t, dir)
	last := entries[len(entries)-1]
	if last.Action != ActionIngest || !strings.Contains(last.Detail, `declined the vault's default legal hold ("hold": false)`) {
		t.Fatalf("ingest entry declining the default hold: %+v", last)
	}

	// "hold": true places the hold through the ingest entry, as always.
	explicit := testMetadata(clock.Now())
	explicit.Hold = true
	n := len(custodyEntries(t, dir))
	res = ingest(t, v, explicit, []byte("held explicitly"))
	if entries = custodyEntries(t, dir); len(entries) != n+1 || !slices.Equal(res.Holds, []string{explicit.CaseReference}) {
		t.Fatalf("explicit hold: %d new entries, holds %v", len(entries)-n, res.Holds)
	}

	// The same content again under the same case: already held, no second
	// hold. Under another case: that case's default hold.
	res = ingest(t, v, testMetadata(clock.Now()), []byte("held by default, twice"))
	n = len(custodyEntries(t, dir))
	dup := ingest(t, v, testMetadata(clock.Now()), []byte("held by default, twice"))
	if entries = custodyEntries(t, dir); !dup.Duplicate || len(entries) != n+1 {
		t.Fatalf("duplicate under the same case: %d new entries", len(entries)-n)
	}
	other := testMetadata(clock.Now())
	other.CaseReference = "CASE/2031/0077"
	dup = ingest(t, v, other, []byte("held by default, twice"))
	if !slices.Equal(dup.Holds, []string{"CASE/2031/0042", "CASE/2031/0077"}) {
		t.Fatalf("duplicate under another case: holds %v", dup.Holds)
	}
	if got := custodyEntries(t, dir); got[len(got)-1].Action != ActionHold || got[len(got)-1].Reference != "CASE/2031/0077" {
		t.Fatalf("last entry %+v; want the other case's default hold", got[len(got)-1])
	}

	// The log with system holds verifies and replays.
	v.Close()
	rep, err := VerifyOffline(context.Background(), dir, testKeyring(t, 1), clock)
	if err != nil || !rep.OK() {
		t.Fatalf("offline verify: %v %v", rep.Findings, err)
	}
	v2, err := Open(Config{Dir: dir, Keyring: testKeyring(t, 1), Clock: clock, Grants: allGranted(), Policy: testPolicy})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	info, err := v2.Stat(res.Digest)
	if err != nil || len(info.Holds) != 2 {
		t.Fatalf("after restart: %+v %v", info.Holds, err)
	}
	if v2.Status().LegalHoldDefault {
		t.Fatal("status reports legalHoldDefault for a vault without it")
	}
}

func TestNoHoldWithoutTheDefault(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	v := openTestVault(t, dir, clock, testKeyring(t, 1))
	if res := ingest(t, v, testMetadata(clock.Now()), []byte("x")); len(res.Holds) != 0 {
		t.Fatalf("holds without --legal-hold-default: %v", res.Holds)
	}
	if e := custodyEntries(t, dir); len(e) != 1 || e[0].Detail != "" {
		t.Fatalf("entries: %+v", e)
	}
}

func TestParseMetadataHoldField(t *testing.T) {
	now := epoch
	base := `{"caseReference":"CASE/1","legalBasis":"UNCC art. 28","authorisationReference":"W/1","authorisationExpiry":"2031-04-01T00:00:00Z","retentionUntil":"2032-01-01T00:00:00Z"`
	for _, tc := range []struct {
		tail          string
		hold, decline bool
	}{{"}", false, false}, {`,"hold":false}`, false, true}, {`,"hold":true}`, true, false}} {
		m, err := ParseMetadata([]byte(base+tc.tail), now, testPolicy)
		if err != nil {
			t.Fatal(err)
		}
		if m.Hold != tc.hold || m.DeclineDefaultHold != tc.decline {
			t.Errorf("%s: hold %v, decline %v", tc.tail, m.Hold, m.DeclineDefaultHold)
		}
	}
}
