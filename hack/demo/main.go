// Command demo installs cybercoop the way a country does, with Helm, on a local,
// simulated cluster, and prints what it made: a real kube-apiserver and etcd
// (started through envtest), the real kube-controller-manager and kube-scheduler,
// kwok simulating one node and its pods (no containers run), the operator chart
// (CRDs, RBAC, the manager's Deployment), the manager as a local process under the
// chart's ServiceAccount, and two countries' stacks from the stack chart's examples.
// Each country's vault and gateway run as local processes on the Secrets the
// operator issued, and one State sends the other a request.
//
// Run it with `make demo`, which builds the binaries first. Set DEMO_KEEP=1 to
// leave the cluster running until Ctrl-C and use it with the printed KUBECONFIG.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

const (
	operatorRelease   = "cybercoop-operator"
	operatorNamespace = "cybercoop-system"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// demo is what every step uses.
type demo struct {
	root, work, k8sBin, helmBin string
	cluster                     *envtestutil.SimulatedCluster
	c                           client.Client
	dns                         *envtestutil.ClusterDNS
}

func run() error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	d := &demo{root: root, work: filepath.Join(root, ".demo"), k8sBin: os.Getenv("K8S_BIN"), helmBin: os.Getenv("HELM")}
	if d.k8sBin == "" || d.helmBin == "" {
		return errors.New("K8S_BIN or HELM is not set: run `make demo`")
	}
	if err := os.RemoveAll(d.work); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	step("starting kube-apiserver and etcd")
	env := &envtest.Environment{BinaryAssetsDirectory: d.k8sBin}
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() { _ = env.Stop() }()

	step("starting kube-controller-manager, kube-scheduler and kwok (one simulated node)")
	if d.cluster, err = envtestutil.StartSimulatedCluster(env, d.k8sBin, d.work); err != nil {
		return err
	}
	defer d.cluster.Stop()
	// The demo's client stands for every country's local vault and gateway, each
	// following its Secrets: client-go's default 5 requests/s would throttle them.
	cfg := rest.CopyConfig(d.cluster.Config)
	cfg.QPS, cfg.Burst = 100, 200
	if d.c, err = client.New(cfg, client.Options{Scheme: manageropts.Scheme()}); err != nil {
		return err
	}

	step("installing the operator: helm install " + operatorRelease + " charts/cybercoop-operator --namespace " + operatorNamespace + " --create-namespace")
	if err := d.helm("install", operatorRelease, filepath.Join(root, "charts", "cybercoop-operator"),
		"--namespace", operatorNamespace, "--create-namespace", "--set", "image.tag=demo", "--wait", "--timeout=2m"); err != nil {
		return err
	}
	_ = d.kubectl("get", "deployments,serviceaccounts,clusterroles,clusterrolebindings", "-l", "app.kubernetes.io/instance="+operatorRelease, "-A")

	step("running the manager as the chart's Deployment runs it, under the chart's ServiceAccount (a simulated cluster runs no containers)")
	if err := d.startManager(ctx); err != nil {
		return err
	}
	defer d.dns.Stop()

	stack, err := d.installStacks(ctx)
	defer stack.stop()
	if err != nil {
		return fmt.Errorf("%w; logs are in %s", err, d.work)
	}
	if err := stack.cooperate(ctx); err != nil {
		return fmt.Errorf("the two States could not cooperate: %w; logs are in %s", err, d.work)
	}
	if err := stack.serviceProvider(ctx); err != nil {
		return fmt.Errorf("the service provider's endpoint: %w; logs are in %s", err, d.work)
	}

	if os.Getenv("DEMO_KEEP") != "" {
		fmt.Printf("\nThe cluster stays up until Ctrl-C. Try:\n  export KUBECONFIG=%s\n  %s get cybercoop -A\n  %s list -A\n",
			d.cluster.Kubeconfig, filepath.Join(d.k8sBin, "kubectl"), d.helmBin)
		<-ctx.Done()
	}
	step("stopping")
	return nil
}

// startManager runs bin/cybercoop with the arguments of the chart's manager
// container, as the chart's ServiceAccount (a kubeconfig impersonating it), and
// with a hosts file that resolves the vaults' Service names to this machine when
// a private mount namespace can be made.
func (d *demo) startManager(ctx context.Context) error {
	deployments := &appsv1.DeploymentList{}
	if err := d.c.List(ctx, deployments, client.InNamespace(operatorNamespace),
		client.MatchingLabels{"app.kubernetes.io/instance": operatorRelease}); err != nil {
		return err
	}
	if len(deployments.Items) != 1 {
		return fmt.Errorf("the operator release has %d Deployments, want 1", len(deployments.Items))
	}
	deployment := &deployments.Items[0]
	podArgs, err := envtestutil.ContainerArgs(deployment, "manager")
	if err != nil {
		return err
	}
	args, _ := envtestutil.LocalManagerArgs(podArgs, operatorNamespace, "")
	identity := envtestutil.ServiceAccountUser(operatorNamespace, deployment.Spec.Template.Spec.ServiceAccountName)
	kubeconfig := filepath.Join(d.work, "manager.kubeconfig")
	if err := envtestutil.ImpersonatingKubeconfig(d.cluster.Kubeconfig, identity, kubeconfig); err != nil {
		return err
	}
	var hosts []string
	for _, dc := range append(countries, safiri) {
		hosts = append(hosts, dc.vaultHost(), dc.host, dc.gatewayServiceHost())
	}
	if d.dns, err = envtestutil.NewClusterDNS(d.work, hosts...); err != nil {
		return err
	}
	if !d.dns.Available() {
		fmt.Printf("  (no private hosts file: %s; the operator will not reach the vaults, whose IntegrityVerified stays Unknown)\n", d.dns.Unavailable)
	}
	fmt.Printf("  bin/cybercoop %s\n  as %s; log in %s\n", joinArgs(args), identity, filepath.Join(d.work, "manager.log"))
	return d.cluster.StartWithKubeconfig("manager", kubeconfig, d.dns.Command(append([]string{filepath.Join(d.root, "bin", "cybercoop")}, args...)...)...)
}

// restrictedNamespace creates a namespace whose pods the API server holds to the
// restricted Pod Security profile, as the README's install steps do.
func (d *demo) restrictedNamespace(ctx context.Context, name string) error {
	return d.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}})
}

func (d *demo) kubectl(args ...string) error {
	cmd := exec.Command(filepath.Join(d.k8sBin, "kubectl"), append([]string{"--kubeconfig=" + d.cluster.Kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// helm runs bin/helm as the cluster's administrator, with its own configuration,
// cache and data under .demo/helm.
func (d *demo) helm(args ...string) error {
	cmd := exec.Command(d.helmBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+d.cluster.Kubeconfig,
		"HELM_CONFIG_HOME="+filepath.Join(d.work, "helm", "config"),
		"HELM_CACHE_HOME="+filepath.Join(d.work, "helm", "cache"),
		"HELM_DATA_HOME="+filepath.Join(d.work, "helm", "data"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("helm %s: %w\n%s", joinArgs(args), err, out)
	}
	return nil
}

func joinArgs(args []string) string { return strings.Join(args, " ") }

func step(msg string) { fmt.Printf("\n=== %s\n", msg) }
