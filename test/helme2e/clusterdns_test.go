//go:build helme2e

package helme2e

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// clusterDNS stands in for the cluster's DNS and Services for a manager that runs
// outside the cluster: the operator reaches each EvidenceVault at its Service's
// name (<vault>.<namespace>.svc:8443, the name on the vault's serving certificate),
// so the manager runs with a hosts file of its own (a private mount namespace, so
// the machine's /etc/hosts is untouched) mapping each such name to a loopback
// address of its own, where a relay forwards the Service's port to the vault this
// process runs. A name with no relay (a vault or a peer's gateway that does not
// run here) refuses connections at once instead of waiting on a DNS server.
// Without `unshare --mount` (not root, no user namespaces) it is unavailable, and
// the vaults stay unreachable to the operator.
type clusterDNS struct {
	// hostsFile is the manager's /etc/hosts; empty when unavailable.
	hostsFile string
	// addresses are the loopback address of each Service name.
	addresses map[string]string
	relays    []net.Listener
}

// newClusterDNS gives each Service host a loopback address of its own (127.0.0.2 on).
func newClusterDNS(hosts ...string) *clusterDNS {
	d := &clusterDNS{addresses: map[string]string{}}
	var lines strings.Builder
	lines.WriteString("127.0.0.1 localhost\n")
	for i, host := range hosts {
		d.addresses[host] = "127.0.0." + strconv.Itoa(i+2)
		fmt.Fprintf(&lines, "%s %s\n", d.addresses[host], host)
	}
	path := filepath.Join(workDir, "manager-hosts")
	Expect(os.WriteFile(path, []byte(lines.String()), 0o644)).To(Succeed())
	probe := exec.Command("unshare", "--mount", "--", "/bin/sh", "-c", `mount --bind "$0" /etc/hosts`, path)
	if out, err := probe.CombinedOutput(); err != nil {
		AddReportEntry("cluster DNS unavailable", fmt.Sprintf("`unshare --mount` failed (%v: %s): the operator cannot reach the vaults, "+
			"so their IntegrityVerified stays Unknown", err, out))
		return d
	}
	d.hostsFile = path
	return d
}

func (d *clusterDNS) available() bool { return d.hostsFile != "" }

// serve relays host:port, as the manager resolves it, to target.
func (d *clusterDNS) serve(host string, port int, target string) {
	if !d.available() {
		return
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(d.addresses[host], strconv.Itoa(port)))
	Expect(err).NotTo(HaveOccurred(), "the address standing for %s in the manager's hosts file", host)
	d.relays = append(d.relays, ln)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go relay(conn, target)
		}
	}()
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

func (d *clusterDNS) stop() {
	for _, ln := range d.relays {
		_ = ln.Close()
	}
}
