package debian

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/atomicfile"
	"github.com/ktest-dev/ktest/internal/filekind"
)

// The private apt directory lives in the user's cache directory, which may
// be shared or planted (an XDG_CACHE_HOME under /tmp). Every directory of
// it below the cache directory must be a real directory (never a symlink)
// owned by this user and writable by nobody else; files are written by
// rename inside such directories, and read with O_NOFOLLOW. Nothing is ever
// chmod-ed: a directory that fails the check is refused with the reason.

// ensurePrivateDirs creates base/rel... (each component of each rel path
// under base) with mode 0700 where missing and checks every component.
// base itself (the user's cache directory) is used as it is.
func ensurePrivateDirs(base string, rels ...string) error {
	if err := os.MkdirAll(base, 0o755); err != nil {
		return fmt.Errorf("create cache directory %s: %w", base, err)
	}
	for _, rel := range rels {
		p := base
		for _, part := range strings.Split(filepath.Clean(rel), string(filepath.Separator)) {
			p = filepath.Join(p, part)
			if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("create %s: %w", p, err)
			}
			if err := checkPrivateDir(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPrivateDir refuses a path that is not a directory of this user's
// that only this user can write.
func checkPrivateDir(p string) error {
	st, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("check %s: %w", p, err)
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s is a symlink; ktest keeps its apt state only in directories it made: remove it (or set XDG_CACHE_HOME elsewhere)", p)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is a %s, not a directory: remove it (or set XDG_CACHE_HOME elsewhere)", p, filekind.Of(st.Mode()))
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if ok && int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("%s belongs to uid %d, not to you (uid %d): ktest will not use another user's apt state; remove it or set XDG_CACHE_HOME elsewhere", p, sys.Uid, os.Geteuid())
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by others (mode %04o): run chmod go-w %s, or remove it", p, st.Mode().Perm(), p)
	}
	return nil
}

// maxStateFile bounds what readPrivateFile reads (the index is a few
// hundred KiB).
const maxStateFile = 64 << 20

// readPrivateFile reads a regular file without following a symlink and
// without blocking on a FIFO. A missing file is fs.ErrNotExist.
func readPrivateFile(p string) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("%s is a symlink; remove it", p)
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is a %s, not a regular file; remove it", p, filekind.Of(st.Mode()))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxStateFile {
		return nil, fmt.Errorf("%s is larger than %d MiB; remove it", p, maxStateFile>>20)
	}
	return data, nil
}

// writeIfChanged replaces p with data (atomically) unless it already holds
// exactly that, which saves an fsync per run.
func writeIfChanged(p string, data []byte) error {
	if old, err := readPrivateFile(p); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return atomicfile.WriteFile(p, data, 0o644)
}
