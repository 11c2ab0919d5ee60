// Package e2e runs the operator binary against a simulated cluster: a real
// kube-apiserver and etcd, the real kube-controller-manager (Deployments, garbage
// collection, disruption budgets) and kube-scheduler, and kwok running pods
// without containers. The operator is installed with `kubectl apply -k
// config/default`, as platform teams install it, and runs as a separate process
// with its Deployment's arguments under the RBAC of its ServiceAccount (through
// impersonation), so missing permissions fail these tests.
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
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
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

	By("installing the operator as a platform team does: kubectl apply -k config/default (namespace, CRDs, RBAC, the manager's Deployment)")
	kubectl("apply", "-k", filepath.Join(envtestutil.RepoRoot(), "config", "default"))

	By("building the operator and running it as config/default's Deployment runs it, under its ServiceAccount")
	operator := filepath.Join(workDir, "cybercoop")
	build := exec.Command("go", "build", "-o", operator, "./cmd/cybercoop")
	build.Dir = envtestutil.RepoRoot()
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), string(out))

	deployment := &appsv1.Deployment{}
	Expect(k8sClient.Get(context.Background(), types.NamespacedName{Namespace: operatorNamespace, Name: "cybercoop-operator"}, deployment)).To(Succeed())
	Expect(deployment.Spec.Template.Spec.ServiceAccountName).To(Equal(operatorServiceAccount))
	podArgs, err := envtestutil.ContainerArgs(deployment, "manager")
	Expect(err).NotTo(HaveOccurred())
	args, _ := envtestutil.LocalManagerArgs(podArgs, operatorNamespace, "")
	operatorKubeconfig := filepath.Join(workDir, "operator.kubeconfig")
	Expect(envtestutil.ImpersonatingKubeconfig(cluster.Kubeconfig,
		envtestutil.ServiceAccountUser(operatorNamespace, operatorServiceAccount), operatorKubeconfig)).To(Succeed())
	// The container's CYBERCOOP_IMAGE, which names the gateway's and vault's image, as a flag.
	Expect(cluster.StartWithKubeconfig("manager", operatorKubeconfig, append(append([]string{operator}, args...),
		"--gateway-image=registry.test/cybercoop/cybercoop-operator:e2e")...)).To(Succeed())
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
