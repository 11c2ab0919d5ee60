// Command demo runs the sample country stack on a local, simulated cluster and
// prints its status: a real kube-apiserver and etcd (started through envtest), the
// real kube-controller-manager and kube-scheduler, kwok simulating one node and its
// pods (no containers run), and the operator as a local process.
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
	"syscall"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cybercoop/cybercoop-operator/internal/manageropts"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	k8sBin := os.Getenv("K8S_BIN")
	if k8sBin == "" {
		return errors.New("K8S_BIN is not set: run `make demo`")
	}
	work := filepath.Join(root, ".demo")
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	step("starting kube-apiserver and etcd")
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: k8sBin,
	}
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() { _ = env.Stop() }()

	step("starting kube-controller-manager, kube-scheduler and kwok (one simulated node)")
	cluster, err := envtestutil.StartSimulatedCluster(env, k8sBin, work)
	if err != nil {
		return err
	}
	defer cluster.Stop()
	kubectl := func(args ...string) error {
		cmd := exec.Command(filepath.Join(k8sBin, "kubectl"), append([]string{"--kubeconfig=" + cluster.Kubeconfig}, args...)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		return cmd.Run()
	}

	step("starting the operator (bin/cybercoop manager)")
	if err := cluster.Start("manager", filepath.Join(root, "bin", "cybercoop"), "manager",
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--zap-log-level=info",
		"--gateway-image=cybercoop/cybercoop-operator:demo"); err != nil {
		return err
	}

	step("applying the sample country stacks, Kenya and France, with a channel each way (config/samples)")
	if err := kubectl("apply", "-k", filepath.Join(root, "config", "samples")); err != nil {
		return err
	}

	step("waiting for every FocalPoint to be Ready")
	waitErr := kubectl("wait", "--for=condition=Ready", "focalpoints", "--all", "-A", "--timeout=180s")

	step("the sample stack")
	_ = kubectl("get", "cybercoop", "-A", "-o", "wide")
	fmt.Println()
	_ = kubectl("get", "focalpoints", "-A", "-o",
		`custom-columns=FOCALPOINT:.metadata.name,CONDITION:.status.conditions[*].type,STATUS:.status.conditions[*].status,REASON:.status.conditions[*].reason`)
	fmt.Println()
	_ = kubectl("get", "focalpoints", "-A", "-o",
		`jsonpath={range .items[*]}{.metadata.name}: on call {.status.coverage.hoursPerWeek} h in the week of {.status.coverage.weekStart}; endpoint {.status.endpoint}; gateway pods available {.status.gatewayReplicas}{"\n"}  national CA generation {.status.certificates.ca.caGeneration} valid until {.status.certificates.ca.notAfter}; gateway certificate valid until {.status.certificates.gatewayServing.notAfter}, renewed at {.status.certificates.gatewayServing.renewalTime}{"\n"}{end}`)
	fmt.Println()
	// The evidence vault's pods cannot run in a simulated cluster (no volume is ever
	// bound), so what the operator cannot ask the vault is shown as Unknown, with why.
	step("waiting for every EvidenceVault's keys and certificates")
	_ = kubectl("wait", "--for=condition=KeysReady", "evidencevaults", "--all", "-A", "--timeout=120s")
	_ = kubectl("wait", "--for=condition=CertificateReady", "evidencevaults", "--all", "-A", "--timeout=60s")
	_ = kubectl("get", "evidencevaults", "-A", "-o",
		`custom-columns=EVIDENCEVAULT:.metadata.name,CONDITION:.status.conditions[*].type,STATUS:.status.conditions[*].status,REASON:.status.conditions[*].reason`)
	fmt.Println()
	_ = kubectl("get", "evidencevaults", "-A", "-o",
		`jsonpath={range .items[*]}{.metadata.name}: endpoint {.status.endpoint}; key version {.status.keys.activeVersion} active, next rotation {.status.keys.nextRotation}{"\n"}  serving certificate valid until {.status.certificates.serving.notAfter}; checkpoints signed by {.status.checkpointVerifierKey}{"\n"}  {.status.conditions[?(@.type=="IntegrityVerified")].message}{"\n"}{end}`)
	fmt.Println()
	_ = kubectl("get", "deployments,statefulsets,services,poddisruptionbudgets,networkpolicies,configmaps,serviceaccounts,secrets,persistentvolumeclaims,pods",
		"-n", "cybercoop-ke", "-l", "app.kubernetes.io/part-of=cybercoop")
	fmt.Println()
	_ = kubectl("get", "events", "-n", "cybercoop-ke")
	if waitErr != nil {
		return fmt.Errorf("the sample stack did not become Ready; logs are in %s", work)
	}

	c, err := client.New(env.Config, client.Options{Scheme: manageropts.Scheme()})
	if err != nil {
		return err
	}
	stopStack, err := cooperate(ctx, c, work, kubectl)
	defer stopStack()
	if err != nil {
		return fmt.Errorf("the two States could not cooperate: %w; logs are in %s", err, work)
	}

	if os.Getenv("DEMO_KEEP") != "" {
		fmt.Printf("\nThe cluster stays up until Ctrl-C. Try:\n  export KUBECONFIG=%s\n  %s get cybercoop -A\n",
			cluster.Kubeconfig, filepath.Join(k8sBin, "kubectl"))
		<-ctx.Done()
	}
	step("stopping")
	return nil
}

func step(msg string) { fmt.Printf("\n=== %s\n", msg) }
