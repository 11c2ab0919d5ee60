package vault

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

func inFlight(v *Vault) float64 {
	var m dto.Metric
	if err := v.metrics.ingestsInFlight.Write(&m); err != nil {
		panic(err)
	}
	return m.GetGauge().GetValue()
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC() // the second cycle empties sync.Pool's victim cache
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestSlowClientsAreCutOffAndLeaveNothingBehind sends 200 authenticated
// ingests whose bodies trickle (the issue's "one byte every two seconds",
// time-scaled): each is refused (429, over the ingest limits) or cut off
// (408, below the minimum body rate), nothing is stored, and once they are
// gone the goroutines and the Go heap return near their baseline.
func TestSlowClientsAreCutOffAndLeaveNothingBehind(t *testing.T) {
	clock := newFakeClock()
	v := openTestVault(t, t.TempDir(), clock, testKeyring(t, 1))
	ts := startTestServer(t, v, serverOptions{limits: Limits{
		MaxIngests: 8, MaxIngestsPerClient: 2,
		BodyIdleTimeout: time.Second, MinBodyRate: 64 << 10, BodyRateWindow: 300 * time.Millisecond,
	}})
	meta, _ := json.Marshal(testMetadata(clock.Now()))
	// Warm up: one real ingest, so pools and TLS state exist in the baseline.
	if code, body := do(t, ts.client(t, "warm-up"), ingestRequest(t, ts.url("/v1/objects"), meta, strings.NewReader(strings.Repeat("w", 3<<20)))); code != 201 {
		t.Fatalf("warm-up ingest: %d %s", code, body)
	}
	const clients, connsPerClient = 20, 10
	certs := make([]tls.Certificate, clients)
	for i := range certs {
		certPEM, keyPEM, _ := ts.clientCA.issueValid(t, fmt.Sprintf("slow-%d", i), false)
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		certs[i] = c
	}
	roots := x509.NewCertPool()
	roots.AddCert(ts.serverCA.cert)
	baseGoroutines := runtime.NumGoroutine()
	baseHeap := heapInUse()
	entriesBefore := v.Status().CustodyEntries

	var codes sync.Map // status → count
	var peakInFlight atomic.Int64
	var wg sync.WaitGroup
	for i := range clients * connsPerClient {
		wg.Go(func() {
			conn, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{certs[i%clients]}, MinVersion: tls.VersionTLS13})
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			body := multipartBody(meta, nil, false)
			fmt.Fprintf(conn, "POST /v1/objects HTTP/1.1\r\nHost: vault\r\nContent-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n", testBoundary, 10<<20)
			conn.Write(body)
			answered := make(chan int, 1)
			go func() {
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					answered <- 0
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				answered <- resp.StatusCode
			}()
			trickle := time.NewTicker(20 * time.Millisecond) // the slow client's pace, not a wait for a condition
			defer trickle.Stop()
			for {
				select {
				case code := <-answered:
					n, _ := codes.LoadOrStore(code, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
					return
				case <-trickle.C:
					if f := inFlight(v); int64(f) > peakInFlight.Load() {
						peakInFlight.Store(int64(f))
					}
					conn.Write([]byte{'x'})
				}
			}
		})
	}
	wg.Wait()
	summary := map[int]int64{}
	codes.Range(func(k, v any) bool { summary[k.(int)] = v.(*atomic.Int64).Load(); return true })
	t.Logf("answers to %d slow ingests: %v; at most %d ingests held a slot at once", clients*connsPerClient, summary, peakInFlight.Load())
	if summary[201] != 0 || summary[200] != 0 {
		t.Fatalf("a slow, incomplete ingest was acknowledged: %v", summary)
	}
	if summary[http.StatusRequestTimeout] == 0 || summary[http.StatusTooManyRequests] == 0 {
		t.Fatalf("answers %v; want both 408 (cut off) and 429 (over the limits)", summary)
	}
	if peakInFlight.Load() > 8 {
		t.Fatalf("%d ingests held a slot at once; the limit is 8", peakInFlight.Load())
	}
	waitFor(t, "every ingest slot to be released", 10*time.Second, func() bool { return inFlight(v) == 0 })
	waitFor(t, "the server's goroutines to return near the baseline", 10*time.Second, func() bool { return runtime.NumGoroutine() <= baseGoroutines+2 })
	after := heapInUse()
	ratio := float64(after) / float64(baseHeap)
	t.Logf("heap in use: baseline %.1f MiB, after the slow clients left %.1f MiB (ratio %.2f); goroutines %d → %d",
		float64(baseHeap)/(1<<20), float64(after)/(1<<20), ratio, baseGoroutines, runtime.NumGoroutine())
	if ratio > 1.5 {
		t.Fatalf("heap after the slow clients left is %.2f× the baseline; want at most 1.5×", ratio)
	}
	if n := v.Status().CustodyEntries; n != entriesBefore {
		t.Fatalf("slow clients produced %d custody entries", n-entriesBefore)
	}
}
