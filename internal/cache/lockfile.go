package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/filekind"
	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/shellword"
)

// Opening a lockfile safely.
//
// {root}/.locks is often shared: every user of a CI host's cache must be
// able to create lockfiles there. Whoever can write it can plant anything
// under a lockfile's name, so nothing found there is trusted:
//
//   - .locks itself is opened with O_NOFOLLOW|O_DIRECTORY and every lockfile
//     is opened relative to that descriptor, so a symlinked .locks cannot
//     move the lockfiles elsewhere;
//   - a lockfile is first created with O_CREAT|O_EXCL|O_NOFOLLOW (which
//     never follows a symlink, dangling or not), and opened with O_NOFOLLOW
//     when it exists; its type is checked with fstatat before the open and
//     with fstat after it, and the open is O_NONBLOCK, so a FIFO or device
//     planted under the name can neither hang ktest nor be used;
//   - the mode is widened to 0666 (fchmod on the descriptor) only on a file
//     this process has just created, or on one it owns that has a single
//     link (a hard link to one of our files elsewhere has two), never on
//     anything else;
//   - the filesystem check (NFS, FUSE, ...) runs on the opened descriptors
//     (fstatfs), not on a path that could be swapped after the check.
//
// Every refusal is an *UnsafeLockfileError naming the path and the fix.

// UnsafeLockfileError reports a lockfile (or lockfile directory) that ktest
// refuses to use because it is not what ktest or ktstr creates there.
type UnsafeLockfileError struct {
	Path   string // the offending path
	Reason string // e.g. "is a symbolic link to /home/alice/.bashrc"
}

// Error says what was found, why it is refused and how to fix it.
func (e *UnsafeLockfileError) Error() string {
	return fmt.Sprintf("refuse lockfile %s: it %s; lockfiles must be regular files ktest or ktstr created there, and following anything else would let whoever can write the cache redirect ktest to another file; remove it (rm -r %s) and retry",
		e.Path, e.Reason, shellword.Quote(e.Path))
}

// readOnlyCacheHint is the hint for a lockfile that cannot be created.
func readOnlyCacheHint(dir string) string {
	return fmt.Sprintf("the kernel cache is shared and %s is not writable for you: set KTSTR_CACHE_DIR to a writable copy (e.g. cp -a %s/.. ~/ktstr-cache), or ask the cache's owner to make %s writable for its users (chmod 1777 %s)",
		dir, shellword.Quote(dir), shellword.Quote(dir), shellword.Quote(dir))
}

// lockDirMode is the mode a new .locks directory is created with (before
// the umask), as before: the cache's owner decides whether others may add
// lockfiles.
const lockDirMode = 0o755

// openLockDir creates (if needed) and opens the directory holding a
// lockfile, refusing one that is a symlink or not a directory, or lies on a
// filesystem where flock cannot be trusted. The caller closes the fd.
func openLockDir(dir string) (int, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return -1, fmt.Errorf("create lockfile directory %s: %w", dir, err)
	}
	if err := unix.Mkdir(dir, lockDirMode); err != nil && !errors.Is(err, unix.EEXIST) {
		err = &fs.PathError{Op: "mkdir", Path: dir, Err: err}
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS) {
			return -1, hint.Wrap(fmt.Errorf("create lockfile directory: %w", err), readOnlyCacheHint(filepath.Dir(dir)))
		}
		return -1, fmt.Errorf("create lockfile directory: %w", err)
	}
	fd, err := openNoFollowDir(dir)
	if err != nil {
		return -1, err
	}
	if err := checkLockableFd(fd, dir, "lockfile directory"); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// openNoFollowDir opens dir itself (its last component not followed) as a
// directory, explaining a symlink or a non-directory.
func openNoFollowDir(dir string) (int, error) {
	for {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
			return -1, &UnsafeLockfileError{Path: dir, Reason: describeNonDir(dir)}
		}
		return -1, fmt.Errorf("open lockfile directory: %w", &fs.PathError{Op: "open", Path: dir, Err: err})
	}
}

// describeNonDir says what dir is when it should have been a directory.
func describeNonDir(dir string) string {
	st, err := os.Lstat(dir)
	if err != nil {
		return "is not a directory"
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		target, _ := os.Readlink(dir)
		return fmt.Sprintf("is a symbolic link to %q, not a directory", target)
	}
	return fmt.Sprintf("is a %s, not a directory", filekind.Of(st.Mode()))
}

// checkLockableFd is checkLockableFS on an open descriptor.
func checkLockableFd(fd int, path, use string) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", path, err)
	}
	if err := classifyFSMagic(int64(st.Type)); err != nil {
		return hint.Wrap(fmt.Errorf("refuse %s %s: %w", use, path, err), lockableFSHint)
	}
	return nil
}

// lockableFSHint is the fix for a cache on NFS, FUSE and the like.
const lockableFSHint = "move the kernel cache to a local filesystem (ext4, xfs, btrfs, tmpfs): set KTSTR_CACHE_DIR, e.g. KTSTR_CACHE_DIR=/var/tmp/ktstr-cache"

// lockFileMode is the mode lockfiles are given so that every user of a
// shared cache can open them for writing (docs/spec.md §7).
const lockFileMode = 0o666

// openLockFile opens (creating) the lockfile at path as described at the top
// of this file and returns it with its identity.
func openLockFile(path string) (*os.File, fileID, error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	dirFD, err := openLockDir(dir)
	if err != nil {
		return nil, fileID{}, err
	}
	defer unix.Close(dirFD)
	// A few rounds: the name may be created or removed by others between
	// our look and our open.
	for range 5 {
		fd, created, err := openLockAt(dirFD, dir, base, path)
		if err != nil {
			return nil, fileID{}, err
		}
		if fd < 0 {
			continue // raced with a create or a removal: look again
		}
		f, id, err := adoptLockFd(fd, path, created)
		if err != nil {
			return nil, fileID{}, err
		}
		return f, id, nil
	}
	return nil, fileID{}, fmt.Errorf("open lockfile %s: it keeps being created and removed by another process; retry", path)
}

// openLockAt makes one attempt to open base in dirFD. It returns fd -1 with
// no error when the name changed under it (created or removed meanwhile).
func openLockAt(dirFD int, dir, base, path string) (fd int, created bool, err error) {
	var st unix.Stat_t
	err = retryEINTR(func() error { return unix.Fstatat(dirFD, base, &st, unix.AT_SYMLINK_NOFOLLOW) })
	switch {
	case errors.Is(err, unix.ENOENT):
		fd, err = openatRetry(dirFD, base, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, lockFileMode)
		switch {
		case err == nil:
			return fd, true, nil
		case errors.Is(err, unix.EEXIST):
			return -1, false, nil
		case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM), errors.Is(err, unix.EROFS):
			return -1, false, hint.Wrap(fmt.Errorf("open lockfile %s: %w", path, err), readOnlyCacheHint(dir))
		}
		return -1, false, fmt.Errorf("open lockfile %s: %w", path, err)
	case err != nil:
		return -1, false, fmt.Errorf("stat lockfile %s: %w", path, err)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return -1, false, &UnsafeLockfileError{Path: path, Reason: describeStatType(path, st.Mode)}
	}
	// It exists and is a regular file: open it without following a
	// symlink that may have replaced it since.
	flags := unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOCTTY
	fd, err = openatRetry(dirFD, base, unix.O_RDWR|flags, 0)
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EROFS) {
		// flock works on a read-only descriptor, so a user who may not
		// write another user's lockfile (or a read-only cache) can still
		// share it.
		fd, err = openatRetry(dirFD, base, unix.O_RDONLY|flags, 0)
	}
	switch {
	case err == nil:
		return fd, false, nil
	case errors.Is(err, unix.ENOENT):
		return -1, false, nil
	case errors.Is(err, unix.ELOOP):
		return -1, false, &UnsafeLockfileError{Path: path, Reason: describeStatType(path, unix.S_IFLNK)}
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return -1, false, hint.Wrap(fmt.Errorf("open lockfile %s: %w", path, err),
			fmt.Sprintf("the lockfile belongs to another user and you may not read it: ask its owner to chmod 0666 it, or set KTSTR_CACHE_DIR to a cache of your own"))
	}
	return -1, false, fmt.Errorf("open lockfile %s: %w", path, err)
}

// adoptLockFd checks what fd really is, widens its mode when that is safe,
// and wraps it in an *os.File.
func adoptLockFd(fd int, path string, created bool) (*os.File, fileID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fileID{}, fmt.Errorf("stat lockfile %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fileID{}, &UnsafeLockfileError{Path: path, Reason: describeStatType(path, st.Mode)}
	}
	if err := checkLockableFd(fd, path, "lockfile"); err != nil {
		unix.Close(fd)
		return nil, fileID{}, err
	}
	if st.Mode&0o7777 != lockFileMode && mayWidenMode(&st, created) {
		// The umask narrowed it. Best effort: a failure only means other
		// users cannot open it for writing, and they can still lock it.
		_ = unix.Fchmod(fd, lockFileMode)
	}
	// Blocking mode again: flock ignores it, but Go's poller must not
	// see a non-blocking regular file.
	_ = unix.SetNonblock(fd, false)
	return os.NewFile(uintptr(fd), path), fileID{dev: uint64(st.Dev), ino: st.Ino}, nil
}

// mayWidenMode reports whether ktest may fchmod the lockfile it opened:
// only one it has just created, or one it owns with a single link. A
// lockfile of another user is theirs to change, and a file of ours with
// more links is one that someone linked into .locks from elsewhere.
func mayWidenMode(st *unix.Stat_t, created bool) bool {
	if created {
		return true
	}
	return int(st.Uid) == os.Geteuid() && st.Nlink == 1
}

// describeStatType says what a non-regular lockfile is, for
// UnsafeLockfileError.Reason.
func describeStatType(path string, mode uint32) string {
	if mode&unix.S_IFMT == unix.S_IFLNK {
		if target, err := os.Readlink(path); err == nil {
			return fmt.Sprintf("is a symbolic link to %q, not a regular file", target)
		}
		return "is a symbolic link, not a regular file"
	}
	return fmt.Sprintf("is a %s, not a regular file", filekind.Of(filekind.FromStat(mode)))
}

// openatRetry is openat(2), retrying EINTR.
func openatRetry(dirFD int, name string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat(dirFD, name, flags, mode)
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
