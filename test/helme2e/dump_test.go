//go:build helme2e

package helme2e

import (
	"fmt"
	"os"
	"strings"

	. "github.com/onsi/ginkgo/v2"
)

// managerLogLines is how much of each manager's log a failure prints; the whole
// logs stay in workDir.
const managerLogLines = 300

// dumpCluster prints what a person would look at first when the suite fails: the
// objects, every resource's conditions, the events, and the managers' logs.
func dumpCluster() {
	w := GinkgoWriter
	for _, args := range [][]string{
		{"get", "cybercoop,deploy,sts,pvc,secrets", "-A"},
		{"get", "cybercoop", "-A", "-o", `jsonpath={range .items[*]}{.kind} {.metadata.namespace}/{.metadata.name} (generation {.metadata.generation}){"\n"}` +
			`{range .status.conditions[*]}  {.type}={.status} {.reason} (generation {.observedGeneration}): {.message}{"\n"}{end}{end}`},
		{"get", "pods", "-A", "-o", "wide"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
	} {
		out, err := kubectl(args...)
		if err != nil {
			out += "\n" + err.Error()
		}
		fmt.Fprintf(w, "\n$ kubectl %s\n%s\n", strings.Join(args, " "), out)
	}
	for _, m := range managers {
		b, err := os.ReadFile(m.logPath)
		if err != nil {
			fmt.Fprintf(w, "\nthe log of the manager of release %s: %v\n", m.release, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > managerLogLines {
			lines = lines[len(lines)-managerLogLines:]
		}
		fmt.Fprintf(w, "\nthe last %d lines of %s (the manager of release %s):\n%s\n", len(lines), m.logPath, m.release, strings.Join(lines, "\n"))
	}
	fmt.Fprintf(w, "\nthe logs of kube-controller-manager, kube-scheduler, kwok and every manager are in %s\n", workDir)
}
