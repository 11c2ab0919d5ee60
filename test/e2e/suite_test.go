// Package e2e runs the operator binary against a simulated cluster: a real
// kube-apiserver and etcd, the real kube-controller-manager (Deployments, garbage
// collection, disruption budgets) and kube-scheduler, and kwok running pods
// without containers. The operator runs as a separate process under the RBAC of
// its ServiceAccount from config/rbac (through impersonation), so missing
// permissions fail these tests.
package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

const (
	operatorNamespace      = "cybercoop-system"
	operatorServiceAccount = "cybercoop-operator"
)

var (
	testEnv   *envtest.Environment
	cluster   *envtestutil.SimulatedCluster
	k8sClient client.Client
	workDir   string
	k8sBin    string
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "end to end on a simulated cluster")
}

var _ = BeforeSuite(func() {
	SetDefaultEventuallyTimeout(90 * time.Second)
	SetDefaultEventuallyPollingInterval(250 * time.Millisecond)
	var err error
	testEnv, err = envtestutil.NewEnvironment()
	Expect(err).NotTo(HaveOccurred())
	k8sBin = testEnv.BinaryAssetsDirectory
	_, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())

	workDir = GinkgoT().TempDir()
	cluster, err = envtestutil.StartSimulatedCluster(testEnv, k8sBin, workDir)
	Expect(err).NotTo(HaveOccurred())

	scheme := manageropts.Scheme()
	k8sClient, err = client.New(cluster.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	By("installing the operator's RBAC from config/rbac")
	kubectl("create", "namespace", operatorNamespace)
	kubectl("apply", "-k", filepath.Join(envtestutil.RepoRoot(), "config", "rbac"))

	By("building and starting the operator as its ServiceAccount")
	operator := filepath.Join(workDir, "cybercoop")
	build := exec.Command("go", "build", "-o", operator, "./cmd/cybercoop")
	build.Dir = envtestutil.RepoRoot()
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), string(out))

	kubeconfig, err := clientcmd.LoadFromFile(cluster.Kubeconfig)
	Expect(err).NotTo(HaveOccurred())
	for _, user := range kubeconfig.AuthInfos {
		user.Impersonate = "system:serviceaccount:" + operatorNamespace + ":" + operatorServiceAccount
	}
	operatorKubeconfig := filepath.Join(workDir, "operator.kubeconfig")
	Expect(clientcmd.WriteToFile(*kubeconfig, operatorKubeconfig)).To(Succeed())
	Expect(cluster.Start("manager", "/usr/bin/env", "KUBECONFIG="+operatorKubeconfig, operator, "manager",
		"--leader-elect", "--leader-election-namespace="+operatorNamespace,
		"--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--gateway-image=registry.test/cybercoop/cybercoop-operator:e2e")).To(Succeed())
})

var _ = AfterSuite(func() {
	if cluster != nil {
		cluster.Stop()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
	if CurrentSpecReport().Failed() || os.Getenv("E2E_KEEP_LOGS") != "" {
		GinkgoWriter.Printf("component logs: %s\n", workDir)
	}
})

func kubectl(args ...string) string {
	cmd := exec.CommandContext(context.Background(), filepath.Join(k8sBin, "kubectl"), append([]string{"--kubeconfig=" + cluster.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "kubectl %v: %s", args, out)
	return string(out)
}

// managerLog is everything the operator process has written so far.
func managerLog() string {
	b, err := os.ReadFile(filepath.Join(workDir, "manager.log"))
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return string(b)
}
