package kerneltest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/filekind"
)

// FileLock is an exclusive flock(2) on a lockfile, taken by TryLockFile.
type FileLock struct {
	f    *os.File
	path string
}

// lockFileMode is the mode a new lockfile gets, so that other users' test
// runs can open it too.
const lockFileMode = 0o666

// TryLockFile takes an exclusive flock(2) on the file at path, creating it
// (mode 0666, so that every user's runs share it) if it does not exist. It
// does not wait: when another open file description holds the lock
// (another process, or another TryLockFile of the same file in this one) it
// returns a *ContentionError with errno EWOULDBLOCK, which
// SkipOnContention turns into a skip. Any other failure is an ordinary
// error, which SkipOnContention turns into a failure.
//
// It is the lock for something only one test may use at a time on a host
// (a device passed through to the VM, a fixed port, a large memory
// reservation): the lock lasts until Unlock or the process's end, and is
// never inherited by child processes. The directory may be one that others
// can write, such as os.TempDir(): a symbolic link, FIFO, device or other
// non-regular file found under the name is refused, never followed or
// opened for I/O, and the mode is changed only of a file this call
// created.
func TryLockFile(path string) (*FileLock, error) {
	// A few rounds: another process may remove or replace the file
	// between our open and our lock.
	for range 5 {
		f, err := openLockFile(path)
		if err != nil {
			return nil, err
		}
		err = retryEINTR(func() error { return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) })
		switch {
		case errors.Is(err, unix.EWOULDBLOCK):
			f.Close()
			return nil, &ContentionError{
				Reason: fmt.Sprintf("lockfile %s is held by another process or open file", path),
				Errno:  "EWOULDBLOCK",
				Err:    err,
			}
		case err != nil:
			f.Close()
			return nil, fmt.Errorf("flock %s: %w", path, err)
		}
		// The lock protects the file the name now holds only if it is
		// still the one we locked.
		if same, err := namesFile(path, f); err != nil || !same {
			f.Close()
			if err != nil {
				return nil, err
			}
			continue
		}
		return &FileLock{f: f, path: path}, nil
	}
	return nil, fmt.Errorf("lock %s: the file keeps being replaced or removed by another process; retry", path)
}

// Unlock releases the lock and closes the lockfile, which stays in place
// for the next user. Unlock of a nil or already unlocked FileLock does
// nothing.
func (l *FileLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	// Unlock before close, so the lock is gone even if a duplicate of the
	// descriptor (a child's, despite O_CLOEXEC) outlives this one.
	unlockErr := retryEINTR(func() error { return unix.Flock(int(f.Fd()), unix.LOCK_UN) })
	closeErr := f.Close()
	if unlockErr != nil {
		return fmt.Errorf("unlock %s: %w", l.path, unlockErr)
	}
	return closeErr
}

// Path is the lockfile's path.
func (l *FileLock) Path() string { return l.path }

// openLockFile opens the lockfile at path for flock, creating it if it is
// missing, and refuses anything but a regular file without opening it for
// I/O (a FIFO's open could block, a device's have effects).
func openLockFile(path string) (*os.File, error) {
	const flags = unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY
	for range 5 {
		fd, err := openRetry(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|flags, lockFileMode)
		created := err == nil
		if errors.Is(err, unix.EEXIST) {
			st, statErr := os.Lstat(path)
			if errors.Is(statErr, fs.ErrNotExist) {
				continue // removed meanwhile: create it
			}
			if statErr != nil {
				return nil, fmt.Errorf("open lockfile: %w", statErr)
			}
			if !st.Mode().IsRegular() {
				return nil, notRegular(path, st.Mode())
			}
			fd, err = openRetry(path, unix.O_RDWR|flags, 0)
			if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS) {
				// flock works on a read-only descriptor: another user's
				// lockfile that we may not write is still shared.
				fd, err = openRetry(path, unix.O_RDONLY|flags, 0)
			}
			if errors.Is(err, unix.ENOENT) {
				continue
			}
		}
		if errors.Is(err, unix.ELOOP) {
			return nil, notRegular(path, fs.ModeSymlink)
		}
		if err != nil {
			return nil, fmt.Errorf("open lockfile: %w", &fs.PathError{Op: "open", Path: path, Err: err})
		}
		// The type again, on the descriptor: the name may have been
		// swapped between the look and the open.
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("stat lockfile %s: %w", path, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			unix.Close(fd)
			return nil, notRegular(path, filekind.FromStat(st.Mode))
		}
		if created {
			// The umask narrowed it; best effort, others can still lock
			// a file they may only read.
			_ = unix.Fchmod(fd, lockFileMode)
		}
		// Blocking mode again: flock ignores it, but Go's poller must
		// not see a non-blocking regular file.
		_ = unix.SetNonblock(fd, false)
		return os.NewFile(uintptr(fd), path), nil
	}
	return nil, fmt.Errorf("open lockfile %s: it keeps being created and removed by another process; retry", path)
}

// notRegular is the error for a lockfile that is not a regular file.
func notRegular(path string, mode fs.FileMode) error {
	return fmt.Errorf("refuse lockfile %s: it is a %s, not a regular file, and following or opening it could redirect or block the test; remove it", path, filekind.Of(mode))
}

// namesFile reports whether path still names the file open as f.
func namesFile(path string, f *os.File) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat lockfile %s: %w", path, err)
	}
	li, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat lockfile: %w", err)
	}
	return os.SameFile(fi, li), nil
}

// openRetry is open(2), retrying EINTR.
func openRetry(path string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Open(path, flags, mode)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// retryEINTR calls fn until it fails with something other than EINTR.
func retryEINTR(fn func() error) error {
	for {
		if err := fn(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
