//go:build perf

package perf

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

// report collects the scenarios' figures and writes docs/performance.md.
type report struct {
	started      time.Time
	took         time.Duration
	warmUp       time.Duration
	meshRun      run // the last of meshRuns, which the later scenarios use
	floorRun     floorRun
	meshRuns     []run
	floorRuns    []floorRun
	regionRun    run // the last of regionRuns, which the memory scenario starts from
	regionRuns   []run
	idle         *idleRun
	storm        *stormRun
	bundles      *bundlesRun
	memory       *memoryRun
	benchDir     string
	vault        map[string]float64
	gateway      map[string]map[string]float64
	servicesNote string
}

func newReport() *report { return &report{started: time.Now()} }

func (r *report) mesh(m []run, f []floorRun) {
	r.meshRuns, r.floorRuns = m, f
	r.meshRun, r.floorRun = m[len(m)-1], f[len(f)-1]
}

// meshReady is the median time of the mesh runs to every channel Ready.
func (r *report) meshReady() time.Duration {
	return median(r.meshRuns, func(m run) time.Duration { return m.ready })
}

// floorTime is the median of the floor runs, API and signing.
func (r *report) floorTime() time.Duration {
	return median(r.floorRuns, func(f floorRun) time.Duration { return f.api + f.signing })
}

// median is the median of f over runs (the lower middle of an even count).
func median[T any](runs []T, f func(T) time.Duration) time.Duration {
	ds := make([]time.Duration, len(runs))
	for i, x := range runs {
		ds[i] = f(x)
	}
	slices.Sort(ds)
	return ds[(len(ds)-1)/2]
}

// medianCPU is the median of the runs' total CPU.
func medianCPU[T any](runs []T, f func(T) cpuTimes) time.Duration {
	return median(runs, func(x T) time.Duration { return f(x).total() })
}

// eachCPU lists each run's CPU by process, separated by semicolons.
func eachCPU[T any](runs []T, f func(T) cpuTimes) string {
	parts := make([]string, len(runs))
	for i, x := range runs {
		parts[i] = f(x).String()
	}
	return strings.Join(parts, "; ")
}

// joinInts lists f over runs: "0, 0, 0".
func joinInts[T any](runs []T, f func(T) int) string {
	parts := make([]string, len(runs))
	for i, x := range runs {
		parts[i] = strconv.Itoa(f(x))
	}
	return strings.Join(parts, ", ")
}

// each lists f over runs: "1.3 s, 1.5 s, 1.4 s".
func each[T any](runs []T, f func(T) time.Duration) string {
	parts := make([]string, len(runs))
	for i, x := range runs {
		parts[i] = fmt.Sprintf("%.2f s", f(x).Seconds())
	}
	return strings.Join(parts, ", ")
}
func (r *report) region(runs []run) { r.regionRuns, r.regionRun = runs, runs[len(runs)-1] }

// regionReady is the median time of the region runs to every channel Ready.
func (r *report) regionReady() time.Duration {
	return median(r.regionRuns, func(g run) time.Duration { return g.ready })
}

// services reads the micro-benchmarks make bench ran before the harness.
func (r *report) services(dir string) {
	if dir == "" {
		r.servicesNote = "not run: PERF_BENCH_DIR is not set (make bench sets it)"
		return
	}
	r.benchDir = dir
	if rel, err := filepath.Rel(envtestutil.RepoRoot(), dir); err == nil && !strings.HasPrefix(rel, "..") {
		r.benchDir = rel
	}
	r.vault = benchMetrics(filepath.Join(dir, "vault-ingest.txt"))["BenchmarkIngest"]
	r.gateway = benchMetrics(filepath.Join(dir, "gateway.txt"))
}

var benchLine = regexp.MustCompile(`^(Benchmark[A-Za-z0-9_]+)(?:-\d+)?\s+\d+\s+(.*)$`)

// benchMetrics reads `go test -bench` output: metrics by benchmark and unit.
func benchMetrics(path string) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		fields := strings.Fields(m[2])
		metrics := map[string]float64{}
		for i := 0; i+1 < len(fields); i += 2 {
			if v, err := strconv.ParseFloat(fields[i], 64); err == nil {
				metrics[fields[i+1]] = v
			}
		}
		out[m[1]] = metrics
	}
	return out
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func per(n, d int) string {
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", float64(n)/float64(d))
}

func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func verbs(t tally) string {
	keys := make([]string, 0, len(t.byVerb))
	for k := range t.byVerb {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, t.byVerb[k])
	}
	return strings.Join(parts, ", ")
}

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# Performance at the scale of the convention")
	w("")
	w("<!-- Generated by `make bench` (test/perf, TestHarness with -tags perf). Do not edit by hand: run it again. -->")
	w("")
	w("Measured on %s, %d CPUs, %s, against the real kube-apiserver and etcd (envtest) with the manager in the same process (for the memory figures, the manager binary in a process of its own); the harness took %s.",
		r.started.UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), runtime.Version(), r.took.Round(time.Second))
	w("API requests are the manager's own (its client, informers and event recorder share one counting transport); events are counted apart.")
	w("Peers are one local mutual-TLS server answering for every peer's name, with a serving certificate and trust bundle signing key for each. No vault process runs, so EvidenceVaults stay not Ready (`VaultUnreachable`), and no Deployment controller runs, so FocalPoints are not `Available`: the figures are for channels Ready and in their gateway's channels file.")
	w("")

	m, f := r.meshRun, r.floorRun
	w("## Full mesh: 1 FocalPoint, 1 EvidenceVault, %d CooperationChannels created at once", m.channels)
	w("")
	w("| measure | value |")
	w("|---|---|")
	w("| before it, apart: the manager started and a first country (4 channels) Ready, then removed (the manager then stopped for the floor and started again) | %s |", secs(r.warmUp))
	w("| runs of the mesh, and of the floor (each compared by its median) | %d, %d |", len(r.meshRuns), len(r.floorRuns))
	w("| every channel Ready (median; each run) | %s (%s) |", secs(r.meshReady()), each(r.meshRuns, func(m run) time.Duration { return m.ready }))
	w("| every channel in the gateway's channels file (last run) | %s |", secs(m.configured))
	w("| floor: create each channel, its Secret, write its status once, the Secret and the status of the same content as the operator's (copied from a channel of the first country; plain client, %d workers, as many as the operator's channel workers; each run) | %s |",
		f.workers, each(r.floorRuns, func(f floorRun) time.Duration { return f.api }))
	w("| floor: key generation and signature per leaf (%d workers; each run) | %s |", f.workers, each(r.floorRuns, func(f floorRun) time.Duration { return f.signing }))
	w("| **Ready as a ratio to the floor (API + signing), median to median** | **%s** (target ≤ 2×) |", ratio(r.meshReady().Seconds(), r.floorTime().Seconds()))
	w("| CPU used until every channel Ready, by process (each run) | %s |", eachCPU(r.meshRuns, func(m run) cpuTimes { return m.cpu }))
	w("| CPU used by the floor's API writes, by process (each run) | %s |", eachCPU(r.floorRuns, func(f floorRun) cpuTimes { return f.cpu }))
	w("| CPU of the mesh / CPU of the floor, median to median | %s |", ratio(medianCPU(r.meshRuns, func(m run) cpuTimes { return m.cpu }).Seconds(),
		medianCPU(r.floorRuns, func(f floorRun) cpuTimes { return f.cpu }).Seconds()))
	w("| requests by verb | %s |", verbs(m.requests))
	w("| **writes per channel**: to its status and its client Secret (certificate and peer trust) | **%s** (target ≤ 3) |", per(m.ownWrites, m.channels))
	w("| all the manager's writes / channels (the FocalPoint's and the EvidenceVault's %d included) | %s |", m.requests.writes-m.ownWrites, per(m.requests.writes, m.channels))
	w("| writes by resource | %s |", m.requests.describeWrites())
	w("| reads sent to the API server (cache misses), by resource and answer | %s |", m.requests.describeGets())
	w("| 409 conflicts | %d (target 0) |", m.requests.conflicts)
	w("| channel client certificates issued (Secret writes) | %d |", m.issued)
	w("| gateway channels Secret writes | %d |", m.gatewayCfg)
	w("| gateway channels Secrets: how many, their files' size | %d, %.0f KiB, %.1f KiB per channel: one Secret holds 900 KiB of them, so about %d such channels; more go to further Secrets, up to 16 |",
		m.configSecrets, float64(m.configSize)/1024, float64(m.configSize)/1024/float64(max(1, m.channels)), (900<<10)/max(1, m.configSize/max(1, m.channels)))
	w("| events | %d |", m.events)
	w("")

	g := r.regionRun
	w("## Region: %d objects (countries × (FocalPoint + EvidenceVault + channels))", g.objects)
	w("")
	w("| per object | N = %d (mesh) | N = %d (region) | ratio (target ≤ 1.2×) |", m.objects, g.objects)
	w("|---|---|---|---|")
	w("| time to every channel Ready (median of %d and %d runs) | %.1f ms | %.1f ms | %s |", len(r.meshRuns), len(r.regionRuns),
		msPer(r.meshReady(), m.objects), msPer(r.regionReady(), g.objects), ratio(msPer(r.regionReady(), g.objects), msPer(r.meshReady(), m.objects)))
	w("| API requests | %s | %s | %s |", per(m.requests.total, m.objects), per(g.requests.total, g.objects),
		ratio(float64(g.requests.total)/float64(g.objects), float64(m.requests.total)/float64(m.objects)))
	w("| writes | %s | %s | %s |", per(m.requests.writes, m.objects), per(g.requests.writes, g.objects),
		ratio(float64(g.requests.writes)/float64(g.objects), float64(m.requests.writes)/float64(m.objects)))
	w("| 409 conflicts | %d | %d | |", m.requests.conflicts, g.requests.conflicts)
	w("| gateway channels Secret writes per FocalPoint | %s | %s | |", per(m.gatewayCfg, m.countries), per(g.gatewayCfg, g.countries))
	w("")
	w("Each run's time to every channel Ready: mesh %s; region %s. The requests, writes and conflicts are the last run's (each run of the region: %s conflicts).",
		each(r.meshRuns, func(m run) time.Duration { return m.ready }), each(r.regionRuns, func(g run) time.Duration { return g.ready }),
		joinInts(r.regionRuns, func(g run) int { return g.requests.conflicts }))
	w("")
	w("Region requests by verb: %s. Writes: %s.", verbs(g.requests), g.requests.describeWrites())
	w("")

	if i := r.idle; i != nil {
		hours := i.window.Hours()
		w("## Steady state: the mesh left idle for %s (reported per hour)", i.window)
		w("")
		w("The window is shorter than an hour; counts are scaled to an hour. Leader election is off in the harness, so there are no Lease writes.")
		w("")
		w("| measure | value |")
		w("|---|---|")
		w("| writes per object per hour | %.2f (target 0) |", float64(i.writes.writes)/float64(i.objects)/hours)
		w("| writes in the window | %d: %s |", i.writes.writes, i.writes.describeWrites())
		w("| requests by verb in the window | %s |", verbs(i.writes))
		w("| reconciles per minute | %.1f |", i.reconciles/i.window.Minutes())
		w("| probes per channel per hour | %.2f |", float64(i.probes)/float64(i.channels)/hours)
		w("| probes in the window; the most in one second; seconds with a probe | %d; %d; %d |", i.probes, i.busiest, i.probeSeconds)
		w("")
		w("Every channel was probed when it was created. Each probes again at its own point of the interval (from its UID), between half an interval and one and a half after that first probe, then once an interval: a window of one interval right after the creation sees about half of the channels' second probes, spread over the interval instead of all in one second.")
		w("")
	}
	if s := r.storm; s != nil {
		w("## Rotation storm: every certificate of the mesh past its renewal time at once")
		w("")
		w("The operator's clock is moved 61 days ahead (leaves live 90 days, renewed at 2/3) and the operator restarted, so every object is reconciled at once.")
		w("")
		w("| measure | value |")
		w("|---|---|")
		w("| every channel renewed and Ready | %s |", secs(s.renewed))
		w("| leaf Secrets written | %d |", s.leaves)
		w("| writes per renewed leaf | %s |", per(s.requests.writes, s.leaves))
		w("| gateway reloads (channels Secret writes) for one FocalPoint | %d (target 1) |", s.gatewayCfg)
		w("| 409 conflicts | %d |", s.requests.conflicts)
		w("| writes | %s |", s.requests.describeWrites())
		w("")
	}
	r.bundlesSection(w)
	if mm := r.memory; mm != nil {
		w("## Memory")
		w("")
		w("The manager binary (`cybercoop manager`, the container's flags, Go's defaults: no memory limit) in a process of its own, as its pod runs it. "+
			"After a forced garbage collection (through its profiling endpoint, `--pprof-bind-address`) the harness waits until its RSS stops falling "+
			"(no new low by 1 MiB for 10 s: the runtime returns freed memory to the operating system gradually; it took %s, %s and %s for the rows below, those 10 s included), "+
			"then reads RSS from /proc and the Go runtime's figures from the heap profile the process serves after another collection. "+
			"What the runtime keeps of freed memory is in RSS, as it is in a pod's memory use. "+
			"It takes over from the manager in the test process once the earlier scenarios' countries are removed. "+
			"The channels are %d whole countries (a FocalPoint, an EvidenceVault and up to 200 channels each), every channel Ready: "+
			"its client Secret (certificate and peer trust) in the cache, its peer probed, its metrics kept, and in its gateway's channels file. "+
			"They were all Ready %s after their creation began.", secs(mm.empty.rssSettled), secs(mm.withMany.rssSettled), secs(mm.afterRestart.rssSettled), mm.countries, secs(mm.hub.ready))
		w("")
		w("| when | live heap | heap in use | freed, not yet returned | stacks | runtime | RSS file-backed (code) | **RSS** |")
		w("|---|---|---|---|---|---|---|---|")
		row := func(m memStats) string {
			return fmt.Sprintf("%s | %s | %s | %s | %s | %s | **%s**", mib(m.heapAlloc), mib(m.heapInuse), mib(m.heapFree), mib(m.stacks), mib(m.runtimeOther), mib(m.rssFile), mib(m.rss))
		}
		w("| no country: what the manager costs before its first channel | %s |", row(mm.empty))
		w("| %d channels, every one Ready | %s (target < 150 MiB) |", mm.channels, row(mm.withMany))
		w("| the manager started again with them (settled in %s) | %s |", secs(mm.restartSettled), row(mm.afterRestart))
		w("")
		if mm.channels > 0 {
			per := func(a, b uint64) string {
				return fmt.Sprintf("%.1f KiB", (float64(a)-float64(b))/1024/float64(mm.channels))
			}
			w("Each channel adds %s of RSS and %s of live heap to the manager started with them (%s and %s just after their creation). "+
				"Heap in use is more than the live heap because a span of the heap holds objects of several lifetimes, and a span with one live object cannot be returned; "+
				"the runtime returns freed spans to the operating system gradually, keeping about as much as the heap may grow to before its next collection (twice the live heap with Go's defaults). "+
				"The manager started again (a rescheduled pod, an upgrade) fills its caches with one list and writes nothing: it holds no Events of the channels' creation "+
				"(the events library keeps each for 6 to 12 minutes), and its heap is less scattered. "+
				"With a memory limit the manager sets its Go memory limit to 90%% of it (`--memory-limit-ratio`), and the runtime collects and returns memory sooner to stay below it.",
				per(mm.afterRestart.rss, mm.empty.rss), per(mm.afterRestart.heapAlloc, mm.empty.heapAlloc),
				per(mm.withMany.rss, mm.empty.rss), per(mm.withMany.heapAlloc, mm.empty.heapAlloc))
			w("")
		}
	}
	w("## Services")
	w("")
	if r.servicesNote != "" {
		w("%s.", r.servicesNote)
	} else {
		v := r.vault
		w("From the micro-benchmarks `make bench` ran just before (output in `%s`).", r.benchDir)
		w("")
		w("| measure | value |")
		w("|---|---|")
		if v != nil {
			w("| vault ingest | %.0f MB/s, %.2f CPU s/GiB |", v["ingest-MB/s"], v["ingest-cpu-s/GiB"])
			if others, ok := v["ingest-others-cores"]; ok {
				// Ingest needs about 1.5 cores for 0.9× (hashing on one, the rest
				// beside it): a busy machine explains a low ratio.
				w("| CPU the rest of the machine used during the ingest | %.2f of %d cores |", others, runtime.NumCPU())
			}
			w("| limits: SHA-256, AES-256-GCM, write+fsync | %.0f, %.0f, %.0f MB/s |", v["sha256-MB/s"], v["aes-gcm-MB/s"], v["write+fsync-MB/s"])
			w("| **vault ingest / slowest limit** | **%.2f×** (target ≥ 0.9×) |", v["ratio-to-slowest"])
		}
		acc, bare := r.gateway["BenchmarkPreservationAccepted"], r.gateway["BenchmarkBareTLS13"]
		if acc != nil && bare != nil {
			w("| gateway accepted Preservation requests | %.0f req/s, p99 %.1f ms |", acc["req/s"], acc["p99-ms"])
			w("| bare TLS 1.3 server, same clients | %.0f req/s, p99 %.1f ms |", bare["req/s"], bare["p99-ms"])
			w("| **gateway / bare TLS** | **%s** (target ≥ 0.5×) |", ratio(acc["req/s"], bare["req/s"]))
			if floor := r.gateway["BenchmarkDurableFloor"]; floor != nil {
				w("| durable floor: the bare server also creating and fsyncing the two files of each request | %.0f req/s, p99 %.1f ms |", floor["req/s"], floor["p99-ms"])
				w("| durable floor / bare TLS (what durability leaves of the target) | %s |", ratio(floor["req/s"], bare["req/s"]))
				w("| **gateway / durable floor** | **%s** |", ratio(acc["req/s"], floor["req/s"]))
			}
		}
	}
	w("")
	w("Reproduce: `make bench` (knobs: PERF_CHANNELS, PERF_NAMESPACES, PERF_REGION_CHANNELS, PERF_IDLE, PERF_MEMORY_CHANNELS, PERF_CONCURRENCY; see test/perf/harness_test.go).")
	return b.String()
}

func msPer(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Milliseconds()) / float64(n)
}
