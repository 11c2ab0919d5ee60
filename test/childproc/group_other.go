//go:build !unix

package childproc

import "os"

// terminate ends p: without Unix signals there is no asking it to stop first.
func terminate(p *os.Process) { _ = p.Kill() }

// kill ends p.
func kill(p *os.Process) { _ = p.Kill() }
