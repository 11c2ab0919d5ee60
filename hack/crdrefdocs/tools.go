//go:build tools

// Package crdrefdocs pins crd-ref-docs for `make api-docs`.
package crdrefdocs

import _ "github.com/elastic/crd-ref-docs"
