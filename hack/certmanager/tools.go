//go:build tools

// Package certmanager keeps github.com/cert-manager/cert-manager in go.mod so
// that `go mod tidy` does not drop it; only the module's deploy/crds files are
// used (by controllers/focalpoint/certmanager's envtest suite).
package certmanager

import _ "github.com/cert-manager/cert-manager/pkg/apis/certmanager"
