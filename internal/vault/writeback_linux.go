package vault

import (
	"os"
	"syscall"
)

// startWriteback asks the kernel to begin writing [off, off+n) of f to disk
// without waiting (sync_file_range with SYNC_FILE_RANGE_WRITE). Ingest calls
// it as it goes so that the fsync before commit finds little left to write;
// durability still rests on that fsync, this only moves the work earlier.
func startWriteback(f *os.File, off, n int64) {
	const syncFileRangeWrite = 0x2
	syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, f.Fd(), uintptr(off), uintptr(n), syncFileRangeWrite, 0, 0)
}
