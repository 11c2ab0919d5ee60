//go:build tools

// Package tools pins Versity S3 Gateway (github.com/versity/versitygw/cmd/versitygw, Apache-2.0),
// built from the Go module proxy into bin/ by `make versitygw`: the S3 server with Object Lock that
// the vault's S3 backend suite (internal/vault/s3store) runs against.
package tools

import _ "github.com/versity/versitygw/cmd/versitygw"
