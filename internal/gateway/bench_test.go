package gateway

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cybercoop/cybercoop-operator/internal/gateway/wire"
)

// The gateway's throughput is measured beside a bare Go TLS 1.3 server with mutual
// TLS answering 200 to the same requests, in the same run, from the same clients;
// the ratio of the two is what to compare across machines. Beside them, the durable
// floor is that bare server writing the two files an accepted request cannot do
// without, so that the share of durability in the gap shows:
//
//	go test -run '^$' -bench 'PreservationAccepted|BareTLS13|DurableFloor' -benchtime 2000x ./internal/gateway/
//
// Each accepted Preservation request is a schema validation, two durable vault
// ingests (the request and its receipt, each fsynced), an inclusion proof and an
// ECDSA signature.
//
// Creating files dominates both the gateway and the floor on some disks: ext4
// without a journal skips, in every file creation, the inodes freed in the last
// 30 seconds, so on a machine whose test suites delete thousands of files (each
// benchmark here deletes its own when it ends) a creation may cost a millisecond
// of CPU. For figures that compare, point TMPDIR at a volume of its own.

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
	runBare(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
}

// runBare serves handler over the gateway's own TLS configuration (TLS 1.3, mutual)
// on 127.0.0.1 and sends it the benchmark's Preservation requests from a peer's
// channel client, as BenchmarkPreservationAccepted sends them to the gateway.
func runBare(b *testing.B, handler http.Handler) {
	p := newPair(b)
	doc := example(b, "Preservation", nil)
	srv := &http.Server{Handler: handler, TLSConfig: p.vn.gw.TLSConfig()}
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

// BenchmarkDurableFloor is BenchmarkBareTLS13's server also writing, before it
// answers, the two files every accepted request needs on disk: the request as
// received and a receipt-sized second file, each created, written and fsynced in
// turn. That is the durability no design of the gateway avoids; what the vault
// does besides (renames or directory fsyncs, the custody log and its
// acknowledgement record) its group commit shares between requests, and is left
// out.
func BenchmarkDurableFloor(b *testing.B) {
	dir := b.TempDir()
	// About the size of a Preservation request's receipt: a JWS carrying the
	// gateway's chain, the custody entry, a checkpoint and an inclusion proof.
	receiptSized := bytes.Repeat([]byte("r"), 5<<10)
	var files atomic.Int64
	writeDurably := func(data []byte) error {
		f, err := os.OpenFile(filepath.Join(dir, strconv.FormatInt(files.Add(1), 10)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = f.Write(data)
		if err == nil {
			err = f.Sync()
		}
		return errors.Join(err, f.Close())
	}
	runBare(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			err = writeDurably(body)
		}
		if err == nil {
			err = writeDurably(receiptSized)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
}

func withReference(b *testing.B, doc []byte, ref string) []byte {
	return example(b, "Preservation", map[string]any{"/reference": ref})
}

// run sends b.N requests from benchClients goroutines over kept-alive connections
// and reports requests per second, the 99th percentile latency, and the CPU time
// the whole process (clients, servers, vault) spent per request, user and system:
// on a machine shared with other work the least noisy of the three.
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
	cpu0 := processCPU(b)
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
	cpu := processCPU(b) - cpu0
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(latencies[(len(latencies)*99)/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/req")
}

// processCPU is the CPU time the process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
