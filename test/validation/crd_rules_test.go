package validation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

// TestCRDRulesAreUnique: a CEL rule declared twice on one schema node (say on a type
// and again on the type that inlines it) is accepted by a create but refused by
// server-side apply, which is how users upgrade CRDs.
func TestCRDRulesAreUnique(t *testing.T) {
	dir := filepath.Join(envtestutil.RepoRoot(), "config", "crd", "bases")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s: %v", dir, err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd map[string]any
		if err := yaml.Unmarshal(raw, &crd); err != nil {
			t.Fatal(err)
		}
		var walk func(node any, path string)
		walk = func(node any, path string) {
			switch n := node.(type) {
			case map[string]any:
				if rules, ok := n["x-kubernetes-validations"].([]any); ok {
					seen := map[string]bool{}
					for _, r := range rules {
						rule, _ := r.(map[string]any)["rule"].(string)
						if seen[rule] {
							t.Errorf("%s %s: the rule %q is declared twice", filepath.Base(f), path, rule)
						}
						seen[rule] = true
					}
				}
				for k, v := range n {
					walk(v, path+"/"+k)
				}
			case []any:
				for _, v := range n {
					walk(v, path+"[]")
				}
			}
		}
		walk(crd, strings.TrimSuffix(filepath.Base(f), ".yaml"))
	}
}
