//go:build perf

package perf

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cybercoop/cybercoop-operator/test/childproc"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

// managerProcess is the operator's own binary (cmd/cybercoop manager) in a process
// of its own, as its pod runs it: the memory scenario measures it, so that its
// figures are the manager's alone, not also the harness's objects, clients and
// peer server, nor the test binary's code. It runs with the container's flags
// (config/manager) but leader election, whose Lease renewals every few seconds
// would hide when the manager has settled, with its metrics on a loopback address,
// and with Go's profiling endpoints on, which force a garbage collection before a
// measure.
type managerProcess struct {
	cmd        *exec.Cmd
	child      *childproc.Child
	metricsURL string
	pprofURL   string
}

// buildManager builds cmd/cybercoop into dir.
func buildManager(dir string) (string, error) {
	bin := filepath.Join(dir, "cybercoop")
	build := exec.Command("go", "build", "-o", bin, "./cmd/cybercoop")
	build.Dir = envtestutil.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the manager: %w: %s", err, out)
	}
	return bin, nil
}

// managerKubeconfig writes a kubeconfig for an administrator of env to path. (The
// chart's RBAC is checked by the Helm end-to-end tests; here it would only cost
// the API server its authorisation of each request.)
func managerKubeconfig(env *envtest.Environment, path string) error {
	user, err := env.AddUser(envtest.User{Name: "cybercoop-operator-perf", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	b, err := user.KubeConfig()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// startManagerProcess starts bin as the manager on the cluster of kubeconfig, its
// log appended to logPath (os.DevNull discards it), and waits until it serves
// metrics. The Go runtime keeps its defaults (GOGC and GOMEMLIMIT are removed from
// its environment); GODEBUG memprofilerate is set when a heap profile is asked for.
func startManagerProcess(ctx context.Context, bin, kubeconfig, logPath string) (*managerProcess, error) {
	metricsAddr, err := envtestutil.FreeLoopbackAddress()
	if err != nil {
		return nil, err
	}
	pprofAddr, err := envtestutil.FreeLoopbackAddress()
	if err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	m := &managerProcess{metricsURL: "http://" + metricsAddr + "/metrics", pprofURL: "http://" + pprofAddr + "/debug/pprof"}
	m.cmd = exec.Command(bin, "manager", "--metrics-bind-address="+metricsAddr, "--health-probe-bind-address=0", "--pprof-bind-address="+pprofAddr,
		"--gateway-image="+testImage)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") && !strings.HasPrefix(kv, "GODEBUG=") {
			m.cmd.Env = append(m.cmd.Env, kv)
		}
	}
	m.cmd.Env = append(m.cmd.Env, "KUBECONFIG="+kubeconfig)
	if os.Getenv("PERF_HEAPPROFILE") != "" {
		m.cmd.Env = append(m.cmd.Env, "GODEBUG=memprofilerate=4096") // every 4 KiB allocated sampled, not 512 KiB: small objects are seen
	}
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	m.child, err = childproc.Start(m.cmd)
	// The process has the log open itself: this copy is not needed any more.
	_ = logFile.Close()
	if err != nil {
		return nil, err
	}
	err = waitFor(ctx, time.Minute, 100*time.Millisecond, "the manager process to serve metrics", func() (bool, error) {
		select {
		case <-m.child.Done():
			return false, fmt.Errorf("the manager process exited: %s (its log: %s)", m.cmd.ProcessState, logPath)
		default:
		}
		_, err := m.metrics()
		return err == nil, nil
	})
	if err != nil {
		_ = m.stop()
		return nil, err
	}
	return m, nil
}

// stop ends the process as the kubelet ends a pod: SIGTERM, then SIGKILL after the
// grace period (30 s).
func (m *managerProcess) stop() error { return m.child.Stop(30 * time.Second) }

func (m *managerProcess) get(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, nil
}

// metrics are the process's Prometheus metrics.
func (m *managerProcess) metrics() (map[string]*dto.MetricFamily, error) {
	b, err := m.get(m.metricsURL)
	if err != nil {
		return nil, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(strings.NewReader(string(b)))
}

// reconciles counts the process's reconciles by the named controller.
func (m *managerProcess) reconciles(controller string) (float64, error) {
	families, err := m.metrics()
	if err != nil {
		return 0, err
	}
	return sum(families, "controller_runtime_reconcile_total", map[string][]string{"controller": {controller}}), nil
}

// writes counts the process's requests that write (events included), from
// client-go's metrics.
func (m *managerProcess) writes() (int, error) {
	families, err := m.metrics()
	if err != nil {
		return 0, err
	}
	return int(sum(families, "rest_client_requests_total", map[string][]string{"method": {"POST", "PUT", "PATCH", "DELETE"}})), nil
}

// measure collects the process's garbage, waits until its RSS stops falling (the
// Go runtime returns freed memory to the operating system gradually, in the
// background), and reads its memory then: RSS from /proc, then the Go runtime's
// figures from its profiling endpoint (the heap profile after another collection,
// in text, ends with runtime.MemStats read then). What the runtime keeps of freed
// memory is in RSS, as it is in a pod's memory use. With profile, the heap profile
// after the first collection is written there too.
func (m *managerProcess) measure(ctx context.Context, profile string) (memStats, error) {
	b, err := m.get(m.pprofURL + "/heap?gc=1")
	if err != nil {
		return memStats{}, err
	}
	if profile != "" {
		if err := os.WriteFile(profile, b, 0o644); err != nil {
			return memStats{}, err
		}
	}
	pid := strconv.Itoa(m.cmd.Process.Pid)
	start := time.Now()
	status, err := m.rssSettled(ctx, pid)
	if err != nil {
		return memStats{}, err
	}
	settled := time.Since(start)
	if b, err = m.get(m.pprofURL + "/heap?gc=1&debug=1"); err != nil {
		return memStats{}, err
	}
	ms, err := memStatsOfProfile(string(b))
	if err != nil {
		return memStats{}, err
	}
	return memStats{heapAlloc: ms["HeapAlloc"], heapInuse: ms["HeapInuse"], heapFree: ms["HeapIdle"] - ms["HeapReleased"],
		stacks: ms["Stack"], rss: status["VmRSS"], rssFile: status["RssFile"], rssSettled: settled,
		runtimeOther: ms["MSpan"] + ms["MCache"] + ms["BuckHashSys"] + ms["GCSys"] + ms["OtherSys"]}, nil
}

// RSS has stopped falling when it has reached no new low, by rssStep or more, for
// rssQuiet; it is read after rssWait whatever it does.
const (
	rssStep  = 1 << 20
	rssQuiet = 10 * time.Second
	rssWait  = 3 * time.Minute
)

// rssSettled polls the process's /proc status until its RSS stops falling, and
// returns the last reading.
func (m *managerProcess) rssSettled(ctx context.Context, pid string) (map[string]uint64, error) {
	status, err := procStatusOf(pid)
	if err != nil {
		return nil, err
	}
	lowest, lowAt, start := status["VmRSS"], time.Now(), time.Now()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for time.Since(lowAt) < rssQuiet && time.Since(start) < rssWait {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		if status, err = procStatusOf(pid); err != nil {
			return nil, err
		}
		if rss := status["VmRSS"]; rss+rssStep <= lowest {
			lowest, lowAt = rss, time.Now()
		}
	}
	return status, nil
}
