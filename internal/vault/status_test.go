package vault

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStatusCountsHeldAndExpirableObjects: the operator reports how many objects may
// be expired (past retention, not held), because nothing expires them on its own.
func TestStatusCountsHeldAndExpirableObjects(t *testing.T) {
	clock := newFakeClock()
	v := openTestVault(t, t.TempDir(), clock, testKeyring(t, 1))
	short := testMetadata(clock.Now())
	short.RetentionUntil = clock.Now().Add(time.Hour)
	long := testMetadata(clock.Now())
	long.RetentionUntil = clock.Now().Add(48 * time.Hour)
	ingest(t, v, short, []byte("expires first"))
	held := ingest(t, v, short, []byte("expires first but is held"))
	ingest(t, v, long, []byte("kept longer"))
	if _, err := v.Hold(testActor, held.Digest, "case-held", "UNCC art. 42"); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		advance             time.Duration
		wantHeld, wantExpir int
	}{
		{0, 1, 0},
		{2 * time.Hour, 1, 1},
		{72 * time.Hour, 1, 2},
	} {
		clock.Advance(step.advance)
		s := v.Status()
		if s.Held != step.wantHeld || s.PastRetention != step.wantExpir {
			t.Fatalf("after %s: held %d, past retention %d; want %d and %d", step.advance, s.Held, s.PastRetention, step.wantHeld, step.wantExpir)
		}
	}
}

// TestListingHidesOtherCasesHoldReferences: a client that shares an object with
// another case learns that the object is held, not under which reference.
func TestListingHidesOtherCasesHoldReferences(t *testing.T) {
	clock := newFakeClock()
	v, err := Open(Config{Dir: t.TempDir(), Keyring: testKeyring(t, 1), Clock: clock, Grants: DefaultGrants(), Policy: testPolicy})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	alice, bob := testIdentity("CN=alice,O=Police KE"), testIdentity("CN=bob,O=Police VN")
	metaA, metaB := testMetadata(clock.Now()), testMetadata(clock.Now())
	metaA.CaseReference, metaB.CaseReference = "KE/CASE/1", "VN/CASE/9"
	content := "the same evidence, ingested by two cases"
	resA, err := v.Ingest(context.Background(), alice, metaA, strings.NewReader(content), NoExpectation)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Ingest(context.Background(), bob, metaB, strings.NewReader(content), NoExpectation); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Hold(alice, resA.Digest, "KE/CASE/1", "UNCC art. 42"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		who        Identity
		wantHolds  []string
		wantOthers int
	}{
		{alice, []string{"KE/CASE/1"}, 0},
		{bob, []string{}, 1},
	} {
		list := mustList(t, v, tc.who)
		if len(list) != 1 {
			t.Fatalf("%s sees %d objects", tc.who.Subject, len(list))
		}
		if !slices.Equal(list[0].Holds, tc.wantHolds) || list[0].OtherHolds != tc.wantOthers {
			t.Errorf("%s sees holds %v and %d other(s); want %v and %d", tc.who.Subject, list[0].Holds, list[0].OtherHolds, tc.wantHolds, tc.wantOthers)
		}
	}
}
