//go:build charttest

// Package chart checks charts/cybercoop-operator (this file) and charts/cybercoop-stack
// (stack_test.go): `helm lint`, value sets that render, every rendered object accepted
// by a real kube-apiserver (server-side dry run, the CRDs installed), value sets the
// schema must refuse, the operator's RBAC equal to what config/ (kustomize) grants, and
// the values that change the manifests.
//
// Run with `make chart-test` (build tag charttest, so `make test` does not run it):
// it needs bin/helm (HELM), the kube-apiserver and etcd of bin/k8s
// (KUBEBUILDER_ASSETS), the Prometheus Operator's ServiceMonitor and PrometheusRule
// CRDs (SERVICEMONITOR_CRD, PROMETHEUSRULE_CRD) and bin/promtool (PROMTOOL).
package chart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

const (
	release          = "cybercoop-operator"
	releaseNamespace = "cybercoop-system"
	// podCheckNamespace enforces the restricted Pod Security profile; the manager's
	// pod is dry-run there, under a ServiceAccount of the release's name.
	podCheckNamespace = "cybercoop-pod-check"
)

var (
	chartDir     = filepath.Join(envtestutil.RepoRoot(), "charts", "cybercoop-operator")
	controlPlane *envtestutil.ControlPlane
	// kubeconfig lets helm itself reach the control plane (helm install --dry-run=server).
	kubeconfig string
)

// valueSets are the value sets that must render, lint and be accepted by the API server.
var valueSets = []struct {
	name string
	args []string
}{
	{"defaults", nil},
	{"namespaced", []string{"--set", "rbac.scope=Namespaced", "--set", "watchNamespaces={cybercoop-ke,cybercoop-vn}"}},
	{"ha", []string{"--set", "replicas=3", "--set", "priorityClassName=system-cluster-critical",
		"--set", "nodeSelector.kubernetes\\.io/os=linux", "--set", "tolerations[0].key=dedicated", "--set", "tolerations[0].operator=Exists"}},
	{"single", []string{"--set", "replicas=1", "--set", "metrics.secure=false", "--set", "metrics.port=8080"}},
	{"servicemonitor-off", []string{"--set", "metrics.serviceMonitor.enabled=false"}},
	{"servicemonitor-on", []string{"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.serviceMonitor.labels.release=prometheus"}},
	{"metrics-off", []string{"--set", "metrics.enabled=false"}},
	{"prometheusrule-on", []string{"--set", "metrics.serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true",
		"--set", "prometheusRule.labels.release=prometheus"}},
	{"image-override", []string{"--set", "image.repository=registry.example:5000/cybercoop/operator", "--set", "image.tag=v0.2.0",
		"--set", "gatewayImage=registry.example:5000/cybercoop/operator:v0.2.0-gw"}},
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if _, err := os.Stat(helmPath()); err != nil {
		fmt.Fprintf(os.Stderr, "no helm at %s: run `make helm` (or `make chart-test`)\n", helmPath())
		return 1
	}
	serviceMonitorCRD, prometheusRuleCRD := os.Getenv("SERVICEMONITOR_CRD"), os.Getenv("PROMETHEUSRULE_CRD")
	if serviceMonitorCRD == "" || prometheusRuleCRD == "" {
		fmt.Fprintln(os.Stderr, "SERVICEMONITOR_CRD or PROMETHEUSRULE_CRD is not set: run `make chart-test`, which downloads the Prometheus Operator module for its CRDs")
		return 1
	}
	var err error
	controlPlane, err = envtestutil.StartControlPlane(io.Discard, serviceMonitorCRD, prometheusRuleCRD)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the control plane:", err)
		return 1
	}
	defer func() { _ = controlPlane.Stop() }()
	if kubeconfig, err = writeKubeconfig(controlPlane); err != nil {
		fmt.Fprintln(os.Stderr, "writing a kubeconfig for helm:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(filepath.Dir(kubeconfig)) }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	restricted := map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}
	namespaces := map[string]map[string]string{
		releaseNamespace:  restricted,
		podCheckNamespace: restricted,
		"cybercoop-ke":    nil,
		"cybercoop-fr":    nil,
		"cybercoop-vn":    nil,
		// A service provider's stack (charts/cybercoop-stack/examples/provider.yaml).
		"cybercoop-safiri-mail": nil,
	}
	for name, labels := range namespaces {
		if err := controlPlane.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}); err != nil {
			fmt.Fprintln(os.Stderr, "creating namespace", name, err)
			return 1
		}
	}
	return m.Run()
}

func helmPath() string {
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	return filepath.Join(envtestutil.RepoRoot(), "bin", "helm")
}

// writeKubeconfig writes, in a new temporary directory, an administrator's kubeconfig
// for cp and returns its path.
func writeKubeconfig(cp *envtestutil.ControlPlane) (string, error) {
	admin, err := cp.Env.AddUser(envtest.User{Name: "chart-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	data, err := admin.KubeConfig()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "chart-test-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, data, 0o600)
}

func helm(args ...string) (string, error) {
	cmd := exec.Command(helmPath(), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// render runs `helm template` of the operator chart with args and decodes every object it prints.
func render(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	return renderChart(t, chartDir, release, releaseNamespace, args...)
}

// renderChart runs `helm template <name> <dir> --namespace <namespace>` with args and
// decodes every object it prints.
func renderChart(t *testing.T, dir, name, namespace string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(append([]string{"template", name, dir, "--namespace", namespace}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, out)
	}
	objs := decodeObjects(t, fmt.Sprintf("the output of helm template %v", args), out)
	if len(objs) == 0 {
		t.Fatalf("helm template %v rendered nothing", args)
	}
	return objs
}

// decodeObjects decodes every object of a YAML stream (described by what, for errors).
func decodeObjects(t *testing.T, what, stream string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("decoding %s: %v", what, err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs
}

func find(objs []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	return nil
}

func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func convert[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	if o == nil {
		t.Fatalf("no such object rendered")
	}
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &v); err != nil {
		t.Fatalf("converting %s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return &v
}

func deployment(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	return convert[appsv1.Deployment](t, find(objs, "Deployment", releaseNamespace, release))
}

func managerArgs(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	return deployment(t, objs).Spec.Template.Spec.Containers[0].Args
}

func TestLint(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			if out, err := helm(append([]string{"lint", "--strict", chartDir, "--namespace", releaseNamespace}, vs.args...)...); err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
		})
	}
}

// TestServerSideDryRun sends every object of every value set to the API server
// (with the chart's CRDs and the ServiceMonitor CRD installed) as a dry-run create,
// and the manager's pod as a dry-run Pod in a namespace enforcing the restricted
// Pod Security profile.
func TestServerSideDryRun(t *testing.T) {
	ctx := context.Background()
	c := controlPlane.Client
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: release, Namespace: podCheckNamespace}}
	if err := c.Create(ctx, sa); err != nil {
		t.Fatalf("creating the ServiceAccount the pod dry-run needs: %v", err)
	}
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			objs := render(t, vs.args...)
			for _, o := range objs {
				if err := c.Create(ctx, o.DeepCopy(), client.DryRunAll); err != nil {
					t.Errorf("%s %s/%s rejected by the API server: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
				}
			}
			d := deployment(t, objs)
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{GenerateName: release + "-", Namespace: podCheckNamespace, Labels: d.Spec.Template.Labels},
				Spec:       d.Spec.Template.Spec,
			}
			if vs.name == "ha" {
				// system-cluster-critical may only be used in kube-system; the
				// Deployment's dry run above already checked the field.
				pod.Spec.PriorityClassName = ""
			}
			if err := c.Create(ctx, pod.DeepCopy(), client.DryRunAll); err != nil {
				t.Errorf("the manager's pod is not admitted in a namespace enforcing the restricted profile: %v", err)
			}
			// The same pod allowed to escalate privileges is refused: the profile is enforced.
			escalating := pod.DeepCopy()
			escalating.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
			if err := c.Create(ctx, escalating, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
				t.Errorf("a pod allowing privilege escalation: got %v, want a PodSecurity violation", err)
			}
		})
	}
}

// TestChartCRDsAreConfigCRDs: the chart's crds/ are the generated ones.
func TestChartCRDsAreConfigCRDs(t *testing.T) {
	bases, err := filepath.Glob(filepath.Join(envtestutil.RepoRoot(), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(bases) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	chartCRDs, _ := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	if len(chartCRDs) != len(bases) {
		t.Fatalf("chart has %d CRDs, config/crd/bases %d: run `make manifests`", len(chartCRDs), len(bases))
	}
	for _, b := range bases {
		want, _ := os.ReadFile(b)
		got, err := os.ReadFile(filepath.Join(chartDir, "crds", filepath.Base(b)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("charts/cybercoop-operator/crds/%s differs from config/crd/bases: run `make manifests`", filepath.Base(b))
		}
	}
}

func rulesOf(t *testing.T, path string) []rbacv1.PolicyRule {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(role.Rules) == 0 {
		t.Fatalf("%s has no rules", path)
	}
	return role.Rules
}

// TestRBACEqualsConfig: the rules the chart grants are those config/rbac grants
// (generated from the kubebuilder markers), in both scopes.
func TestRBACEqualsConfig(t *testing.T) {
	rbacDir := filepath.Join(envtestutil.RepoRoot(), "config", "rbac")
	want := rulesOf(t, filepath.Join(rbacDir, "role.yaml"))

	cluster := render(t)
	got := convert[rbacv1.ClusterRole](t, find(cluster, "ClusterRole", "", release+"-manager")).Rules
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Cluster scope: the chart's ClusterRole rules differ from config/rbac/role.yaml\nchart:  %+v\nconfig: %+v", got, want)
	}
	metricsAuth := convert[rbacv1.ClusterRole](t, find(cluster, "ClusterRole", "", release+"-metrics-auth")).Rules
	if wantAuth := rulesOf(t, filepath.Join(rbacDir, "metrics_auth_role.yaml")); !reflect.DeepEqual(metricsAuth, wantAuth) {
		t.Errorf("the chart's metrics-auth rules differ from config/rbac/metrics_auth_role.yaml\nchart:  %+v\nconfig: %+v", metricsAuth, wantAuth)
	}
	leader := convert[rbacv1.Role](t, find(cluster, "Role", releaseNamespace, release+"-leader-election")).Rules
	if wantLeader := rulesOf(t, filepath.Join(rbacDir, "leader_election_role.yaml")); !reflect.DeepEqual(leader, wantLeader) {
		t.Errorf("the chart's leader-election rules differ from config/rbac/leader_election_role.yaml\nchart:  %+v\nconfig: %+v", leader, wantLeader)
	}

	namespaced := render(t, "--set", "rbac.scope=Namespaced", "--set", "watchNamespaces={cybercoop-ke,cybercoop-vn}")
	for _, ns := range []string{"cybercoop-ke", "cybercoop-vn"} {
		got := convert[rbacv1.Role](t, find(namespaced, "Role", ns, release+"-manager")).Rules
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Namespaced scope: the Role in %s differs from config/rbac/role.yaml", ns)
		}
	}
}

func TestBadValuesAreRefused(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"zero replicas", []string{"--set", "replicas=0"}, "at '/replicas': minimum: got 0, want 1"},
		{"negative replicas", []string{"--set", "replicas=-2"}, "at '/replicas': minimum: got -2, want 1"},
		{"fractional replicas", []string{"--set-json", "replicas=1.5"}, "at '/replicas': got number, want integer"},
		{"unknown rbac scope", []string{"--set", "rbac.scope=Everywhere"}, "at '/rbac/scope': value must be one of 'Cluster', 'Namespaced'"},
		{"namespaced without namespaces", []string{"--set", "rbac.scope=Namespaced"}, "at '/watchNamespaces': minItems: got 0, want 1"},
		{"bad namespace name", []string{"--set", "rbac.scope=Namespaced", "--set", "watchNamespaces={Cyber_KE}"}, "at '/watchNamespaces/0': 'Cyber_KE' does not match pattern"},
		{"image repository with a tag", []string{"--set", "image.repository=cybercoop/operator:v1"}, "at '/image/repository': 'cybercoop/operator:v1' does not match pattern"},
		{"upper-case image repository", []string{"--set", "image.repository=CyberCoop/Operator"}, "at '/image/repository': 'CyberCoop/Operator' does not match pattern"},
		{"malformed tag", []string{"--set", "image.tag=-latest"}, "at '/image/tag': '-latest' does not match pattern"},
		{"malformed digest", []string{"--set", "image.digest=sha256:abc"}, "at '/image/digest': 'sha256:abc' does not match pattern"},
		{"malformed gateway image", []string{"--set", "gatewayImage=registry.example/op:bad tag"}, "at '/gatewayImage': 'registry.example/op:bad tag' does not match pattern"},
		{"unknown pull policy", []string{"--set", "image.pullPolicy=Sometimes"}, "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'"},
		{"misspelt value", []string{"--set", "replica=2"}, "additional properties 'replica' not allowed"},
		{"bad scrape interval", []string{"--set", "metrics.serviceMonitor.interval=soon"}, "at '/metrics/serviceMonitor/interval': 'soon' does not match pattern"},
		{"runbook URL with a fragment", []string{"--set", "prometheusRule.runbookURL=https://runbooks.example/x#top"}, "at '/prometheusRule/runbookURL': 'https://runbooks.example/x#top' does not match pattern"},
		{"misspelt prometheusRule value", []string{"--set", "prometheusRule.enable=true"}, "additional properties 'enable' not allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range [][]string{
				{"template", release, chartDir, "--namespace", releaseNamespace},
				{"lint", chartDir, "--namespace", releaseNamespace},
			} {
				out, err := helm(append(cmd, tc.args...)...)
				if err == nil {
					t.Fatalf("helm %s %v succeeded; want it refused with %q", cmd[0], tc.args, tc.want)
				}
				if !strings.Contains(out, tc.want) {
					t.Errorf("helm %s %v: want the message %q, got:\n%s", cmd[0], tc.args, tc.want, out)
				}
			}
		})
	}
}

func TestReplicasAndLeaderElection(t *testing.T) {
	for _, tc := range []struct {
		replicas       int
		leaderElection bool
	}{{1, false}, {2, true}, {3, true}} {
		t.Run(fmt.Sprint(tc.replicas), func(t *testing.T) {
			objs := render(t, "--set", fmt.Sprintf("replicas=%d", tc.replicas))
			d := deployment(t, objs)
			if *d.Spec.Replicas != int32(tc.replicas) {
				t.Errorf("replicas: got %d, want %d", *d.Spec.Replicas, tc.replicas)
			}
			if got := slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--leader-elect"); got != tc.leaderElection {
				t.Errorf("--leader-elect passed: %v, want %v", got, tc.leaderElection)
			}
			hasRole := find(objs, "Role", releaseNamespace, release+"-leader-election") != nil
			hasPDB := find(objs, "PodDisruptionBudget", releaseNamespace, release) != nil
			if hasRole != tc.leaderElection || hasPDB != tc.leaderElection {
				t.Errorf("leader-election Role rendered: %v, PodDisruptionBudget: %v; want both %v", hasRole, hasPDB, tc.leaderElection)
			}
			wantStrategy := appsv1.RollingUpdateDeploymentStrategyType
			if !tc.leaderElection {
				wantStrategy = appsv1.RecreateDeploymentStrategyType
			}
			if d.Spec.Strategy.Type != wantStrategy {
				t.Errorf("strategy %s, want %s", d.Spec.Strategy.Type, wantStrategy)
			}
		})
	}
}

// TestNamespacedScope: a Role and RoleBinding in each watched namespace, the
// manager told to watch only those, and no cluster-wide access to any resource
// (so none to Secrets): the only ClusterRoles left are the metrics filter's
// TokenReview/SubjectAccessReview and the /metrics reader.
func TestNamespacedScope(t *testing.T) {
	namespaces := []string{"cybercoop-ke", "cybercoop-vn"}
	objs := render(t, "--set", "rbac.scope=Namespaced", "--set", "watchNamespaces={"+strings.Join(namespaces, ",")+"}")
	for _, ns := range namespaces {
		rb := convert[rbacv1.RoleBinding](t, find(objs, "RoleBinding", ns, release+"-manager"))
		if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != release+"-manager" ||
			len(rb.Subjects) != 1 || rb.Subjects[0].Name != release || rb.Subjects[0].Namespace != releaseNamespace {
			t.Errorf("RoleBinding in %s: %+v", ns, rb)
		}
	}
	if n := len(ofKind(objs, "RoleBinding")); n != len(namespaces)+1 {
		t.Errorf("%d RoleBindings, want one per watched namespace and the leader election's", n)
	}
	args := managerArgs(t, objs)
	for _, ns := range namespaces {
		if !slices.Contains(args, "--watch-namespace="+ns) {
			t.Errorf("manager args %v lack --watch-namespace=%s", args, ns)
		}
	}
	allowed := map[string]bool{"tokenreviews": true, "subjectaccessreviews": true}
	for _, o := range ofKind(objs, "ClusterRole") {
		for _, r := range convert[rbacv1.ClusterRole](t, o).Rules {
			for _, res := range r.Resources {
				if !allowed[res] {
					t.Errorf("ClusterRole %s grants %v on %s cluster-wide in the Namespaced scope", o.GetName(), r.Verbs, res)
				}
			}
		}
	}
	for _, o := range ofKind(objs, "ClusterRoleBinding") {
		if ref := convert[rbacv1.ClusterRoleBinding](t, o).RoleRef.Name; ref != release+"-metrics-auth" {
			t.Errorf("ClusterRoleBinding %s binds %s in the Namespaced scope", o.GetName(), ref)
		}
	}
	// And the Cluster scope does grant Secrets cluster-wide, so the check above means something.
	cluster := convert[rbacv1.ClusterRole](t, find(render(t), "ClusterRole", "", release+"-manager"))
	if !slices.ContainsFunc(cluster.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "secrets") }) {
		t.Error("the Cluster scope's ClusterRole has no rule on secrets")
	}
}

func TestImage(t *testing.T) {
	c := deployment(t, render(t)).Spec.Template.Spec.Containers[0]
	if c.Image != "cybercoop/cybercoop-operator:0.1.0" || !slices.Contains(c.Args, "--gateway-image=cybercoop/cybercoop-operator:0.1.0") {
		t.Errorf("default image %s, args %v: want the chart's appVersion for both the manager and the gateway", c.Image, c.Args)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	c = deployment(t, render(t, "--set", "image.repository=registry.example:5000/cc/operator", "--set", "image.tag=v0.2.0",
		"--set", "image.digest="+digest, "--set", "image.pullPolicy=Always")).Spec.Template.Spec.Containers[0]
	want := "registry.example:5000/cc/operator:v0.2.0@" + digest
	if c.Image != want || c.ImagePullPolicy != corev1.PullAlways || !slices.Contains(c.Args, "--gateway-image="+want) {
		t.Errorf("image %s (%s), args %v: want %s, Always, and the gateway on the same image", c.Image, c.ImagePullPolicy, c.Args, want)
	}
	c = deployment(t, render(t, "--set", "gatewayImage=registry.example/gw:1")).Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "--gateway-image=registry.example/gw:1") {
		t.Errorf("args %v: want --gateway-image=registry.example/gw:1", c.Args)
	}
}

func TestMetrics(t *testing.T) {
	objs := render(t)
	args := managerArgs(t, objs)
	if !slices.Contains(args, "--metrics-secure") || !slices.Contains(args, "--metrics-bind-address=:8443") {
		t.Errorf("default args %v: want secure metrics on :8443", args)
	}
	if find(objs, "ServiceMonitor", releaseNamespace, release) != nil {
		t.Error("a ServiceMonitor is rendered by default")
	}
	svc := convert[corev1.Service](t, find(objs, "Service", releaseNamespace, release+"-metrics"))
	if svc.Spec.Ports[0].Name != "https-metrics" || svc.Spec.Ports[0].Port != 8443 {
		t.Errorf("metrics Service ports %+v", svc.Spec.Ports)
	}

	objs = render(t, "--set", "metrics.secure=false", "--set", "metrics.serviceMonitor.enabled=true")
	if slices.Contains(managerArgs(t, objs), "--metrics-secure") || find(objs, "ClusterRole", "", release+"-metrics-auth") != nil {
		t.Error("metrics.secure=false still passes --metrics-secure or renders the metrics-auth ClusterRole")
	}
	sm := find(objs, "ServiceMonitor", releaseNamespace, release)
	if sm == nil {
		t.Fatal("metrics.serviceMonitor.enabled=true rendered no ServiceMonitor")
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 || endpoints[0].(map[string]any)["scheme"] != "http" || endpoints[0].(map[string]any)["port"] != "http-metrics" {
		t.Errorf("ServiceMonitor endpoints %v: want one, http on http-metrics", endpoints)
	}

	objs = render(t, "--set", "metrics.enabled=false", "--set", "metrics.serviceMonitor.enabled=true")
	if !slices.Contains(managerArgs(t, objs), "--metrics-bind-address=0") || find(objs, "Service", releaseNamespace, release+"-metrics") != nil ||
		find(objs, "ServiceMonitor", releaseNamespace, release) != nil {
		t.Error("metrics.enabled=false still serves metrics or renders the Service or ServiceMonitor")
	}
}

func TestSchedulingValues(t *testing.T) {
	spec := deployment(t, render(t, "--set", "priorityClassName=high", "--set", "nodeSelector.zone=a",
		"--set", "tolerations[0].key=dedicated", "--set", "tolerations[0].operator=Exists",
		"--set", "resources.limits.memory=512Mi")).Spec.Template.Spec
	if spec.PriorityClassName != "high" || spec.NodeSelector["zone"] != "a" || len(spec.Tolerations) != 1 ||
		spec.Containers[0].Resources.Limits.Memory().String() != "512Mi" {
		t.Errorf("scheduling values not applied: %+v", spec)
	}
	if spec.Affinity == nil || spec.Affinity.PodAntiAffinity == nil {
		t.Error("no default anti-affinity spreading the replicas")
	}
}
