package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ktest-dev/ktest/internal/filekind"
	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/shellword"
)

// Names of bookkeeping files and directories under the root.
const (
	locksDirName   = ".locks"
	lockSuffix     = ".lock"
	stagingPrefix  = ".tmp-"
	removingPrefix = ".rm-"
	probePrefix    = ".probe-"
)

// Default lock deadlines.
const (
	// DefaultStoreLockTimeout bounds Store's wait for LOCK_EX on the entry.
	DefaultStoreLockTimeout = 60 * time.Second
	// DefaultReadLockTimeout is docs/spec.md §7's default for a reader's LOCK_SH
	// (the run pipeline's --lock-timeout).
	DefaultReadLockTimeout = 10 * time.Second
)

// Cache is a kernel cache rooted at Root. The zero value of every other field
// is a sensible default. A Cache holds no open resources and is safe for
// concurrent use; cross-process safety comes from the lockfiles.
type Cache struct {
	// Root is the cache root directory (absolute after Open/OpenReadOnly).
	Root string
	// StoreLockTimeout bounds Store's wait for LOCK_EX; zero means
	// DefaultStoreLockTimeout.
	StoreLockTimeout time.Duration
}

// Open opens the cache at root for reading and writing: it makes root
// absolute, creates it (mode 0755, with parents) if missing, and refuses a
// root that is /, $HOME or a version-control checkout (CheckRoot), is not a
// directory, is not writable, or lies on a filesystem where flock cannot be
// trusted (NFS, CIFS/SMB, CephFS, AFS, FUSE).
func Open(root string) (*Cache, error) {
	abs, err := absRoot(root)
	if err != nil {
		return nil, err
	}
	if err := CheckRoot(abs); err != nil {
		return nil, err
	}
	// Check before creating: MkdirAll on a regular file only says "not a
	// directory", which does not tell the user which path is the file.
	if st, err := os.Stat(abs); err != nil || st.IsDir() {
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, fmt.Errorf("create cache root %s: %w; set KTSTR_CACHE_DIR to a directory you can create", abs, err)
		}
	}
	if err := checkRootDir(abs); err != nil {
		return nil, err
	}
	if err := checkLockableFS(abs, "cache root"); err != nil {
		return nil, err
	}
	if err := probeWritable(abs); err != nil {
		return nil, err
	}
	return &Cache{Root: abs}, nil
}

// OpenReadOnly opens the cache at root without creating or writing anything,
// for listing and lookups. A missing root is not an error: it lists as empty
// and every Lookup reports ErrNotFound. A root that exists but is not a
// directory, or lies on a filesystem where flock cannot be trusted, is
// refused. Taking a reader's lock through LockEntry still creates the
// lockfile, as it must for the lock to exist.
func OpenReadOnly(root string) (*Cache, error) {
	abs, err := absRoot(root)
	if err != nil {
		return nil, err
	}
	if err := checkRootDir(abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := checkLockableFS(abs, "cache root"); err != nil {
		return nil, err
	}
	return &Cache{Root: abs}, nil
}

func absRoot(root string) (string, error) {
	if root == "" {
		return "", errors.New("open cache: the root path is empty; set KTSTR_CACHE_DIR or HOME")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("open cache %s: %w", root, err)
	}
	return abs, nil
}

func checkRootDir(abs string) error {
	st, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("open cache root %s: %w", abs, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("open cache root %s: it is a %s, not a directory; remove it or set KTSTR_CACHE_DIR to a directory", abs, filekind.Of(st.Mode()))
	}
	return nil
}

// probeWritable creates and removes a dot-file in root: access(2) would miss
// some cases (ACLs, read-only bind mounts seen through another namespace).
// The probe is named .probe-{pid}-{random} and created O_EXCL (never through
// a symlink); it is removed only while the name still holds the file this
// process created, so in a cache others can write, ktest never deletes a
// file it cannot prove is its own. A probe left by a crash is debris (see
// Debris).
func probeWritable(abs string) error {
	f, err := os.CreateTemp(abs, probePrefix+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return hint.Wrap(fmt.Errorf("cache root %s is not writable: %w", abs, err),
			"fix its permissions (e.g. chown it to your user), or set KTSTR_CACHE_DIR to a writable directory (a copy of a shared read-only cache: cp -a "+shellword.Quote(abs)+" ~/ktstr-cache)")
	}
	defer f.Close()
	name := f.Name()
	if err := removeIfSame(name, f); err != nil {
		return fmt.Errorf("cache root %s: remove write probe %s: %w", abs, name, err)
	}
	return nil
}

// removeIfSame unlinks path if it still names the file open as f (same
// device and inode, not followed); otherwise it leaves whatever is there.
func removeIfSame(path string, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	li, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if !os.SameFile(fi, li) {
		return fmt.Errorf("%s was replaced by another file; left it alone", path)
	}
	return os.Remove(path)
}

// EntryDir returns {root}/{key}. It does not validate key.
func (c *Cache) EntryDir(key string) string { return filepath.Join(c.Root, key) }

// LockPath returns the entry's lockfile path, {root}/.locks/{key}.lock. It
// does not validate key.
func (c *Cache) LockPath(key string) string {
	return filepath.Join(c.Root, locksDirName, key+lockSuffix)
}

// lockWhat is the context string of an entry's lock in error messages,
// matching ktstr's `cache entry "<key>"`.
func lockWhat(key string) string { return fmt.Sprintf("cache entry %q", key) }

// LockEntry checks key and takes its lock in mode, waiting up to timeout
// (see AcquireLock). A test run holds Shared for as long as it uses the image.
// key may be any entry name List returns (validateEntryName), so that an
// entry another tool named is still locked while in use.
func (c *Cache) LockEntry(ctx context.Context, key string, mode LockMode, timeout time.Duration) (*Lock, error) {
	if err := validateEntryName(key); err != nil {
		return nil, err
	}
	return AcquireLock(ctx, c.LockPath(key), mode, timeout, lockWhat(key))
}

func (c *Cache) storeLockTimeout() time.Duration {
	if c.StoreLockTimeout > 0 {
		return c.StoreLockTimeout
	}
	return DefaultStoreLockTimeout
}
