package vault

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"context"

	"github.com/go-logr/logr"

	"github.com/cybercoop/cybercoop-operator/internal/vault/s3test"
)

// crashChildEnv switches the test binary into a vault server process for
// TestCrashDuringIngest; its value is the data directory.
const crashChildEnv = "VAULT_TEST_CRASH_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		runCrashChild(dir)
		return
	}
	code := m.Run()
	s3test.Stop()
	os.Exit(code)
}

// childAlive reports whether the child vault still answers.
func childAlive(c *http.Client, ts *testServer) bool {
	resp, err := c.Get(ts.url("/status"))
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return true
}

// runCrashChild serves a vault until it is killed, announcing its address
// on stdout.
func runCrashChild(dir string) {
	kr, err := NewKeyring(map[uint32][]byte{1: testKey(1)})
	var store BlobStore
	if err == nil {
		store, err = crashChildStore(dir)
	}
	if err == nil {
		var v *Vault
		v, err = Open(Config{Dir: dir, Keyring: kr, Grants: allGranted(), Store: store})
		if err == nil && v.Fault() != nil {
			err = v.Fault()
		}
		if err == nil {
			tlsDir := os.Getenv(crashChildEnv + "_TLS")
			err = Serve(context.Background(), v, ServeConfig{
				Listen:   "127.0.0.1:0",
				CertFile: filepath.Join(tlsDir, "tls.crt"), KeyFile: filepath.Join(tlsDir, "tls.key"),
				ClientCAFile: filepath.Join(tlsDir, "ca.crt"), ReloadInterval: time.Hour, Logger: logr.Discard(),
				Ready: func(api, _ net.Addr) { fmt.Printf("LISTEN %s\n", api) },
			})
		}
	}
	fmt.Fprintln(os.Stderr, "crash child:", err)
	os.Exit(2)
}

// crashChildS3Env carries the JSON S3Config of a crash child on S3.
const crashChildS3Env = crashChildEnv + "_S3"

// crashChildStore is the store a crash child keeps its objects in: the S3
// bucket in crashChildS3Env, or (nil) its data directory.
func crashChildStore(dir string) (BlobStore, error) {
	raw := os.Getenv(crashChildS3Env)
	if raw == "" {
		return nil, nil
	}
	var cfg S3Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return nil, err
	}
	return NewS3Store(cfg, filepath.Join(dir, "spool"))
}

// TestCrashDuringIngest runs the vault as a child process, SIGKILLs it at a
// random moment while two clients ingest, and checks after every kill that
// the store opens, verifies clean and holds every acknowledged object.
func TestCrashDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test re-executes the test binary 50 times")
	}
	crashDuringIngest(t, 50, crashLoad{workers: 2, maxObject: 3 * DefaultChunkSize, killWithinMS: 60}, nil)
}

// TestCrashDuringGroupCommit is TestCrashDuringIngest with eight clients
// ingesting at once, so that the kill falls during group commits that make
// several ingests durable together (groupcommit.go): after every kill no
// acknowledged object or hold is missing, and every checkpoint a client was
// given still holds for the log, so none was signed over an entry the kill
// lost.
func TestCrashDuringGroupCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test re-executes the test binary 30 times")
	}
	crashDuringIngest(t, 30, crashLoad{workers: 8, maxObject: 16 << 10, killWithinMS: 200}, nil)
}

// TestS3CrashDuringIngest is TestCrashDuringIngest on S3: each child starts on
// an empty data directory (a rescheduled pod's emptyDir), so everything it finds
// comes from the bucket; after every kill the vault reopens on another empty
// directory, verifies the bucket clean and holds every acknowledged object and
// hold, and nothing an interrupted ingest stored counts as evidence.
func TestS3CrashDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test re-executes the test binary 20 times")
	}
	tg := s3TestTarget(t)
	crashDuringIngest(t, 20, crashLoad{workers: 2, maxObject: 3 * DefaultChunkSize, killWithinMS: 60}, func() S3Config { return tg.config(t) })
}

// crashLoad is what the clients of a crash test do until the kill.
type crashLoad struct {
	workers      int // clients ingesting, each with a certificate of its own
	maxObject    int // bytes; each object's size is random below it
	killWithinMS int // the kill comes 2 ms to this many ms after the start
}

// crashDuringIngest is the crash test's body; s3, when set, makes a fresh S3
// configuration (a prefix of its own) for each fresh store.
func crashDuringIngest(t *testing.T, iterations int, load crashLoad, s3 func() S3Config) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := mrand.New(mrand.NewPCG(seed, 0))

	ts := &testServer{serverCA: newTestCA(t, "crash server CA"), clientCA: newTestCA(t, "crash client CA")}
	tlsDir := t.TempDir()
	certPEM, keyPEM, _ := ts.serverCA.issueValid(t, "vault", true)
	os.WriteFile(filepath.Join(tlsDir, "tls.crt"), certPEM, 0o600)
	os.WriteFile(filepath.Join(tlsDir, "tls.key"), keyPEM, 0o600)
	os.WriteFile(filepath.Join(tlsDir, "ca.crt"), ts.clientCA.pem, 0o600)
	clientCert, clientKey, _ := ts.clientCA.issueValid(t, "crash client", false)
	// One certificate per ingesting client: the vault runs at most two ingests
	// of one client at once.
	type clientPair struct{ cert, key []byte }
	ingesters := make([]clientPair, load.workers)
	for w := range ingesters {
		ingesters[w].cert, ingesters[w].key, _ = ts.clientCA.issueValid(t, fmt.Sprintf("crash client %d", w), false)
	}

	var dir, s3JSON string
	var s3cfg S3Config
	acked := map[Digest]int64{}
	ackedHolds := map[Digest][]string{}
	var checkpoints []string // every checkpoint acknowledged with an ingest
	var recoveries, totalAcked, totalHolds, totalCheckpoints int
	for i := range iterations {
		if i%10 == 0 { // a fresh store now and then keeps verification cheap
			dir = t.TempDir()
			acked = map[Digest]int64{}
			ackedHolds = map[Digest][]string{}
			checkpoints = nil
			if s3 != nil {
				s3cfg = s3()
				b, _ := json.Marshal(s3cfg)
				s3JSON = string(b)
			}
		}
		env := []string{crashChildEnv + "=" + dir, crashChildEnv + "_TLS=" + tlsDir}
		if s3 != nil {
			dir = t.TempDir() // nothing on local disk survives: the bucket is the record
			env = []string{crashChildEnv + "=" + dir, crashChildEnv + "_TLS=" + tlsDir, crashChildS3Env + "=" + s3JSON}
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "LISTEN ")
		if err != nil || !ok {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("iteration %d: child did not start: %q %v; stderr: %s", i, line, err, stderr.String())
		}
		ts.addr = addr
		c := ts.clientWith(t, clientCert, clientKey, false)

		var mu sync.Mutex
		var wg sync.WaitGroup
		for w := range load.workers {
			wrng := mrand.New(mrand.NewPCG(seed, uint64(i*load.workers+w+1)))
			wc := ts.clientWith(t, ingesters[w].cert, ingesters[w].key, false)
			wg.Go(func() {
				for {
					data := make([]byte, wrng.IntN(load.maxObject))
					for j := range data {
						data[j] = byte(wrng.Uint32())
					}
					meta, _ := json.Marshal(testMetadata(time.Now()))
					resp, err := wc.Do(ingestRequest(t, ts.url("/v1/objects"), meta, bytes.NewReader(data)))
					if err != nil {
						return // the child is gone
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					var res IngestResult
					if err != nil || (resp.StatusCode != 201 && resp.StatusCode != 200) || json.Unmarshal(body, &res) != nil {
						return
					}
					mu.Lock()
					acked[res.Digest] = int64(len(data))
					checkpoints = append(checkpoints, res.Checkpoint)
					mu.Unlock()
				}
			})
		}
		// A third client places legal holds on acknowledged objects: a hold
		// once acknowledged must survive the kill like an object does.
		wg.Go(func() {
			for n := 0; ; n++ {
				mu.Lock()
				var target Digest
				for d := range acked {
					target = d
					break
				}
				mu.Unlock()
				if target == "" {
					if !childAlive(c, ts) {
						return
					}
					continue
				}
				ref := fmt.Sprintf("HOLD/%d/%d", i, n)
				resp, err := c.Do(newRequest(t, "POST", ts.url("/v1/objects/"+string(target)+"/hold"), fmt.Sprintf(`{"reference":%q,"legalBasis":"UNCC art. 25"}`, ref)))
				if err != nil {
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return
				}
				mu.Lock()
				ackedHolds[target] = append(ackedHolds[target], ref)
				mu.Unlock()
			}
		})
		kill := time.AfterFunc(time.Duration(2+rng.IntN(load.killWithinMS))*time.Millisecond, func() {
			cmd.Process.Signal(syscall.SIGKILL)
		})
		wg.Wait()
		kill.Stop()
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if stderr.Len() > 0 {
			t.Fatalf("iteration %d: child wrote to stderr: %s", i, stderr.String())
		}

		cfg := Config{Dir: dir, Keyring: testKeyring(t, 1), Grants: allGranted()}
		if s3 != nil {
			cfg.Dir = t.TempDir()
			if cfg.Store, err = NewS3Store(s3cfg, filepath.Join(cfg.Dir, "spool")); err != nil {
				t.Fatal(err)
			}
		}
		v, err := Open(cfg)
		if err != nil {
			t.Fatalf("iteration %d: reopening after SIGKILL: %v", i, err)
		}
		if err := v.Fault(); err != nil {
			v.Close()
			t.Fatalf("iteration %d: a crash made the vault refuse to serve: %v", i, err)
		}
		if !v.Recovery().empty() {
			recoveries++
		}
		rep, err := v.Verify(context.Background(), testActor)
		if err != nil || !rep.OK() {
			v.Close()
			t.Fatalf("iteration %d: verify after SIGKILL: %v %v", i, err, rep.Findings)
		}
		for d, size := range acked {
			info, err := v.Stat(d)
			if err != nil || info.Size != size {
				v.Close()
				t.Fatalf("iteration %d: acknowledged object %s (%d bytes) lost: %+v %v", i, d, size, info, err)
			}
		}
		for d, refs := range ackedHolds {
			info, err := v.Stat(d)
			for _, ref := range refs {
				if err != nil || !slices.Contains(info.Holds, ref) {
					v.Close()
					t.Fatalf("iteration %d: acknowledged hold %s on %s lost: %v %v", i, ref, d, info.Holds, err)
				}
				totalHolds++
			}
		}
		if s3 == nil {
			for _, signed := range checkpoints {
				cp, err := OpenCheckpoint([]byte(signed), v.VerifierKey())
				if err != nil {
					v.Close()
					t.Fatalf("iteration %d: an acknowledged checkpoint: %v", i, err)
				}
				f, err := os.Open(filepath.Join(dir, custodyLogName))
				if err != nil {
					t.Fatal(err)
				}
				findings, err := CheckLogAgainstCheckpoint(f, cp)
				f.Close()
				if err != nil || len(findings) > 0 {
					v.Close()
					t.Fatalf("iteration %d: a checkpoint of %d entries acknowledged before the kill does not hold for the log after it: %v %v", i, cp.Size, findings, err)
				}
			}
			totalCheckpoints += len(checkpoints)
		}
		totalAcked += len(acked)
		if s3 != nil {
			// Every object in the bucket that is not quarantined is live evidence.
			stored, _, err := cfg.Store.List()
			if err != nil {
				t.Fatal(err)
			}
			if st := v.Status(); len(stored) != st.Objects {
				v.Close()
				t.Fatalf("iteration %d: %d objects in the bucket outside quarantine, %d live: an unrecorded object counts as evidence", i, len(stored), st.Objects)
			}
		}
		if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
			t.Fatalf("iteration %d: %d temporary files survived recovery", i, len(tmp))
		}
		v.Close()
	}
	t.Logf("%d kills, %d needed recovery (torn entry or unlogged object), %d acknowledged objects, %d acknowledged holds and %d acknowledged checkpoints checked",
		iterations, recoveries, totalAcked, totalHolds, totalCheckpoints)
}
