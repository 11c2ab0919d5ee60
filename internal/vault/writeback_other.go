//go:build !linux

package vault

import (
	"errors"
	"os"
)

// startWriteback is a no-op where sync_file_range does not exist; the fsync
// before commit does all the work.
func startWriteback(*os.File, int64, int64) error { return nil }

// setDirectIO reports that direct I/O is not available here; FSStore then
// writes through the page cache.
func setDirectIO(*os.File, bool) error { return errors.ErrUnsupported }

func directRefused(error) bool { return false }

// syncData is fsync where fdatasync is not available.
func syncData(f *os.File) error { return f.Sync() }
