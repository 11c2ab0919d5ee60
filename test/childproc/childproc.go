// Package childproc starts the processes the test suites run beside themselves (a
// manager binary, a simulated cluster's components, an S3 server) so that none
// outlives the test binary. A test binary that dies without its cleanups (go
// test's -timeout panics, a SIGKILL) would otherwise leave them running: a manager
// holding thousands of channels takes a third of a core, and every later run on
// the machine, tests and benchmarks alike, is measured beside it.
package childproc

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// Child is a process started by Start.
type Child struct {
	// Cmd is the command as started; do not call its Wait.
	Cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts cmd in a process group of its own (a signal to the test's
// terminal reaches it only through the test's own stop) and, on Linux, with the
// kernel's promise to kill it (SIGKILL) when the test binary dies.
//
// That promise (Pdeathsig) is tied to the thread that starts the child, not to
// the process, and the Go runtime ends a thread when a goroutine locked to it
// returns (go.dev/issue/27505). So the child is started from a goroutine that
// keeps its thread to itself and waits for the child there: that thread ends only
// once the child has.
func Start(cmd *exec.Cmd) (*Child, error) {
	c := &Child{Cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		cmd.SysProcAttr = attributes(cmd.SysProcAttr)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.err = cmd.Wait()
		close(c.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return c, nil
}

// Done is closed once the child has ended.
func (c *Child) Done() <-chan struct{} { return c.done }

// Err is how the child ended (exec.Cmd.Wait's error); call it after Done.
func (c *Child) Err() error {
	<-c.done
	return c.err
}

// Stop ends the child and its process group as the kubelet ends a pod: SIGTERM,
// then SIGKILL once grace has passed. It reports an error when the child had to be
// killed; a child that had already ended is left as it is.
func (c *Child) Stop(grace time.Duration) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	terminate(c.Cmd.Process)
	select {
	case <-c.done:
		return nil
	case <-time.After(grace):
		kill(c.Cmd.Process)
		<-c.done
		return fmt.Errorf("%s did not end within %s of SIGTERM", filepath.Base(c.Cmd.Path), grace)
	}
}
