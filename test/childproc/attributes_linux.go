package childproc

import "syscall"

// attributes are a's (nil: none) with the child in a process group of its own,
// killed by the kernel when the thread that starts it ends.
func attributes(a *syscall.SysProcAttr) *syscall.SysProcAttr {
	if a == nil {
		a = &syscall.SysProcAttr{}
	}
	a.Setpgid = true
	a.Pdeathsig = syscall.SIGKILL
	return a
}
