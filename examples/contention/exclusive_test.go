package contention

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ktest-dev/ktest/kerneltest"
	"golang.org/x/sys/unix"
)

// exclusiveLockPath is the host-wide lockfile of the example's exclusive
// resource: every run of this example on the host uses the same file.
var exclusiveLockPath = filepath.Join(os.TempDir(), "ktest-example-exclusive.lock")

// acquireExclusive takes an exclusive flock on the lockfile at path without
// waiting. It returns a function that releases it (unlock, then close), or
// a *kerneltest.ContentionError if another open file description holds the
// lock (another process, or another open of the same file in this one).
// Other failures (the file cannot be created) are ordinary errors.
func acquireExclusive(path string) (release func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o666)
	if err != nil {
		return nil, fmt.Errorf("open lockfile %s: %w", path, err)
	}
	// Other users' runs must be able to open it too, whatever our umask.
	// Best effort: only the file's owner may chmod it, and a file another
	// user created is already shared.
	_ = f.Chmod(0o666)
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &kerneltest.ContentionError{
				Reason: fmt.Sprintf("exclusive resource busy: lockfile %s is held by another test run", path),
				Errno:  "EWOULDBLOCK",
				Err:    err,
			}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() error {
		// Unlock before close, so the lock is gone even if another
		// descriptor to the same open file description outlives f.
		unlockErr := flock(f, unix.LOCK_UN)
		closeErr := f.Close()
		if unlockErr != nil {
			return fmt.Errorf("unlock %s: %w", path, unlockErr)
		}
		return closeErr
	}, nil
}

// flock applies how to f's descriptor, retrying when a signal interrupts it.
func flock(f *os.File, how int) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var flockErr error
	if err := conn.Control(func(fd uintptr) {
		for {
			flockErr = unix.Flock(int(fd), how)
			if !errors.Is(flockErr, unix.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	return flockErr
}
