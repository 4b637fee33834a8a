package cache

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/filekind"
)

// Entry is one cache entry as found on disk. Metadata is nil when
// metadata.json is missing or does not parse; Problem is nil for a usable
// entry.
type Entry struct {
	Key      string    `json:"key"`
	Dir      string    `json:"dir"`
	Metadata *Metadata `json:"metadata,omitempty"`
	Problem  *Problem  `json:"problem,omitempty"`
}

// Valid reports whether the entry is usable (no Problem).
func (e Entry) Valid() bool { return e.Problem == nil }

// ImagePath returns Dir/image_name. Without metadata it falls back to the
// host architecture's default name (bzImage on x86_64, Image on aarch64).
func (e Entry) ImagePath() string {
	if e.Metadata != nil && e.Metadata.ImageName != "" {
		return filepath.Join(e.Dir, e.Metadata.ImageName)
	}
	return filepath.Join(e.Dir, DefaultImageName(HostArch()))
}

// VmlinuxPath returns Dir/vmlinux when the metadata says one was stored, else "".
func (e Entry) VmlinuxPath() string {
	if e.Metadata == nil || !e.Metadata.HasVmlinux {
		return ""
	}
	return filepath.Join(e.Dir, VmlinuxFile)
}

// List returns every entry under the root: valid entries first, newest
// built_at first (ties by key), then corrupt entries (Problem set) by key.
// Dot-names (bookkeeping) and non-directories are skipped. A missing root
// lists as empty. List takes no locks: an entry replaced concurrently is
// seen whole, old or new, because Store publishes with one rename.
//
// Cost per entry: the directory's type comes from readdir (a stat only for
// a symlink), then open+read+close of metadata.json and one stat of the
// image; entries are read by up to GOMAXPROCS goroutines.
func (c *Cache) List() ([]Entry, error) {
	des, err := os.ReadDir(c.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list cache root %s: %w", c.Root, err)
	}
	type candidate struct {
		name    string
		symlink bool // must be stat'ed to know whether it leads to a directory
	}
	cands := make([]candidate, 0, len(des))
	for _, de := range des {
		name := de.Name()
		t := de.Type()
		switch {
		case strings.HasPrefix(name, "."):
		case t.IsDir():
			cands = append(cands, candidate{name: name})
		case t&fs.ModeSymlink != 0:
			cands = append(cands, candidate{name: name, symlink: true})
		}
	}
	// Entry files are opened relative to the root's descriptor: the kernel
	// then resolves two path components per file instead of the whole path.
	rootFD, err := openDir(c.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // removed since the readdir
	}
	if err != nil {
		return nil, fmt.Errorf("list cache root %s: %w", c.Root, err)
	}
	defer unix.Close(rootFD)
	read := make([]Entry, len(cands))
	found := make([]bool, len(cands))
	forEachIndex(len(cands), func(i int) {
		read[i], found[i] = c.readEntry(rootFD, cands[i].name, cands[i].symlink)
	})
	entries := make([]Entry, 0, len(cands))
	for i, e := range read {
		if found[i] {
			entries = append(entries, e)
		}
	}
	sortEntries(entries)
	return entries, nil
}

// listBatch is the fewest entries worth a goroutine of their own: List
// reads sequentially below 2*listBatch entries, where a goroutine costs
// more than it saves.
const listBatch = 32

// forEachIndex calls fn(0..n-1), spread over up to GOMAXPROCS goroutines
// when n is large enough to pay for them. fn must be safe to call
// concurrently for different indexes.
func forEachIndex(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/listBatch)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// sortEntries orders valid entries newest first (built_at compared as a
// string: the fixed-width UTC format sorts chronologically, and ktstr sorts
// the same way), then corrupt entries, each tie broken by key.
func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		av, bv := a.Problem == nil, b.Problem == nil
		if av != bv {
			if av {
				return -1
			}
			return 1
		}
		if av {
			if c := cmp.Compare(b.Metadata.BuiltAt, a.Metadata.BuiltAt); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.Key, b.Key)
	})
}

// Lookup returns the entry for key. Errors: an invalid key; ErrNotFound
// (wrapped) when there is no such entry; ErrCorrupt (wrapped) when the entry
// exists but is unusable, in which case the returned Entry carries the
// Problem too.
func (c *Cache) Lookup(key string) (Entry, error) {
	if err := ValidateKey(key); err != nil {
		return Entry{}, err
	}
	e, ok := c.readEntry(unix.AT_FDCWD, key, true)
	if !ok {
		return Entry{}, fmt.Errorf("look up %s in %s: %w", lockWhat(key), c.Root, ErrNotFound)
	}
	if e.Problem != nil {
		return e, fmt.Errorf("look up %s in %s: %w: %s: %s", lockWhat(key), c.Root, ErrCorrupt, e.Problem.Kind, e.Problem.Reason)
	}
	return e, nil
}

// readEntry reads the entry directory name; ok is false when there is no
// directory by that name (or it vanished while being read). rootFD is an
// open descriptor of the root (files are opened relative to it) or
// unix.AT_FDCWD. statDir says whether name still has to be stat'ed to know
// it is a directory (Lookup, or a symlink found by List); List knows it
// from readdir otherwise.
func (c *Cache) readEntry(rootFD int, name string, statDir bool) (Entry, bool) {
	dir := filepath.Join(c.Root, name)
	// rel names a file of the entry for the *at system calls: relative to
	// rootFD, or the absolute path with AT_FDCWD.
	rel := func(file string) string {
		if rootFD == unix.AT_FDCWD {
			return filepath.Join(dir, file)
		}
		return name + "/" + file
	}
	if statDir {
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() {
			return Entry{}, false
		}
	}
	e := Entry{Key: name, Dir: dir}
	data, err := readSmallFile(rootFD, rel(MetadataFile), filepath.Join(dir, MetadataFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := os.Stat(dir); serr != nil {
			return Entry{}, false // removed (renamed aside) while we looked
		}
		e.Problem = &Problem{Kind: ProblemMissing, Reason: "metadata.json missing"}
		return e, true
	case err != nil:
		e.Problem = &Problem{Kind: ProblemUnreadable, Reason: fmt.Sprintf("metadata.json unreadable: %v", err)}
		return e, true
	}
	m, err := ParseMetadata(data)
	if err != nil {
		var me *MetadataError
		if errors.As(err, &me) {
			e.Problem = &Problem{Kind: me.Kind, Reason: me.Error()}
		} else {
			e.Problem = &Problem{Kind: ProblemMalformed, Reason: err.Error()}
		}
		return e, true
	}
	e.Metadata = &m
	var ist unix.Stat_t
	err = unix.Fstatat(rootFD, rel(m.ImageName), &ist, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		e.Problem = &Problem{Kind: ProblemImageMissing, Reason: fmt.Sprintf("image file %s missing from entry directory", m.ImageName)}
	case err != nil:
		err = &fs.PathError{Op: "stat", Path: filepath.Join(dir, m.ImageName), Err: err}
		e.Problem = &Problem{Kind: ProblemImageMissing, Reason: fmt.Sprintf("image file %s cannot be examined: %v", m.ImageName, err)}
	case ist.Mode&unix.S_IFMT != unix.S_IFREG:
		e.Problem = &Problem{Kind: ProblemImageMissing, Reason: fmt.Sprintf("image file %s is a %s, not a regular file", m.ImageName, filekind.Of(statModeType(ist.Mode)))}
	}
	return e, true
}

// statModeType converts the file type bits of st_mode to an fs.FileMode.
func statModeType(mode uint32) fs.FileMode {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	}
	return 0
}

// openDir opens a directory for use as the base of *at system calls.
func openDir(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if !errors.Is(err, unix.EINTR) {
			if err != nil {
				return -1, &fs.PathError{Op: "open", Path: path, Err: err}
			}
			return fd, nil
		}
	}
}

// maxMetadataSize bounds what readSmallFile reads: real metadata.json files
// are a few hundred bytes, and a huge one must not exhaust memory.
const maxMetadataSize = 1 << 20

// readSmallFile reads the file at path, relative to dirFD (or AT_FDCWD),
// of at most maxMetadataSize bytes, with plain openat/read/close system
// calls: os.ReadFile also runs fcntl and two fstats per file, which was most
// of List's cost. Errors are *fs.PathError naming display, so
// errors.Is(err, fs.ErrNotExist) works.
func readSmallFile(dirFD int, path, display string) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Openat(dirFD, path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: display, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 1024)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxMetadataSize {
				return nil, &fs.PathError{Op: "read", Path: display, Err: fmt.Errorf("larger than %d bytes", maxMetadataSize)}
			}
			buf = slices.Grow(buf, len(buf))
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: display, Err: err}
		case n == 0:
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}
