//go:build helme2e

package helme2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
)

// managerProcess is `cybercoop manager` run as the operator chart's Deployment runs
// it, under the identity of the chart's ServiceAccount.
type managerProcess struct {
	release string
	// identity is the user the API server sees: the chart's ServiceAccount.
	identity string
	args     []string
	// metricsURL is where the manager serves /metrics, when the chart turns metrics on.
	metricsURL string
	logPath    string
	cmd        *exec.Cmd
	done       chan struct{}
}

// managers are the running manager processes, stopped at the end of the suite.
var managers []*managerProcess

// startManager runs the manager of an installed operator release: the arguments of
// the container "manager" in the release's Deployment (with the metrics and probe
// listeners off, and the Lease namespace a pod would know by itself) and a
// kubeconfig impersonating the release's ServiceAccount. With hostsFile, the process
// resolves names through that file instead of /etc/hosts (clusterdns_test.go).
func startManager(release, namespace, hostsFile string) *managerProcess {
	objs := releaseObjects(release, namespace)
	m := &managerProcess{
		release:  release,
		identity: "system:serviceaccount:" + namespace + ":" + findObject(objs, "ServiceAccount", "").GetName(),
		logPath:  filepath.Join(workDir, "manager-"+release+".log"),
		done:     make(chan struct{}),
	}
	m.args, m.metricsURL = localArgs(containerArgs(findObject(objs, "Deployment", ""), "manager"), namespace)
	kubeconfig := impersonatingKubeconfig(m.identity, filepath.Join(workDir, release+".kubeconfig"))

	command := append([]string{operatorBin}, m.args...)
	if hostsFile != "" {
		// A private mount namespace in which hostsFile is /etc/hosts; exec keeps the
		// process (and its process group) the manager's.
		command = append([]string{"unshare", "--mount", "--", "/bin/sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, hostsFile}, command...)
	}
	logFile, err := os.Create(m.logPath)
	Expect(err).NotTo(HaveOccurred())
	m.cmd = exec.Command(command[0], command[1:]...)
	m.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	Expect(m.cmd.Start()).To(Succeed())
	go func() {
		_ = m.cmd.Wait()
		_ = logFile.Close()
		close(m.done)
	}()
	managers = append(managers, m)
	fmt.Fprintf(GinkgoWriter, "manager of release %s running as %s: %s\n", release, m.identity, strings.Join(m.args, " "))
	return m
}

// containerArgs are the arguments of a container of a Deployment.
func containerArgs(deployment *unstructured.Unstructured, container string) []string {
	containers, _, err := unstructured.NestedSlice(deployment.Object, "spec", "template", "spec", "containers")
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	for _, c := range containers {
		c := c.(map[string]any)
		if c["name"] != container {
			continue
		}
		var args []string
		for _, a := range c["args"].([]any) {
			args = append(args, a.(string))
		}
		return args
	}
	Fail(fmt.Sprintf("Deployment %s has no container %q", deployment.GetName(), container))
	return nil
}

// localArgs adapts a pod's arguments to a process on this machine: metrics on a
// free loopback port (returned as a URL; "" if the chart turns metrics off), no
// probe listener, and with leader election the Lease in the release namespace,
// which a pod takes from its ServiceAccount's mount.
func localArgs(podArgs []string, namespace string) (args []string, metricsURL string) {
	scheme := "http"
	for _, a := range podArgs {
		switch {
		case a == "--metrics-secure":
			scheme = "https"
		case strings.HasPrefix(a, "--metrics-bind-address=") && a != "--metrics-bind-address=0":
			addr := freeLoopbackAddress()
			a, metricsURL = "--metrics-bind-address="+addr, addr
		case strings.HasPrefix(a, "--health-probe-bind-address="):
			a = "--health-probe-bind-address=0"
		case a == "--leader-elect":
			args = append(args, "--leader-election-namespace="+namespace)
		}
		args = append(args, a)
	}
	if metricsURL != "" {
		metricsURL = scheme + "://" + metricsURL + "/metrics"
	}
	return args, metricsURL
}

func freeLoopbackAddress() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ExpectWithOffset(2, err).NotTo(HaveOccurred())
	defer ln.Close()
	return ln.Addr().String()
}

// impersonatingKubeconfig writes to path the administrator's kubeconfig with every
// user impersonating identity, so the API server authorises each call of the
// process as identity's.
func impersonatingKubeconfig(identity, path string) string {
	kubeconfig, err := clientcmd.LoadFromFile(cluster.Kubeconfig)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	for _, user := range kubeconfig.AuthInfos {
		user.Impersonate = identity
	}
	ExpectWithOffset(1, clientcmd.WriteToFile(*kubeconfig, path)).To(Succeed())
	return path
}

// impersonatingClient is a direct client that acts as identity.
func impersonatingClient(identity string) client.Client {
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: identity}
	c, err := client.New(cfg, client.Options{Scheme: manageropts.Scheme()})
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return c
}

// log is what the process has written so far.
func (m *managerProcess) log() string {
	b, err := os.ReadFile(m.logPath)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return string(b)
}

// expectNoForbidden fails if the API server refused the manager anything (its
// RBAC authorizer answers `<resource> is forbidden: User "<identity>" cannot ...`):
// the chart's RBAC must cover every call the manager makes.
func (m *managerProcess) expectNoForbidden() {
	refusal := fmt.Sprintf(`is forbidden: User \"%s\"`, m.identity) // as quoted inside the JSON log line
	for _, line := range strings.Split(m.log(), "\n") {
		ExpectWithOffset(1, line).NotTo(ContainSubstring(refusal),
			"the manager of release %s (%s) was refused a call: the chart's RBAC misses a rule", m.release, m.identity)
	}
}

// running reports whether the process is still alive.
func (m *managerProcess) running() bool {
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// stop ends the process and its process group: SIGTERM, then SIGKILL after 10 seconds.
func (m *managerProcess) stop() {
	if !m.running() {
		return
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		<-m.done
	}
}

func stopManagers() {
	for i := len(managers) - 1; i >= 0; i-- {
		managers[i].stop()
	}
}
