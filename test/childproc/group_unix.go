//go:build unix

package childproc

import (
	"os"
	"syscall"
)

// terminate sends SIGTERM to p's process group (Start made p its leader).
func terminate(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGTERM) }

// kill sends SIGKILL to p's process group.
func kill(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGKILL) }
