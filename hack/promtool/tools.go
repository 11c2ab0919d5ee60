//go:build tools

// Package tools pins promtool (github.com/prometheus/prometheus/cmd/promtool), built from
// the Go module proxy into bin/ by `make promtool`, for `make chart-test`: it checks the
// operator chart's PrometheusRule and runs its unit tests.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
