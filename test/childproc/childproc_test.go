package childproc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// helperEnv makes the test binary, run again by TestDiesWithTestBinary, act as a
// test binary that starts a child and dies without stopping it.
const helperEnv = "CHILDPROC_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		child, err := Start(exec.Command("sleep", "600"))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println(child.Cmd.Process.Pid)
		os.Exit(0) // as a test binary's -timeout panic does: no cleanup runs
	}
	os.Exit(m.Run())
}

func TestDoneAndErr(t *testing.T) {
	c, err := Start(exec.Command("sh", "-c", "exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	var exit *exec.ExitError
	if err := c.Err(); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("Err() = %v, want exit status 3", err)
	}
	if _, err := Start(exec.Command("/nonexistent/binary")); err == nil {
		t.Fatal("Start of a missing binary succeeded")
	}
}

func TestStop(t *testing.T) {
	c, err := Start(exec.Command("sleep", "600"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(time.Minute); err != nil {
		t.Fatalf("a child that ends on SIGTERM: Stop() = %v", err)
	}
	// A shell that ignores SIGTERM (and so does its sleep, which inherits that)
	// is killed once the grace period has passed.
	cmd := exec.Command("sh", "-c", `trap "" TERM; echo ready; sleep 600`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if c, err = Start(cmd); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil { // the trap is set
		t.Fatal(err)
	}
	if err := c.Stop(100 * time.Millisecond); err == nil {
		t.Fatal("a child that ignores SIGTERM: Stop() = nil, want an error saying it was killed")
	}
	if err := c.Stop(time.Minute); err != nil {
		t.Fatalf("Stop() of an ended child = %v", err)
	}
}
