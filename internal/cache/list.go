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
	// ktstrMetadata is set when metadata.json does not parse but still
	// names ktstr's keys: a trace of a cache entry (see Traces).
	ktstrMetadata bool
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
		return nil, listRootError(c.Root, err)
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
		return nil, listRootError(c.Root, err)
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

// Lookup returns the entry for key, which may be any name List returns
// (not only a ValidateKey key). Errors: an invalid name; ErrNotFound
// (wrapped) when there is no such entry; ErrCorrupt (wrapped) when the entry
// exists but is unusable, in which case the returned Entry carries the
// Problem too.
func (c *Cache) Lookup(key string) (Entry, error) {
	if err := validateEntryName(key); err != nil {
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
		e.ktstrMetadata = metadataLooksKtstr(data)
		var me *MetadataError
		if errors.As(err, &me) {
			e.Problem = &Problem{Kind: me.Kind, Reason: me.Error()}
		} else {
			e.Problem = &Problem{Kind: ProblemMalformed, Reason: err.Error()}
		}
		return e, true
	}
	e.Metadata = &m
	if reason, kind := checkEntryImage(rootFD, rel(m.ImageName), filepath.Join(dir, m.ImageName)); reason != "" {
		e.Problem = &Problem{Kind: kind, Reason: fmt.Sprintf("image file %s %s", m.ImageName, reason)}
	}
	return e, true
}

// checkEntryImage examines the image at path (relative to dirFD): its type
// (before opening it: a FIFO or device is reported, not opened), then its
// header (CheckImageHeader, on the first imageHeadLen bytes). It returns ""
// for a usable image, else the reason and the problem kind.
func checkEntryImage(dirFD int, path, display string) (string, ProblemKind) {
	var st unix.Stat_t
	err := retryEINTR(func() error { return unix.Fstatat(dirFD, path, &st, 0) })
	switch {
	case errors.Is(err, unix.ENOENT):
		return "missing from entry directory", ProblemImageMissing
	case err != nil:
		return fmt.Sprintf("cannot be examined: %v", &fs.PathError{Op: "stat", Path: display, Err: err}), ProblemImageMissing
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Sprintf("is a %s, not a regular file", filekind.Of(filekind.FromStat(st.Mode))), ProblemImageMissing
	}
	head, size, err := readHead(dirFD, path, display, imageHeadLen)
	if err != nil {
		return fmt.Sprintf("cannot be read: %v", err), ProblemImageCorrupt
	}
	if err := CheckImageHeader(head, size); err != nil {
		return err.Error(), ProblemImageCorrupt
	}
	return "", ""
}

// readHead reads up to n bytes from the start of the regular file at path
// (relative to dirFD) and returns them with the file's size. The open is
// O_NONBLOCK and the descriptor is typed with fstat, so nothing swapped in
// after a check can block it.
func readHead(dirFD int, path, display string, n int) ([]byte, int64, error) {
	fd, err := openatRetry(dirFD, path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, &fs.PathError{Op: "open", Path: display, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, 0, &fs.PathError{Op: "stat", Path: display, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, 0, &fs.PathError{Op: "open", Path: display, Err: fmt.Errorf("is a %s, not a regular file", filekind.Of(filekind.FromStat(st.Mode)))}
	}
	buf := make([]byte, min(int64(n), st.Size))
	got := 0
	for got < len(buf) {
		m, err := unix.Pread(fd, buf[got:], int64(got))
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return nil, 0, &fs.PathError{Op: "read", Path: display, Err: err}
		case m == 0:
			return buf[:got], st.Size, nil
		}
		got += m
	}
	return buf, st.Size, nil
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
// of at most maxMetadataSize bytes, with plain fstatat/openat/read/close
// system calls: os.ReadFile also runs fcntl and two fstats per file, which
// was most of List's cost. A file that is not regular (a FIFO named
// metadata.json would block a plain open forever) is an error: its type is
// checked before the open, the open is O_NONBLOCK, and the descriptor is
// checked again. Errors are *fs.PathError naming display, so
// errors.Is(err, fs.ErrNotExist) works.
func readSmallFile(dirFD int, path, display string) ([]byte, error) {
	var st unix.Stat_t
	if err := retryEINTR(func() error { return unix.Fstatat(dirFD, path, &st, 0) }); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: display, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &fs.PathError{Op: "open", Path: display, Err: fmt.Errorf("is a %s, not a regular file", filekind.Of(filekind.FromStat(st.Mode)))}
	}
	fd, err := openatRetry(dirFD, path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: display, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: display, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &fs.PathError{Op: "open", Path: display, Err: fmt.Errorf("is a %s, not a regular file", filekind.Of(filekind.FromStat(st.Mode)))}
	}
	if st.Size >= maxMetadataSize {
		return nil, &fs.PathError{Op: "read", Path: display, Err: fmt.Errorf("larger than %d bytes", maxMetadataSize)}
	}
	// Room for the whole file and one byte more: a read that does not fill
	// the buffer has reached the end, which saves the read that returns 0.
	buf := make([]byte, 0, st.Size+1)
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
		if int64(len(buf)) >= st.Size && len(buf) < cap(buf) {
			return buf, nil // all fstat promised, and a short read: the end
		}
	}
}
