package gateway

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
)

// The gateway's throughput is measured beside a bare Go TLS 1.3 server with mutual
// TLS answering 200 to the same requests, in the same run, from the same clients;
// the ratio of the two is what to compare across machines:
//
//	go test -run x -bench 'Accepted|BareTLS' -benchtime 400x ./internal/gateway/
//
// Each accepted Preservation request is a schema validation, two durable vault
// ingests (the request and its receipt, each fsynced), an inclusion proof and an
// ECDSA signature.

// benchClients is how many peers' connections send at once.
const benchClients = 8

func BenchmarkPreservationAccepted(b *testing.B) {
	p := newPair(b)
	doc := example(b, "Preservation", nil)
	var seq atomic.Int64
	run(b, p.frClientAtVN.http, p.vn.url+wire.PathRequests, func() []byte {
		return withReference(b, doc, fmt.Sprintf("BENCH-%d", seq.Add(1)))
	}, http.StatusCreated)
}

func BenchmarkBareTLS13(b *testing.B) {
	p := newPair(b)
	doc := example(b, "Preservation", nil)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}), TLSConfig: p.vn.gw.TLSConfig()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(tls.NewListener(ln, srv.TLSConfig)) }()
	b.Cleanup(func() { _ = srv.Close() })
	cl := p.vn.clientFor(p.fr.channelCert(p.frToVN), p.vn.trustPool())
	var seq atomic.Int64
	run(b, cl.http, "https://"+ln.Addr().String()+wire.PathRequests, func() []byte {
		return withReference(b, doc, fmt.Sprintf("BENCH-%d", seq.Add(1)))
	}, http.StatusOK)
}

func withReference(b *testing.B, doc []byte, ref string) []byte {
	return example(b, "Preservation", map[string]any{"/reference": ref})
}

// run sends b.N requests from benchClients goroutines over kept-alive connections
// and reports requests per second and the 99th percentile latency.
func run(b *testing.B, cl *http.Client, url string, body func() []byte, want int) {
	b.Helper()
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = body()
	}
	var next atomic.Int64
	latencies := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				t0 := time.Now()
				resp, err := cl.Post(url, "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					failed.Store(err.Error())
					return
				}
				out, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				latencies[i] = time.Since(t0)
				if resp.StatusCode != want {
					failed.Store(fmt.Sprintf("status %d, want %d: %s", resp.StatusCode, want, out))
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(latencies[(len(latencies)*99)/100].Microseconds())/1000, "p99-ms")
}
