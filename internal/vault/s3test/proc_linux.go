package s3test

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the gateway when the test binary dies, even
// by a signal that skips Stop, so no gateway outlives its tests.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
