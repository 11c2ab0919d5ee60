//go:build helme2e

// Package helme2e installs cybercoop the way users do and checks what they would see:
// `helm install` of charts/cybercoop-operator (its CRDs from crds/, its ServiceAccount
// and RBAC in Cluster and in Namespaced scope) and of charts/cybercoop-stack for three
// countries into a simulated cluster (the real kube-apiserver, etcd,
// kube-controller-manager and kube-scheduler, and kwok running pods without
// containers), then `helm upgrade` and `helm uninstall`.
//
// The manager runs as a local process (bin/cybercoop manager) with the arguments
// of the chart's Deployment and a kubeconfig that impersonates the chart's
// ServiceAccount, so the chart's RBAC is what is tested. The gateways and vaults run
// in this process on the Secrets the operator issued (test/localstack), since no
// container runs.
//
// Run it with `make e2e` (build tag helme2e, so `go test ./...` skips it): it needs
// the binaries of bin/k8s (KUBEBUILDER_ASSETS), bin/helm (HELM) and bin/cybercoop
// (CYBERCOOP). On a failure the objects, events and the managers' logs are printed
// and the logs of every component are kept; E2E_KEEP_LOGS=1 keeps them on success.
package helme2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

var (
	// k8sBin holds kube-apiserver, etcd, kubectl, kube-controller-manager,
	// kube-scheduler and kwok; helmBin and operatorBin are bin/helm and bin/cybercoop.
	k8sBin, helmBin, operatorBin string
	// workDir holds every component's log, the kubeconfigs and Helm's own files.
	workDir string

	testEnv *envtest.Environment
	cluster *envtestutil.SimulatedCluster
	// k8sClient is the cluster administrator's client; it reads the API server
	// directly, never through a cache.
	k8sClient client.Client
)

func TestHelmE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "cybercoop installed with Helm on a simulated cluster")
}

var _ = BeforeSuite(func() {
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter)))

	k8sBin = requiredFile("KUBEBUILDER_ASSETS", "kube-apiserver")
	helmBin = requiredFile("HELM", "")
	operatorBin = requiredFile("CYBERCOOP", "")
	var err error
	workDir, err = os.MkdirTemp("", "cybercoop-helme2e-")
	Expect(err).NotTo(HaveOccurred())

	By("starting kube-apiserver and etcd, without CRDs: helm installs them")
	testEnv = &envtest.Environment{BinaryAssetsDirectory: k8sBin}
	_, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())

	By("starting kube-controller-manager, kube-scheduler and kwok (one simulated node)")
	cluster, err = envtestutil.StartSimulatedCluster(testEnv, k8sBin, workDir)
	Expect(err).NotTo(HaveOccurred())
	// The suite polls several objects at once; client-go's default rate limit (5
	// calls a second) would make it wait on itself.
	admin := rest.CopyConfig(cluster.Config)
	admin.QPS, admin.Burst = 200, 400
	k8sClient, err = client.New(admin, client.Options{Scheme: manageropts.Scheme()})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	stopManagers()
	if cluster != nil {
		cluster.Stop()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
	if workDir == "" {
		return
	}
	if CurrentSpecReport().Failed() || suiteFailed || os.Getenv("E2E_KEEP_LOGS") != "" {
		fmt.Fprintf(GinkgoWriter, "the logs of every component are in %s\n", workDir)
		return
	}
	Expect(os.RemoveAll(workDir)).To(Succeed())
})

// requiredFile is the path an environment variable names (a directory holding
// inside, when inside is not empty); it fails the suite saying how to run it.
func requiredFile(env, inside string) string {
	path := os.Getenv(env)
	if path == "" {
		Fail(env + " is not set: run the suite with `make e2e`, which builds bin/k8s, bin/helm and bin/cybercoop")
	}
	if _, err := os.Stat(filepath.Join(path, inside)); err != nil {
		Fail(fmt.Sprintf("%s=%s: %v; run `make e2e`", env, path, err))
	}
	return path
}

// suiteFailed is set by the first failed spec, so the logs are kept.
var suiteFailed bool

// ctx is the context of every API call; each call is short.
var ctx = context.Background()
