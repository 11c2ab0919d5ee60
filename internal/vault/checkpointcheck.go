package vault

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// A checkpoint kept outside the vault (by the operator in an EvidenceVault's
// status, or by anyone who received one) commits the vault to its first Size
// custody entries. Checking a data directory against it detects what the
// directory alone cannot show: a log rolled back to an earlier copy together
// with its acknowledgement record, shortened, or rewritten with a fresh but
// self-consistent hash chain.

// logRoot reads a custody log and returns the number of complete entries
// (lines ending in a newline) and the RFC 6962 root hash of the first n of
// them (nil if the log holds fewer than n). It keeps O(log n) hashes.
func logRoot(r io.Reader, n uint64) (root []byte, entries uint64, err error) {
	rng := rangeFactory.NewEmptyRange(0)
	err = scanLog(r, func(l logLine) error {
		if !l.complete {
			return nil
		}
		entries++
		if entries <= n {
			return rng.Append(leafHash(l.text), nil)
		}
		return nil
	})
	if err != nil {
		return nil, entries, err
	}
	if entries < n {
		return nil, entries, nil
	}
	if n == 0 {
		return hasher.EmptyRoot(), entries, nil
	}
	root, err = rng.GetRootHash(nil)
	return root, entries, err
}

// CheckLogAgainstCheckpoint reports how the custody log in r differs from
// what checkpoint c commits to: fewer entries than c.Size, or a first c.Size
// entries that do not hash to c.Root. No findings means the log extends the
// log c was signed over. The checkpoint's signature is the caller's to check
// (OpenCheckpoint).
func CheckLogAgainstCheckpoint(r io.Reader, c Checkpoint) ([]Finding, error) {
	_, findings, err := checkLog(r, c)
	return findings, err
}

func checkLog(r io.Reader, c Checkpoint) (uint64, []Finding, error) {
	root, entries, err := logRoot(r, c.Size)
	if err != nil {
		return entries, nil, fmt.Errorf("reading custody log: %w", err)
	}
	if entries < c.Size {
		missing := fmt.Sprintf("entries %d–%d are missing", entries+1, c.Size)
		if entries+1 == c.Size {
			missing = fmt.Sprintf("entry %d is missing", c.Size)
		}
		return entries, []Finding{{Problem: fmt.Sprintf("the checkpoint of %s commits to %d custody entries but the log holds %d: %s "+
			"(the log was shortened or rolled back to an earlier copy since the checkpoint was signed)", c.Origin, c.Size, entries, missing)}}, nil
	}
	if !bytes.Equal(root, c.Root) {
		return entries, []Finding{{Problem: fmt.Sprintf("the first %d custody entries hash to root %s, not to the root %s the checkpoint of %s signs: "+
			"entries up to %d were altered, removed, inserted or reordered since the checkpoint was signed (or the log was rolled back and written again)",
			c.Size, b64(root), b64(c.Root), c.Origin, c.Size)}}, nil
	}
	return entries, nil, nil
}

// CheckpointCheck is the result of checking a data directory against a
// signed checkpoint.
type CheckpointCheck struct {
	// Checkpoint is the verified checkpoint.
	Checkpoint Checkpoint
	// Entries is the number of complete entries in the log.
	Entries uint64
	// Findings is empty when the log's first Checkpoint.Size entries hash to
	// its root.
	Findings []Finding
}

// VerifyCheckpointOffline checks the custody log in data directory dir
// against a signed checkpoint held elsewhere: the checkpoint's signature with
// verifierKey (an error if it does not verify: nothing can be concluded from
// it), then that the log holds at least as many entries and that its first
// Size entries hash to the checkpoint's root (a finding if not). Read only,
// like VerifyOffline.
func VerifyCheckpointOffline(dir string, signed []byte, verifierKey string) (CheckpointCheck, error) {
	c, err := OpenCheckpoint(signed, verifierKey)
	if err != nil {
		return CheckpointCheck{}, err
	}
	f, err := os.Open(filepath.Join(dir, custodyLogName))
	if err != nil {
		return CheckpointCheck{}, fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	entries, findings, err := checkLog(f, c)
	if err != nil {
		return CheckpointCheck{}, fmt.Errorf("verify: %w", err)
	}
	return CheckpointCheck{Checkpoint: c, Entries: entries, Findings: findings}, nil
}

func b64(h []byte) string { return base64.StdEncoding.EncodeToString(h) }

// VerifyCheckpointS3 is VerifyCheckpointOffline for a vault kept in an S3
// bucket: the log is read from the bucket's custody segments.
func VerifyCheckpointS3(ctx context.Context, s *S3Store, signed []byte, verifierKey string) (CheckpointCheck, error) {
	c, err := OpenCheckpoint(signed, verifierKey)
	if err != nil {
		return CheckpointCheck{}, err
	}
	log, _, err := s.CustodyLog(ctx, 0)
	if err != nil {
		return CheckpointCheck{}, fmt.Errorf("verify: %w", err)
	}
	entries, findings, err := checkLog(bytes.NewReader(log), c)
	if err != nil {
		return CheckpointCheck{}, fmt.Errorf("verify: %w", err)
	}
	return CheckpointCheck{Checkpoint: c, Entries: entries, Findings: findings}, nil
}
