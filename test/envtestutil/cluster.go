package envtestutil

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cybercoop/cybercoop-operator/test/childproc"
)

// SimulatedCluster turns an envtest control plane into a whole cluster without
// containers: the real kube-controller-manager (Deployments, ReplicaSets, garbage
// collection, node lifecycle, disruption budgets) and kube-scheduler, and kwok
// simulating one node on which pods become Running at once.
type SimulatedCluster struct {
	// Kubeconfig is the path of an administrator kubeconfig for the cluster.
	Kubeconfig string
	// Config is the administrator's REST config.
	Config *rest.Config
	logDir string
	procs  []*childproc.Child
}

// SimulatedNodeName is the name of the node kwok simulates.
const SimulatedNodeName = "kwok-node-0"

// StartSimulatedCluster starts the components against env (already started), with
// binaries from k8sBin (kube-controller-manager, kube-scheduler, kwok and
// kwok-stages.yaml, as hack/k8s-binaries.sh builds them) and logs in logDir.
func StartSimulatedCluster(env *envtest.Environment, k8sBin, logDir string) (*SimulatedCluster, error) {
	for _, bin := range []string{"kube-controller-manager", "kube-scheduler", "kwok", "kwok-stages.yaml"} {
		if _, err := os.Stat(filepath.Join(k8sBin, bin)); err != nil {
			return nil, fmt.Errorf("%s has no %s: run hack/k8s-binaries.sh kube-controller-manager kube-scheduler kwok", k8sBin, bin)
		}
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	admin, err := env.AddUser(envtest.User{Name: "cluster-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return nil, err
	}
	c := &SimulatedCluster{Kubeconfig: filepath.Join(logDir, "kubeconfig"), Config: admin.Config(), logDir: logDir}
	if err := os.WriteFile(c.Kubeconfig, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	starts := []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", []string{"--kubeconfig=" + c.Kubeconfig, "--leader-elect=false", "--secure-port=0",
			"--controllers=deployment-controller,replicaset-controller,statefulset-controller,garbage-collector-controller,disruption-controller,endpointslice-controller,namespace-controller,node-lifecycle-controller"}},
		{"kube-scheduler", []string{"--kubeconfig=" + c.Kubeconfig, "--leader-elect=false", "--secure-port=0"}},
		{"kwok", []string{"--kubeconfig=" + c.Kubeconfig, "--config=" + filepath.Join(k8sBin, "kwok-stages.yaml"),
			"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
			"--node-ip=127.0.0.1", "--node-name=" + SimulatedNodeName}},
	}
	for _, s := range starts {
		if err := c.start(s.name, filepath.Join(k8sBin, s.name), s.args...); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.createNode(); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *SimulatedCluster) createNode() error {
	cl, err := client.New(c.Config, client.Options{})
	if err != nil {
		return err
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        SimulatedNodeName,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels:      map[string]string{"kubernetes.io/hostname": SimulatedNodeName, "type": "kwok"},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cl.Create(ctx, node)
}

// start runs a component in its own process group with its output in logDir/<name>.log.
func (c *SimulatedCluster) start(name, path string, args ...string) error {
	return c.startWithKubeconfig(name, c.Kubeconfig, append([]string{path}, args...))
}

func (c *SimulatedCluster) startWithKubeconfig(name, kubeconfig string, command []string) error {
	logFile, err := os.Create(filepath.Join(c.logDir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	child, err := childproc.Start(cmd)
	if err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	c.procs = append(c.procs, child)
	return nil
}

// Start runs another process (for example the operator) that Stop ends with the
// cluster; its output goes to logDir/<name>.log and it gets KUBECONFIG.
func (c *SimulatedCluster) Start(name, path string, args ...string) error {
	return c.start(name, path, args...)
}

// StartWithKubeconfig runs a command line like Start, with KUBECONFIG=kubeconfig
// (for example one ImpersonatingKubeconfig wrote, so that the process runs under a
// ServiceAccount's RBAC).
func (c *SimulatedCluster) StartWithKubeconfig(name, kubeconfig string, command ...string) error {
	return c.startWithKubeconfig(name, kubeconfig, command)
}

// Stop ends every component, newest first: SIGTERM, then SIGKILL after 10 seconds.
func (c *SimulatedCluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		_ = c.procs[i].Stop(10 * time.Second)
	}
	c.procs = nil
}
