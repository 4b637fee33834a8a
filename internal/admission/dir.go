package admission

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/filekind"
	"github.com/ktest-dev/ktest/internal/shellword"
)

// EnvDir overrides the admission directory. Every ktest that should share
// admission must use the same one; tests point it at a temp dir.
const EnvDir = "KTEST_ADMISSION_DIR"

// dirName is the directory's name under /run/lock or /tmp.
const dirName = "ktest-admission"

// DefaultDir returns the admission directory: $KTEST_ADMISSION_DIR when
// set to an absolute path, else /run/lock/ktest-admission when /run/lock
// is a sticky, world-writable directory owned by root (Debian, Ubuntu,
// Fedora: a tmpfs that no PrivateTmp= hides, so services share it), else
// /tmp/ktest-admission. lookupenv is usually os.LookupEnv.
func DefaultDir(lookupenv func(string) (string, bool)) string {
	if d, ok := lookupenv(EnvDir); ok && filepath.IsAbs(d) {
		return filepath.Clean(d)
	}
	if sharedTmpDir("/run/lock") {
		return filepath.Join("/run/lock", dirName)
	}
	return filepath.Join("/tmp", dirName)
}

// sharedTmpDir reports whether dir is a root-owned directory with mode 1777.
func sharedTmpDir(dir string) bool {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Uid == 0 && st.Mode&0o1777 == 0o1777
}

// UnsafeFileError reports a path in the admission directory (or the
// directory itself) that admission refuses to use.
type UnsafeFileError struct {
	Path   string
	Reason string // e.g. "is a symbolic link to \"/etc/passwd\""
}

// Error says what was found and how to fix it.
func (e *UnsafeFileError) Error() string {
	return fmt.Sprintf("refuse admission file %s: it %s; host admission only uses files it created there, never following anything else; remove it (rm -r %s) or set %s to another directory, and retry",
		e.Path, e.Reason, shellword.Quote(e.Path), EnvDir)
}

// dirMode is the mode of a directory admission creates: every user's ktest
// adds its slots there, and the sticky bit keeps them from removing each
// other's.
const dirMode = 0o1777

// openDir creates (if needed) and opens the admission directory, returning
// its descriptor. See the package documentation for what is refused.
func openDir(dir string) (int, error) {
	created := false
	if err := unix.Mkdir(dir, dirMode); err == nil {
		created = true
	} else if errors.Is(err, unix.ENOENT) {
		// The parent is missing (a custom $KTEST_ADMISSION_DIR): create it
		// as a private directory, then ours.
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return -1, fmt.Errorf("create admission directory %s: %w", dir, err)
		}
		if err := unix.Mkdir(dir, dirMode); err == nil {
			created = true
		} else if !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("create admission directory: %w", &fs.PathError{Op: "mkdir", Path: dir, Err: err})
		}
	} else if !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("create admission directory: %w", &fs.PathError{Op: "mkdir", Path: dir, Err: err})
	}
	var fd int
	err := retryEINTR(func() (err error) {
		fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		return err
	})
	switch {
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
		return -1, &UnsafeFileError{Path: dir, Reason: describe(dir, "a directory")}
	case err != nil:
		return -1, fmt.Errorf("open admission directory: %w", &fs.PathError{Op: "open", Path: dir, Err: err})
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("stat admission directory %s: %w", dir, err)
	}
	if created && int(st.Uid) == os.Geteuid() && st.Mode&0o7777 != dirMode {
		// The umask narrowed the directory this process has just made.
		if err := unix.Fchmod(fd, dirMode); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("chmod admission directory %s: %w", dir, err)
		}
		st.Mode = st.Mode&^0o7777 | dirMode
	}
	if st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0 {
		unix.Close(fd)
		return -1, &UnsafeFileError{Path: dir, Reason: fmt.Sprintf("is writable by others (mode %04o) without the sticky bit, so anyone could replace the slots in it", st.Mode&0o7777)}
	}
	return fd, nil
}

// describe says what path is when it should have been want.
func describe(path, want string) string {
	fi, err := os.Lstat(path)
	if err != nil {
		return "is not " + want
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, _ := os.Readlink(path)
		return fmt.Sprintf("is a symbolic link to %q, not %s", target, want)
	}
	return fmt.Sprintf("is a %s, not %s", filekind.Of(fi.Mode().Type()), want)
}

// retryEINTR calls fn until it fails with something other than EINTR.
func retryEINTR(fn func() error) error {
	for {
		if err := fn(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
