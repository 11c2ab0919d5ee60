//go:build !unix

package childproc

import "syscall"

// attributes are a's unchanged: without Unix process groups or Pdeathsig, the
// test's own stop alone ends the child.
func attributes(a *syscall.SysProcAttr) *syscall.SysProcAttr { return a }
