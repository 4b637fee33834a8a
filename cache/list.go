package cache

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
func (c *Cache) List() ([]Entry, error) {
	des, err := os.ReadDir(c.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list cache root %s: %w", c.Root, err)
	}
	entries := make([]Entry, 0, len(des))
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		e, ok := c.readEntry(name)
		if ok {
			entries = append(entries, e)
		}
	}
	sortEntries(entries)
	return entries, nil
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
	e, ok := c.readEntry(key)
	if !ok {
		return Entry{}, fmt.Errorf("look up %s in %s: %w", lockWhat(key), c.Root, ErrNotFound)
	}
	if e.Problem != nil {
		return e, fmt.Errorf("look up %s in %s: %w: %s: %s", lockWhat(key), c.Root, ErrCorrupt, e.Problem.Kind, e.Problem.Reason)
	}
	return e, nil
}

// readEntry reads the entry directory name; ok is false when there is no
// directory by that name (or it vanished while being read).
func (c *Cache) readEntry(name string) (Entry, bool) {
	dir := filepath.Join(c.Root, name)
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return Entry{}, false
	}
	e := Entry{Key: name, Dir: dir}
	data, err := os.ReadFile(filepath.Join(dir, MetadataFile))
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
	img := filepath.Join(dir, m.ImageName)
	ist, err := os.Stat(img)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		e.Problem = &Problem{Kind: ProblemImageMissing, Reason: fmt.Sprintf("image file %s missing from entry directory", m.ImageName)}
	case err != nil:
		e.Problem = &Problem{Kind: ProblemImageMissing, Reason: fmt.Sprintf("image file %s cannot be examined: %v", m.ImageName, err)}
	case !ist.Mode().IsRegular():
		e.Problem = &Problem{Kind: ProblemImageMissing, Reason: fmt.Sprintf("image file %s is a %s, not a regular file", m.ImageName, fileKind(ist.Mode()))}
	}
	return e, true
}
