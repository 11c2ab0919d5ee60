package perf

import (
	"bytes"
	"fmt"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
)

// memStatsOfProfile reads the runtime.MemStats lines that end a heap profile in
// text ("# Name = value", or "# Name = in use / obtained", of which the first).
func memStatsOfProfile(profile string) (map[string]uint64, error) {
	_, stats, ok := strings.Cut(profile, "# runtime.MemStats\n")
	if !ok {
		return nil, fmt.Errorf("the heap profile ends without runtime.MemStats")
	}
	out := map[string]uint64{}
	for _, line := range strings.Split(stats, "\n") {
		name, value, ok := strings.Cut(strings.TrimPrefix(line, "# "), " = ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.Fields(value)[0], 10, 64); err == nil {
			out[name] = n
		}
	}
	for _, name := range []string{"HeapAlloc", "HeapInuse", "HeapIdle", "HeapReleased", "Stack", "MSpan", "MCache", "BuckHashSys", "GCSys", "OtherSys"} {
		if _, ok := out[name]; !ok {
			return nil, fmt.Errorf("the heap profile's runtime.MemStats has no %s", name)
		}
	}
	return out, nil
}

func TestMemStatsOfProfileReadsTheRuntimesFigures(t *testing.T) {
	runtime.GC()
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	got, err := memStatsOfProfile(buf.String())
	if err != nil {
		t.Fatal(err)
	}
	if got["HeapAlloc"] == 0 || got["HeapInuse"] < got["HeapAlloc"] || got["GCSys"] == 0 {
		t.Errorf("HeapAlloc %d, HeapInuse %d, GCSys %d: want 0 < HeapAlloc <= HeapInuse, GCSys > 0", got["HeapAlloc"], got["HeapInuse"], got["GCSys"])
	}

	// "Name = in use / obtained" gives the figure in use.
	lines := []string{"heap profile: 1: 2 [3: 4] @ heap/4096", "", "# runtime.MemStats"}
	for i, name := range []string{"HeapAlloc", "HeapInuse", "HeapIdle", "HeapReleased", "BuckHashSys", "GCSys", "OtherSys"} {
		lines = append(lines, fmt.Sprintf("# %s = %d", name, 1000+i))
	}
	lines = append(lines, "# Stack = 65536 / 131072", "# MSpan = 300 / 400", "# MCache = 500 / 600", "# DebugGC = false")
	got, err = memStatsOfProfile(strings.Join(lines, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got["HeapAlloc"] != 1000 || got["OtherSys"] != 1006 || got["Stack"] != 65536 || got["MSpan"] != 300 || got["MCache"] != 500 {
		t.Errorf("read %v", got)
	}
	if _, err := memStatsOfProfile(strings.Join(lines[:len(lines)-3], "\n")); err == nil || !strings.Contains(err.Error(), "no MSpan") {
		t.Errorf("a MemStats without MSpan: error %v, want one naming MSpan", err)
	}
	if _, err := memStatsOfProfile(lines[0]); err == nil {
		t.Error("a profile without runtime.MemStats was read")
	}
}
