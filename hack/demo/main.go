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
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type demo struct {
	root, bin, k8sBin, work, kubeconfig string
	procs                               []*exec.Cmd
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
	d := &demo{root: root, bin: filepath.Join(root, "bin"), k8sBin: k8sBin, work: filepath.Join(root, ".demo")}
	if err := os.RemoveAll(d.work); err != nil {
		return err
	}
	if err := os.MkdirAll(d.work, 0o755); err != nil {
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
	defer d.stopAll()

	admin, err := env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	d.kubeconfig = filepath.Join(d.work, "kubeconfig")
	if err := os.WriteFile(d.kubeconfig, kubeconfig, 0o600); err != nil {
		return err
	}

	step("starting kube-controller-manager, kube-scheduler and kwok (one simulated node)")
	if err := d.start("kube-controller-manager", filepath.Join(k8sBin, "kube-controller-manager"),
		"--kubeconfig="+d.kubeconfig, "--leader-elect=false", "--secure-port=0",
		"--controllers=deployment-controller,replicaset-controller,garbage-collector-controller,disruption-controller,endpointslice-controller,namespace-controller,node-lifecycle-controller",
	); err != nil {
		return err
	}
	if err := d.start("kube-scheduler", filepath.Join(k8sBin, "kube-scheduler"),
		"--kubeconfig="+d.kubeconfig, "--leader-elect=false", "--secure-port=0"); err != nil {
		return err
	}
	if err := d.start("kwok", filepath.Join(k8sBin, "kwok"),
		"--kubeconfig="+d.kubeconfig, "--config="+filepath.Join(k8sBin, "kwok-stages.yaml"), "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-ip=127.0.0.1", "--node-name=kwok-node-0",
	); err != nil {
		return err
	}
	if err := d.kubectlStdin(fakeNode, "apply", "-f", "-"); err != nil {
		return err
	}

	step("starting the operator (bin/cybercoop manager)")
	if err := d.start("manager", filepath.Join(d.bin, "cybercoop"), "manager",
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--zap-log-level=info",
		"--gateway-image=cybercoop/cybercoop-operator:demo"); err != nil {
		return err
	}

	step("applying the sample country stack (config/samples)")
	if err := d.kubectl("apply", "-k", filepath.Join(root, "config", "samples")); err != nil {
		return err
	}

	step("waiting for every FocalPoint to be Ready")
	if err := d.kubectl("wait", "--for=condition=Ready", "focalpoints", "--all", "-A", "--timeout=180s"); err != nil {
		d.printStatus()
		return fmt.Errorf("the sample stack did not become Ready; logs are in %s", d.work)
	}
	d.printStatus()

	if os.Getenv("DEMO_KEEP") != "" {
		fmt.Printf("\nThe cluster stays up until Ctrl-C. Try:\n  export KUBECONFIG=%s\n  %s get cybercoop -A\n", d.kubeconfig, filepath.Join(k8sBin, "kubectl"))
		<-ctx.Done()
	}
	step("stopping")
	return nil
}

const fakeNode = `apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: kwok-node-0
    type: kwok
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
`

func (d *demo) printStatus() {
	step("the sample stack")
	_ = d.kubectl("get", "cybercoop", "-A", "-o", "wide")
	fmt.Println()
	_ = d.kubectl("get", "focalpoints", "-A", "-o",
		`custom-columns=FOCALPOINT:.metadata.name,CONDITION:.status.conditions[*].type,STATUS:.status.conditions[*].status,REASON:.status.conditions[*].reason`)
	fmt.Println()
	_ = d.kubectl("get", "focalpoints", "-A", "-o",
		`jsonpath={range .items[*]}{.metadata.name}: on call {.status.coverage.hoursPerWeek} h in the week of {.status.coverage.weekStart}; endpoint {.status.endpoint}; gateway pods available {.status.gatewayReplicas}{"\n"}{end}`)
	fmt.Println()
	_ = d.kubectl("get", "deployments,services,poddisruptionbudgets,networkpolicies,configmaps,serviceaccounts,pods",
		"-n", "cybercoop-ke", "-l", "app.kubernetes.io/managed-by=cybercoop-operator")
}

func step(msg string) { fmt.Printf("\n=== %s\n", msg) }

// start runs a component in the background with its output in .demo/<name>.log.
func (d *demo) start(name, path string, args ...string) error {
	logFile, err := os.Create(filepath.Join(d.work, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "KUBECONFIG="+d.kubeconfig)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	d.procs = append(d.procs, cmd)
	return nil
}

func (d *demo) stopAll() {
	for i := len(d.procs) - 1; i >= 0; i-- {
		p := d.procs[i]
		_ = syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
}

func (d *demo) kubectl(args ...string) error { return d.kubectlStdin("", args...) }

func (d *demo) kubectlStdin(stdin string, args ...string) error {
	cmd := exec.Command(filepath.Join(d.k8sBin, "kubectl"), append([]string{"--kubeconfig=" + d.kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	return cmd.Run()
}
