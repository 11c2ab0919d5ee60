// Package envtestutil starts a real kube-apiserver and etcd for the test suites
// (controller-runtime's envtest), with the binaries `make k8s-binaries` builds.
package envtestutil

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot is the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// NewEnvironment returns an envtest environment with the project's CRDs. It fails
// with instructions when KUBEBUILDER_ASSETS does not point at the built binaries.
func NewEnvironment(extraCRDDirs ...string) (*envtest.Environment, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds kube-apiserver and etcd into bin/k8s and points KUBEBUILDER_ASSETS there")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, errors.New("KUBEBUILDER_ASSETS=" + assets + " has no " + bin + ": run `make k8s-binaries`")
		}
	}
	return &envtest.Environment{
		CRDDirectoryPaths:     append([]string{filepath.Join(RepoRoot(), "config", "crd", "bases")}, extraCRDDirs...),
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}, nil
}
