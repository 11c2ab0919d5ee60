//go:build helme2e

package helme2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/test/childproc"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
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
	child      *childproc.Child
}

// managers are the running manager processes, stopped at the end of the suite.
var managers []*managerProcess

// startManager runs the manager of an installed operator release: the arguments of
// the container "manager" in the release's Deployment (with the metrics and probe
// listeners off, and the Lease namespace a pod would know by itself) and a
// kubeconfig impersonating the release's ServiceAccount. With dns, the process
// resolves names through its hosts file instead of /etc/hosts.
func startManager(release, namespace string, dns *envtestutil.ClusterDNS) *managerProcess {
	objs := releaseObjects(release, namespace)
	m := &managerProcess{
		release:  release,
		identity: envtestutil.ServiceAccountUser(namespace, findObject(objs, "ServiceAccount", "").GetName()),
		logPath:  filepath.Join(workDir, "manager-"+release+".log"),
	}
	m.args, m.metricsURL = localArgs(containerArgs(findObject(objs, "Deployment", ""), "manager"), namespace)
	kubeconfig := impersonatingKubeconfig(m.identity, filepath.Join(workDir, release+".kubeconfig"))

	command := append([]string{operatorBin}, m.args...)
	if dns != nil {
		command = dns.Command(command...)
	}
	logFile, err := os.Create(m.logPath)
	Expect(err).NotTo(HaveOccurred())
	m.cmd = exec.Command(command[0], command[1:]...)
	m.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	m.child, err = childproc.Start(m.cmd)
	// The process has the log open itself: this copy is not needed any more.
	_ = logFile.Close()
	Expect(err).NotTo(HaveOccurred())
	managers = append(managers, m)
	fmt.Fprintf(GinkgoWriter, "manager of release %s running as %s: %s\n", release, m.identity, strings.Join(m.args, " "))
	return m
}

// containerArgs are the arguments of a container of a Deployment.
func containerArgs(deployment *unstructured.Unstructured, container string) []string {
	d := &appsv1.Deployment{}
	ExpectWithOffset(1, runtime.DefaultUnstructuredConverter.FromUnstructured(deployment.Object, d)).To(Succeed())
	args, err := envtestutil.ContainerArgs(d, container)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return args
}

// localArgs adapts a pod's arguments to a process on this machine, with metrics
// on a free loopback port (see envtestutil.LocalManagerArgs).
func localArgs(podArgs []string, namespace string) (args []string, metricsURL string) {
	return envtestutil.LocalManagerArgs(podArgs, namespace, freeLoopbackAddress())
}

func freeLoopbackAddress() string {
	addr, err := envtestutil.FreeLoopbackAddress()
	ExpectWithOffset(2, err).NotTo(HaveOccurred())
	return addr
}

// impersonatingKubeconfig writes to path the administrator's kubeconfig with every
// user impersonating identity.
func impersonatingKubeconfig(identity, path string) string {
	ExpectWithOffset(1, envtestutil.ImpersonatingKubeconfig(cluster.Kubeconfig, identity, path)).To(Succeed())
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
	case <-m.child.Done():
		return false
	default:
		return true
	}
}

// stop ends the process and its process group: SIGTERM, then SIGKILL after 10 seconds.
func (m *managerProcess) stop() {
	_ = m.child.Stop(10 * time.Second)
}

func stopManagers() {
	for i := len(managers) - 1; i >= 0; i-- {
		managers[i].stop()
	}
}
