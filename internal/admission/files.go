package admission

import (
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/filekind"
)

// fileMode is the mode of the ledger and slot files admission creates, so
// that every user's ktest can open them for writing.
const fileMode = 0o666

// errMissing is openAt's report that name does not exist (and create was
// not asked for).
var errMissing = errors.New("missing")

// openAt opens name in the directory dirFD (whose path is dir, for
// messages) read-only or read-write, creating it when create is set and it
// does not exist. It never follows a symlink, never opens anything but a
// regular file (type checked before and after the open; O_NONBLOCK so a
// FIFO swapped in meanwhile cannot block), and fchmods only a file it has
// just created. A non-regular file is *UnsafeFileError.
func openAt(dirFD int, dir, name string, write, create bool) (int, error) {
	path := filepath.Join(dir, name)
	access := unix.O_RDONLY
	if write {
		access = unix.O_RDWR
	}
	flags := access | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOCTTY
	// A few rounds: the name may be created or removed by others between
	// the look and the open.
	for range 5 {
		var st unix.Stat_t
		err := retryEINTR(func() error { return unix.Fstatat(dirFD, name, &st, unix.AT_SYMLINK_NOFOLLOW) })
		created := false
		var fd int
		switch {
		case errors.Is(err, unix.ENOENT):
			if !create {
				return -1, errMissing
			}
			err = retryEINTR(func() (err error) {
				fd, err = unix.Openat(dirFD, name, flags|unix.O_CREAT|unix.O_EXCL, fileMode)
				return err
			})
			if errors.Is(err, unix.EEXIST) {
				continue
			}
			if err != nil {
				return -1, fmt.Errorf("create %s: %w", path, err)
			}
			created = true
		case err != nil:
			return -1, fmt.Errorf("stat %s: %w", path, err)
		case st.Mode&unix.S_IFMT != unix.S_IFREG:
			return -1, &UnsafeFileError{Path: path, Reason: describe(path, "a regular file")}
		default:
			err = retryEINTR(func() (err error) {
				fd, err = unix.Openat(dirFD, name, flags, 0)
				return err
			})
			switch {
			case errors.Is(err, unix.ENOENT):
				continue
			case errors.Is(err, unix.ELOOP):
				return -1, &UnsafeFileError{Path: path, Reason: describe(path, "a regular file")}
			case err != nil:
				return -1, fmt.Errorf("open %s: %w", path, err)
			}
		}
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("stat %s: %w", path, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			unix.Close(fd)
			return -1, &UnsafeFileError{Path: path, Reason: fmt.Sprintf("is a %s, not a regular file", filekind.Of(filekind.FromStat(st.Mode)))}
		}
		if created && st.Mode&0o777 != fileMode {
			// Best effort: the umask narrowed a file this process made; a
			// failure only means others cannot write their claims in it.
			_ = unix.Fchmod(fd, fileMode)
		}
		_ = unix.SetNonblock(fd, false)
		return fd, nil
	}
	return -1, fmt.Errorf("open %s: it keeps being created and removed by another process; retry", path)
}

// tryLock makes one non-blocking LOCK_EX attempt on fd; false means
// another open file description holds it.
func tryLock(fd int) (bool, error) {
	err := retryEINTR(func() error { return unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) })
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}
