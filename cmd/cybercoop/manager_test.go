package main

import (
	"errors"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/go-logr/logr"
)

// withoutMemoryLimitEnv runs f with GOMEMLIMIT and AUTOMEMLIMIT unset (either
// present would make automemlimit leave the limit alone) and the runtime's limit
// restored afterwards.
func withoutMemoryLimitEnv(t *testing.T, f func()) {
	t.Helper()
	for _, k := range []string{"GOMEMLIMIT", "AUTOMEMLIMIT"} {
		if v, ok := os.LookupEnv(k); ok {
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Setenv(k, v) })
		}
	}
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	f()
}

func TestSetMemoryLimitIsRatioOfTheContainerLimit(t *testing.T) {
	withoutMemoryLimitEnv(t, func() {
		container := func() (uint64, error) { return 256 << 20, nil }
		if err := setMemoryLimit(0.9, container, logr.Discard()); err != nil {
			t.Fatal(err)
		}
		if got, want := debug.SetMemoryLimit(-1), int64(256<<20)*9/10; got != want {
			t.Fatalf("GOMEMLIMIT %d, want %d (90%% of 256 MiB)", got, want)
		}
	})
}

func TestSetMemoryLimitLeavesTheRuntimeAloneWithoutAContainerLimit(t *testing.T) {
	withoutMemoryLimitEnv(t, func() {
		before := debug.SetMemoryLimit(-1)
		unreadable := func() (uint64, error) { return 0, errors.New("no cgroup") }
		if err := setMemoryLimit(0.9, unreadable, logr.Discard()); err != nil {
			t.Fatal(err)
		}
		if got := debug.SetMemoryLimit(-1); got != before {
			t.Fatalf("GOMEMLIMIT changed to %d", got)
		}
		// Off: the provider is not even asked.
		if err := setMemoryLimit(0, func() (uint64, error) { t.Fatal("asked"); return 0, nil }, logr.Discard()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSetMemoryLimitRefusesARatioOutsideZeroToOne(t *testing.T) {
	for _, r := range []float64{-0.1, 1.5} {
		err := setMemoryLimit(r, func() (uint64, error) { return 1 << 30, nil }, logr.Discard())
		if err == nil || !strings.Contains(err.Error(), "--memory-limit-ratio") || !strings.Contains(err.Error(), "between 0 (off) and 1") {
			t.Errorf("ratio %g: got %v, want an error naming the flag and the range", r, err)
		}
	}
}
