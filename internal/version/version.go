// Package version carries the build's version, stamped at link time with
// -ldflags "-X github.com/cybercoop/cybercoop-operator/internal/version.Version=v0.1.0".
package version

// Version is the release this binary was built from; "dev" for local builds.
var Version = "dev"

// DefaultImage is the operator's own container image, which also runs the gateway
// and vault roles. Overridden with the manager's --gateway-image flag.
func DefaultImage() string { return "cybercoop/cybercoop-operator:" + Version }
