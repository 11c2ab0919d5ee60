//go:build tools

// Package kwok pins the kwok command built into bin/k8s.
package kwok

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
