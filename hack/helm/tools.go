//go:build tools

// Package tools pins Helm (helm.sh/helm/v4), built from the Go module proxy into
// bin/ by `make helm`, for `make chart-test`.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
