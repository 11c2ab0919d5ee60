//go:build charttest

package chart

// The checks of the operator chart's PrometheusRule: `promtool check rules` on the rule
// groups `helm template` renders, `promtool test rules` with testdata/promtool (every
// alert shown to fire and not to fire), every alert labelled and annotated, and every
// series the rules and their tests name exported by the manager under those labels.
// The rendered PrometheusRule is also dry-run against the API server with the other
// value sets (valueSets, "prometheusrule-on").

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/cybercoop/cybercoop-operator/internal/metrics"
	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

// rulesFile is the name the promtool tests' rule_files give the rendered rule groups.
const rulesFile = "cybercoop-operator.rules.yaml"

func promtoolPath() string {
	if p := os.Getenv("PROMTOOL"); p != "" {
		return p
	}
	return filepath.Join(envtestutil.RepoRoot(), "bin", "promtool")
}

// ruleGroups renders the chart with the PrometheusRule and returns its spec (the rule
// groups, as Prometheus reads them) as YAML.
func ruleGroups(t *testing.T, args ...string) ([]byte, map[string]any) {
	t.Helper()
	objs := render(t, append([]string{"--set", "prometheusRule.enabled=true"}, args...)...)
	rule := find(objs, "PrometheusRule", releaseNamespace, release)
	if rule == nil {
		t.Fatal("prometheusRule.enabled=true rendered no PrometheusRule")
	}
	spec, _, _ := unstructured.NestedMap(rule.Object, "spec")
	out, err := yaml.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	return out, spec
}

type alertRule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func alertsOf(t *testing.T, groups []byte) []alertRule {
	t.Helper()
	var spec struct {
		Groups []struct {
			Rules []alertRule `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(groups, &spec); err != nil {
		t.Fatal(err)
	}
	var alerts []alertRule
	for _, g := range spec.Groups {
		alerts = append(alerts, g.Rules...)
	}
	return alerts
}

func TestPrometheusRuleOffByDefault(t *testing.T) {
	if find(render(t), "PrometheusRule", releaseNamespace, release) != nil {
		t.Error("a PrometheusRule is rendered by default")
	}
}

// TestPrometheusRuleWithPromtool runs promtool's checks and the unit tests of
// testdata/promtool on the rendered rule groups.
func TestPrometheusRuleWithPromtool(t *testing.T) {
	promtool := promtoolPath()
	if _, err := os.Stat(promtool); err != nil {
		t.Fatalf("no promtool at %s: run `make promtool` (or `make chart-test`)", promtool)
	}
	groups, _ := ruleGroups(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, rulesFile), groups, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", filepath.Join(dir, rulesFile)).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s\n%s", err, out, groups)
	}
	tests, _ := filepath.Glob(filepath.Join("testdata", "promtool", "*.yaml"))
	if len(tests) == 0 {
		t.Fatal("no promtool tests in testdata/promtool")
	}
	var copies []string
	for _, f := range tests {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		copied := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(copied, data, 0o600); err != nil {
			t.Fatal(err)
		}
		copies = append(copies, copied)
	}
	cmd := exec.Command(promtool, append([]string{"test", "rules"}, copies...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// promtoolTests is the part of a promtool unit-test file this test reads.
type promtoolTests struct {
	RuleFiles []string `json:"rule_files"`
	Tests     []struct {
		InputSeries []struct {
			Series string `json:"series"`
		} `json:"input_series"`
		AlertRuleTests []struct {
			Alertname string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

// TestEveryAlertTested: each alert has a severity, a summary, a description and a
// runbook in the docs, and the promtool tests show it both firing and not firing.
func TestEveryAlertTested(t *testing.T) {
	groups, _ := ruleGroups(t, "--set", "prometheusRule.runbookURL=https://runbooks.example/cybercoop")
	alerts := alertsOf(t, groups)
	if len(alerts) == 0 {
		t.Fatal("the PrometheusRule has no alerts")
	}
	docs, err := os.ReadFile(filepath.Join(envtestutil.RepoRoot(), "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	files, _ := filepath.Glob(filepath.Join("testdata", "promtool", "*.yaml"))
	for _, f := range files {
		var pt promtoolTests
		data, _ := os.ReadFile(f)
		if err := yaml.Unmarshal(data, &pt); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !slices.Equal(pt.RuleFiles, []string{rulesFile}) {
			t.Errorf("%s: rule_files %v, want [%s] (the rendered rule groups)", f, pt.RuleFiles, rulesFile)
		}
		for _, tc := range pt.Tests {
			for _, at := range tc.AlertRuleTests {
				if len(at.ExpAlerts) > 0 {
					fires[at.Alertname] = true
				} else {
					silent[at.Alertname] = true
				}
			}
		}
	}
	for _, a := range alerts {
		if a.Alert == "" {
			t.Errorf("a rule that is not an alert: %q", a.Expr)
			continue
		}
		if !slices.Contains([]string{"warning", "critical"}, a.Labels["severity"]) {
			t.Errorf("%s: severity %q, want warning or critical", a.Alert, a.Labels["severity"])
		}
		for _, k := range []string{"summary", "description"} {
			if a.Annotations[k] == "" {
				t.Errorf("%s: no %s annotation", a.Alert, k)
			}
		}
		if want := "https://runbooks.example/cybercoop#" + strings.ToLower(a.Alert); a.Annotations["runbook_url"] != want {
			t.Errorf("%s: runbook_url %q, want %q", a.Alert, a.Annotations["runbook_url"], want)
		}
		if !strings.Contains(string(docs), "### "+a.Alert+"\n") {
			t.Errorf("%s: docs/metrics.md has no section \"### %s\" for its runbook", a.Alert, a.Alert)
		}
		if !fires[a.Alert] || !silent[a.Alert] {
			t.Errorf("%s: testdata/promtool shows it firing %v, not firing %v; want both", a.Alert, fires[a.Alert], silent[a.Alert])
		}
	}
}

// exportedSeries publishes one series of every metric of internal/metrics and returns
// each metric's label names as the manager's registry serves them.
func exportedSeries(t *testing.T) map[string][]string {
	t.Helper()
	at := time.Unix(1_700_000_000, 0)
	metrics.SetCertificateExpiration("ns", "FocalPoint", "fp", metrics.RoleCA, at)
	metrics.SetCertificateRenewal("ns", "FocalPoint", "fp", metrics.RoleCA, at)
	metrics.SetComplianceControls("ns", "profile", map[string]float64{"control": metrics.ControlPassValue})
	metrics.SetRosterCoverage("ns", "fp", true, 60, 10080)
	metrics.ObserveChannelProbe("ns", "cc", at, true, time.Second)
	metrics.SetChannelRequests("ns", "cc", true, 1, 1)
	metrics.SetVaultIntegrity("ns", "ev", true, true)
	metrics.SetVaultContents("ns", "ev", metrics.VaultContents{Objects: ptr.To[int64](1), Bytes: ptr.To[int64](1),
		LastVerification: at, LastVerificationPassed: true, VerificationInterval: time.Hour})
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "cybercoop_") {
			continue
		}
		var names []string
		for _, lp := range f.GetMetric()[0].GetLabel() {
			names = append(names, lp.GetName())
		}
		if f.GetType().String() == "HISTOGRAM" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				labels := names
				if suffix == "_bucket" {
					labels = append(slices.Clone(names), "le")
				}
				out[f.GetName()+suffix] = labels
			}
			continue
		}
		out[f.GetName()] = names
	}
	return out
}

var (
	metricName    = regexp.MustCompile(`\bcybercoop_[a-z_]+`)
	seriesLabels  = regexp.MustCompile(`^([a-z_]+)\{(.*)\}$`)
	seriesLabelKV = regexp.MustCompile(`([a-z_]+)="[^"]*"`)
)

// TestAlertsUseExportedSeries: every series name in the rules is one the manager
// exports, and every input series of the promtool tests has exactly the labels the
// manager gives it, so the tests exercise what a real scrape yields.
func TestAlertsUseExportedSeries(t *testing.T) {
	exported := exportedSeries(t)
	groups, _ := ruleGroups(t)
	for _, a := range alertsOf(t, groups) {
		for _, name := range metricName.FindAllString(a.Expr, -1) {
			if _, ok := exported[name]; !ok {
				t.Errorf("%s uses %s, which the manager does not export", a.Alert, name)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "promtool", "*.yaml"))
	for _, f := range files {
		var pt promtoolTests
		data, _ := os.ReadFile(f)
		if err := yaml.Unmarshal(data, &pt); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range pt.Tests {
			for _, in := range tc.InputSeries {
				m := seriesLabels.FindStringSubmatch(strings.TrimSpace(in.Series))
				if m == nil {
					t.Errorf("%s: input series %q is not name{labels}", f, in.Series)
					continue
				}
				want, ok := exported[m[1]]
				if !ok {
					t.Errorf("%s: input series %s is not exported by the manager", f, m[1])
					continue
				}
				var got []string
				for _, kv := range seriesLabelKV.FindAllStringSubmatch(m[2], -1) {
					got = append(got, kv[1])
				}
				sort.Strings(got)
				want = slices.Sorted(slices.Values(want))
				if !slices.Equal(got, want) {
					t.Errorf("%s: input series %s has labels %v; the manager exports %v", f, in.Series, got, want)
				}
			}
		}
	}
}
