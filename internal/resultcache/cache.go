package resultcache

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/atomicfile"
	"github.com/ktest-dev/ktest/internal/cache"
)

// DefaultMaxBytes bounds the cache's total size.
const DefaultMaxBytes = 256 << 20

// DefaultDir is UserCacheHome/ktest/results (cache.UserCacheHome: the XDG
// rules). lookupenv is usually os.LookupEnv.
func DefaultDir(lookupenv func(string) (string, bool)) (string, error) {
	base, err := cache.UserCacheHome(lookupenv)
	if err != nil {
		return "", fmt.Errorf("locate result cache: %w", err)
	}
	return filepath.Join(base, "ktest", "results"), nil
}

// Cache is a directory of entries, one file per key, bounded in size.
type Cache struct {
	dir      string
	maxBytes int64
}

// Open returns the cache in dir (created, mode 0700: results can show
// what a user's tests print), keeping it under maxBytes.
func Open(dir string, maxBytes int64) (*Cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open result cache: %w", err)
	}
	return &Cache{dir: dir, maxBytes: maxBytes}, nil
}

// Dir returns the cache's directory.
func (c *Cache) Dir() string { return c.dir }

const entrySuffix = ".res"

func (c *Cache) path(k Key) string { return filepath.Join(c.dir, k.String()+entrySuffix) }

// Get returns the entry stored under k. Anything wrong with it (missing,
// not a regular file, truncated, corrupt, another key's) is a miss. A hit
// refreshes the entry's modification time, so pruning removes the least
// recently used first.
func (c *Cache) Get(k Key) (*Entry, bool) {
	path := c.path(k)
	data, err := readNoFollow(path)
	if err != nil {
		return nil, false
	}
	e, err := decode(data, k)
	if err != nil {
		return nil, false
	}
	now := time.Now()
	_ = os.Chtimes(path, now, now)
	return e, true
}

// readNoFollow reads a regular file without following a symlink or
// blocking on a FIFO, up to the largest entry size.
func readNoFollow(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close() // read-only
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > MaxEntryBytes+1<<20 {
		return nil, errCorrupt
	}
	_ = unix.SetNonblock(fd, false)
	return io.ReadAll(io.LimitReader(f, MaxEntryBytes+1<<20+1))
}

// Put stores e under k atomically (a reader sees the old entry or the new
// one, never a torn one), then prunes the cache to its bound. An entry
// larger than the bound is not stored.
func (c *Cache) Put(k Key, e *Entry) error {
	if e.size() > min(c.maxBytes, MaxEntryBytes) {
		return nil
	}
	if err := atomicfile.WriteFile(c.path(k), encode(k, e), 0o600); err != nil {
		return fmt.Errorf("store cached result: %w", err)
	}
	return c.Prune()
}

// tempMaxAge is how old a leftover temp file of atomicfile (a crashed
// Put) must be before Prune removes it.
const tempMaxAge = time.Hour

// Prune removes the oldest entries (by modification time) until the
// cache is within its bound, and temp files left by crashed writers. It
// removes only regular files named like entries or like atomicfile's temp
// files of entries; entries removed meanwhile by another ktest are fine.
func (c *Cache) Prune() error {
	des, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("prune result cache: %w", err)
	}
	type file struct {
		path  string
		size  int64
		mtime time.Time
	}
	var entries []file
	var total int64
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		path := filepath.Join(c.dir, name)
		switch {
		case isEntryName(name):
			entries = append(entries, file{path, fi.Size(), fi.ModTime()})
			total += fi.Size()
		case isTempName(name) && time.Since(fi.ModTime()) > tempMaxAge:
			_ = os.Remove(path)
		}
	}
	if total <= c.maxBytes {
		return nil
	}
	slices.SortFunc(entries, func(a, b file) int { return a.mtime.Compare(b.mtime) })
	for _, f := range entries {
		if total <= c.maxBytes {
			break
		}
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("prune result cache: %w", err)
		}
		total -= f.size
	}
	return nil
}

// isEntryName reports whether name is "<64 hex digits>.res".
func isEntryName(name string) bool {
	hex, ok := strings.CutSuffix(name, entrySuffix)
	return ok && len(hex) == 64 && strings.Trim(hex, "0123456789abcdef") == ""
}

// isTempName reports whether name is atomicfile's temp file of an entry:
// ".<entry name>.tmp-<random>".
func isTempName(name string) bool {
	rest, ok := strings.CutPrefix(name, ".")
	if !ok {
		return false
	}
	entry, _, ok := strings.Cut(rest, ".tmp-")
	return ok && isEntryName(entry)
}
