//go:build perf

package perf

import (
	"errors"
	"fmt"
	"io"
	"k8s.io/client-go/rest"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// cpuTimes is the CPU time (user and system) each process of the run has used so
// far: the test process itself (manager, harness and peer server) and its
// children, the API server and etcd, by command name.
type cpuTimes map[string]time.Duration

// clockTick is the unit of /proc/PID/stat's times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// readCPU reads the CPU time of this process and its children from /proc.
func readCPU() cpuTimes {
	out := cpuTimes{}
	self := os.Getpid()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime(14) stime(15): comm may hold spaces, so
		// the fields are counted from its closing parenthesis.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(s[end+1:])
		if len(fields) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		if pid != self && ppid != self {
			continue
		}
		name := s[open+1 : end]
		if pid == self {
			name = "test process"
		}
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		out[name] += time.Duration(utime+stime) * clockTick
	}
	return out
}

// sub is the CPU time used between before and c.
func (c cpuTimes) sub(before cpuTimes) cpuTimes {
	out := cpuTimes{}
	for k, v := range c {
		out[k] = v - before[k]
	}
	return out
}

// total is the CPU time of every process.
func (c cpuTimes) total() time.Duration {
	var t time.Duration
	for _, v := range c {
		t += v
	}
	return t
}

// String is the CPU times largest first, with their total: "2.1 s: kube-apiserver
// 1.2 s, test process 0.6 s, etcd 0.3 s".
func (c cpuTimes) String() string {
	names := make([]string, 0, len(c))
	for k := range c {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return c[names[i]] > c[names[j]] })
	parts := make([]string, 0, len(names))
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s %.2f s", k, c[k].Seconds()))
	}
	return fmt.Sprintf("%.2f s: %s", c.total().Seconds(), strings.Join(parts, ", "))
}

// profileAPIServer fetches a CPU profile of the API server over the next d, from
// its /debug/pprof (on by default), and writes it to path; it returns at once and
// the returned function waits for the profile.
func profileAPIServer(cfg *rest.Config, d time.Duration, path string) (wait func() error) {
	done := make(chan error, 1)
	go func() {
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			done <- err
			return
		}
		resp, err := hc.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", strings.TrimSuffix(cfg.Host, "/"), max(1, int(d.Seconds()))))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("API server profile: %s", resp.Status)
			return
		}
		f, err := os.Create(path)
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		done <- errors.Join(err, f.Close())
	}()
	return func() error { return <-done }
}
