package vault

import (
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
