// Pins cert-manager so that the envtest suite of the cert-manager mode can
// load its CRDs (deploy/crds) from the Go module cache.
module github.com/cybercoop/cybercoop-operator/hack/certmanager

go 1.26.0

require github.com/cert-manager/cert-manager v1.21.2
