//go:build !linux

package s3test

import "os/exec"

// dieWithParent is a no-op where the kernel cannot tie the gateway's life to
// the test binary's; Stop still stops it.
func dieWithParent(*exec.Cmd) {}
