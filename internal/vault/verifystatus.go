package vault

import (
	"bytes"
	"fmt"
	"strings"
)

// MaxVerifyMessage bounds VerifyStatus.Message, so that it fits a condition
// message; maxFirstFindings bounds VerifyStatus.FirstFindings.
const (
	MaxVerifyMessage = 1024
	maxFirstFindings = 3
	maxFindingText   = 512
)

// verifyStatusOf summarises a verification recorded in custody entry seq.
func verifyStatusOf(rep Report, seq uint64) *VerifyStatus {
	s := &VerifyStatus{Time: rep.Time, OK: rep.OK(), Findings: len(rep.Findings), Sequence: seq,
		Entries: rep.Entries, Objects: rep.Objects, Bytes: rep.Bytes}
	var b strings.Builder
	fmt.Fprintf(&b, "verified %d custody entries, %d objects, %d bytes", rep.Entries, rep.Objects, rep.Bytes)
	if rep.OK() {
		b.WriteString(": no findings")
	} else {
		fmt.Fprintf(&b, ": %d finding(s)", len(rep.Findings))
	}
	for _, f := range rep.Findings[:min(len(rep.Findings), maxFirstFindings)] {
		s.FirstFindings = append(s.FirstFindings, truncateText(f.String(), maxFindingText))
	}
	for i, f := range rep.Findings {
		text := truncateText(f.String(), maxFindingText/2)
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		if b.Len()+len(sep)+len(text) > MaxVerifyMessage {
			if rest := len(rep.Findings) - i; rest > 0 {
				more := fmt.Sprintf("; and %d more", rest)
				if b.Len()+len(more) <= MaxVerifyMessage {
					b.WriteString(more)
				}
			}
			break
		}
		b.WriteString(sep)
		b.WriteString(text)
	}
	s.Message = b.String()
	return s
}

// truncateText cuts s to at most n bytes on a rune boundary, marking the cut.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// checkTreeRoot compares the root of the custody log file's first entries
// with the Merkle tree the vault built from what it wrote and what it read at
// start: a difference means the file was changed under the running vault
// (its checkpoints and proofs describe the tree, not the file). Callers hold
// v.mu.
func (v *Vault) checkTreeRoot(fileRoot []byte, entries uint64) *Finding {
	treeRoot, err := v.custody.tree.root(entries)
	if err != nil {
		return &Finding{Problem: "cannot compute the Merkle root of the custody log: " + err.Error()}
	}
	if fileRoot == nil {
		return &Finding{Problem: fmt.Sprintf("the custody log file holds fewer than the %d entries the vault wrote or loaded: it was shortened while the vault was running", entries)}
	}
	if !bytes.Equal(fileRoot, treeRoot) {
		return &Finding{Problem: fmt.Sprintf("the custody log file's first %d entries hash to Merkle root %s, but the entries the vault wrote or loaded hash to %s "+
			"(the root its checkpoints sign): the file was changed while the vault was running", entries, b64(fileRoot), b64(treeRoot))}
	}
	return nil
}

// statusFor is Status as actor may see it: the messages of the last
// verification name objects and references, so only holders of the verify
// or list role see them.
func (v *Vault) statusFor(actor Identity) Status {
	s := v.Status()
	if s.LastVerification != nil && !v.grants.Allows(actor, RoleVerify) && !v.grants.Allows(actor, RoleList) {
		lv := *s.LastVerification
		lv.Message, lv.FirstFindings = "", nil
		s.LastVerification = &lv
	}
	return s
}
