package envtestutil

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// ClusterDNS stands in for the cluster's DNS and Services for a manager that runs
// outside the cluster: the operator reaches each EvidenceVault at its Service's
// name (<vault>.<namespace>.svc:8443, the name on the vault's serving certificate),
// so the manager runs with a hosts file of its own (a private mount namespace, so
// the machine's /etc/hosts is untouched) mapping each such name to a loopback
// address of its own, where a relay forwards the Service's port to the vault a
// local process runs. A name with no relay (a vault or a peer's gateway that does
// not run here) refuses connections at once instead of waiting on a DNS server.
// Without `unshare --mount` (not root, no user namespaces) it is unavailable, and
// the vaults stay unreachable to the operator.
type ClusterDNS struct {
	// HostsFile is the manager's /etc/hosts; empty when unavailable.
	HostsFile string
	// Unavailable says why there is no hosts file, when there is none.
	Unavailable string
	// addresses are the loopback address of each Service name.
	addresses map[string]string
	mu        sync.Mutex
	relays    []net.Listener
}

// NewClusterDNS gives each host a loopback address of its own in a hosts file
// written into dir: 127.A.B.2 on, where A.B is drawn at random, so two runs on
// one machine (a demo beside a test suite) do not take each other's addresses.
// If a private mount namespace cannot be made here, the result is unavailable
// (Available is false; Unavailable says why).
func NewClusterDNS(dir string, hosts ...string) (*ClusterDNS, error) {
	if len(hosts) > 250 {
		return nil, fmt.Errorf("%d hosts: at most 250", len(hosts))
	}
	d := &ClusterDNS{addresses: map[string]string{}}
	prefix := fmt.Sprintf("127.%d.%d.", 1+rand.IntN(254), 1+rand.IntN(254))
	var lines strings.Builder
	lines.WriteString("127.0.0.1 localhost\n")
	for i, host := range hosts {
		d.addresses[host] = prefix + strconv.Itoa(i+2)
		fmt.Fprintf(&lines, "%s %s\n", d.addresses[host], host)
	}
	path := filepath.Join(dir, "manager-hosts")
	if err := os.WriteFile(path, []byte(lines.String()), 0o644); err != nil {
		return nil, err
	}
	probe := exec.Command("unshare", "--mount", "--", "/bin/sh", "-c", `mount --bind "$0" /etc/hosts`, path)
	if out, err := probe.CombinedOutput(); err != nil {
		d.Unavailable = fmt.Sprintf("`unshare --mount` failed (%v: %s)", err, strings.TrimSpace(string(out)))
		return d, nil
	}
	d.HostsFile = path
	return d, nil
}

// Available reports whether processes can be run with the hosts file.
func (d *ClusterDNS) Available() bool { return d.HostsFile != "" }

// Command wraps a command line so that it runs in a private mount namespace in
// which the hosts file is /etc/hosts (exec keeps the process and its process
// group the command's). When unavailable, the command is returned unchanged.
func (d *ClusterDNS) Command(command ...string) []string {
	if !d.Available() {
		return command
	}
	return append([]string{"unshare", "--mount", "--", "/bin/sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, d.HostsFile}, command...)
}

// Serve relays host:port, as the hosts file resolves it, to target. It does
// nothing when unavailable.
func (d *ClusterDNS) Serve(host string, port int, target string) error {
	if !d.Available() {
		return nil
	}
	addr, ok := d.addresses[host]
	if !ok {
		return fmt.Errorf("%s is not in the hosts file", host)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("the address standing for %s: %w", host, err)
	}
	d.mu.Lock()
	d.relays = append(d.relays, ln)
	d.mu.Unlock()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go relay(conn, target)
		}
	}()
	return nil
}

func relay(conn net.Conn, target string) {
	defer conn.Close()
	upstream, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer upstream.Close()
	go func() { _, _ = io.Copy(upstream, conn) }()
	_, _ = io.Copy(conn, upstream)
}

// Stop closes every relay.
func (d *ClusterDNS) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ln := range d.relays {
		_ = ln.Close()
	}
	d.relays = nil
}
