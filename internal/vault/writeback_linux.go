package vault

import (
	"errors"
	"os"
	"syscall"
)

// startWriteback asks the kernel to begin writing [off, off+n) of f to disk
// without waiting (sync_file_range with SYNC_FILE_RANGE_WRITE). Ingest calls
// it as it goes so that the fsync before commit finds little left to write;
// durability still rests on that fsync, this only moves the work earlier.
//
// It is a hint, so it never fails the write: ENOSYS (kernels or sandboxes
// without the call, e.g. gVisor) and EINVAL (file systems that do not
// support it) are expected and ignored; any other error is returned so the
// caller can report it, but the data is still made durable by the fsync.
func startWriteback(f *os.File, off, n int64) error {
	const syncFileRangeWrite = 0x2
	_, _, errno := syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, f.Fd(), uintptr(off), uintptr(n), syncFileRangeWrite, 0, 0)
	if errno == 0 || errors.Is(errno, syscall.ENOSYS) || errors.Is(errno, syscall.EINVAL) {
		return nil
	}
	return os.NewSyscallError("sync_file_range", errno)
}

// setDirectIO switches O_DIRECT on or off for f. File systems without direct
// I/O refuse to switch it on (EINVAL).
func setDirectIO(f *os.File, on bool) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	err = rc.Control(func(fd uintptr) {
		flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		if errno != 0 {
			opErr = os.NewSyscallError("fcntl F_GETFL", errno)
			return
		}
		if on {
			flags |= syscall.O_DIRECT
		} else {
			flags &^= syscall.O_DIRECT
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETFL, flags); errno != 0 {
			opErr = os.NewSyscallError("fcntl F_SETFL", errno)
		}
	})
	if err != nil {
		return err
	}
	return opErr
}

// directRefused reports whether err is a file system refusing a direct
// write (EINVAL: unsupported, or an alignment it does not accept).
func directRefused(err error) bool { return errors.Is(err, syscall.EINVAL) }

// syncData makes f's data durable with fdatasync: for a file overwritten in
// place (its size and blocks unchanged), everything needed to read the data
// back, without the journal commit an fsync spends on the modification time.
func syncData(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
