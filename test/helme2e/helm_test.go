//go:build helme2e

package helme2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/cybercoop/cybercoop-operator/test/envtestutil"
)

var (
	operatorChart = filepath.Join(envtestutil.RepoRoot(), "charts", "cybercoop-operator")
	stackChart    = filepath.Join(envtestutil.RepoRoot(), "charts", "cybercoop-stack")
)

// helm runs bin/helm as the cluster administrator, with its configuration, cache
// and data under workDir, and fails the spec with its output if it fails.
func helm(args ...string) string {
	out, err := runHelm(args...)
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "helm %s:\n%s", strings.Join(args, " "), out)
	return out
}

func runHelm(args ...string) (string, error) {
	cmd := exec.Command(helmBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.Kubeconfig,
		"HELM_CONFIG_HOME="+filepath.Join(workDir, "helm", "config"),
		"HELM_CACHE_HOME="+filepath.Join(workDir, "helm", "cache"),
		"HELM_DATA_HOME="+filepath.Join(workDir, "helm", "data"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// kubectl runs bin/k8s/kubectl as the cluster administrator and returns its output.
func kubectl(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(k8sBin, "kubectl"), append([]string{"--kubeconfig=" + cluster.Kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// releaseObjects decodes the manifest Helm recorded for a release: what the chart
// rendered, as the cluster received it.
func releaseObjects(release, namespace string) []*unstructured.Unstructured {
	manifest := helm("get", "manifest", release, "--namespace", namespace)
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			Fail("decoding the manifest of release " + release + ": " + err.Error())
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
	return objs
}

// findObject is the object of a kind in objs whose name ends with nameSuffix ("":
// any name); the spec fails if there is not exactly one.
func findObject(objs []*unstructured.Unstructured, kind, nameSuffix string) *unstructured.Unstructured {
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && strings.HasSuffix(o.GetName(), nameSuffix) {
			found = append(found, o)
		}
	}
	ExpectWithOffset(1, found).To(HaveLen(1), "the release renders one %s named *%s", kind, nameSuffix)
	return found[0]
}

// valuesFile renders testdata/<name> (a text/template over data) into workDir and
// returns its path, for helm's -f.
func valuesFile(name string, data any) string {
	tmpl, err := template.ParseFiles(filepath.Join("testdata", name))
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	var out bytes.Buffer
	ExpectWithOffset(1, tmpl.Option("missingkey=error").Execute(&out, data)).To(Succeed())
	path := filepath.Join(workDir, "values", name)
	ExpectWithOffset(1, os.MkdirAll(filepath.Dir(path), 0o700)).To(Succeed())
	ExpectWithOffset(1, os.WriteFile(path, out.Bytes(), 0o600)).To(Succeed())
	return path
}
