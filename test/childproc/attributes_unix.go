//go:build unix && !linux

package childproc

import "syscall"

// attributes are a's (nil: none) with the child in a process group of its own.
// Outside Linux the kernel cannot tie its life to the test binary's; the test's
// own stop still ends it.
func attributes(a *syscall.SysProcAttr) *syscall.SysProcAttr {
	if a == nil {
		a = &syscall.SysProcAttr{}
	}
	a.Setpgid = true
	return a
}
