package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/shellword"
)

// Cleaning deletes directories, so it must never run on something that is
// not a kernel cache (KTSTR_CACHE_DIR=/ once listed bin, boot, dev, etc as
// "corrupt entries"). Three guards:
//
//  1. the root: /, $HOME and a version-control checkout are refused by
//     CheckRoot (and so by Open, for every writing command);
//  2. the whole directory: Clean refuses a root that has no .locks and no
//     entry with ktest or ktstr traces (NotACacheError);
//  3. each entry: a directory without traces (no metadata.json in ktstr's
//     schema, no kernel image, no lockfile) is never removed by Clean; it is
//     reported in CleanReport.Untraced, and only an explicit per-entry
//     confirmation (RemoveEntries of that key, or `ktest kernel rm KEY`)
//     removes it.

// vcsMarkers are names whose presence makes a directory a version-control
// checkout (a file for git worktrees and submodules).
var vcsMarkers = []string{".git", ".hg", ".svn", ".bzr", "_darcs", ".fossil", "CVS", ".jj", ".pijul"}

// CheckRoot refuses a cache root that is certainly not a kernel cache: the
// filesystem root, the user's home directory ($HOME), or a version-control
// checkout. Writing commands (and so cleaning) would otherwise create
// entries in, or delete the directories of, whatever it names. Paths are
// compared with symlinks resolved.
func CheckRoot(root string) error {
	abs, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("check cache root %s: %w", root, err)
	}
	real := abs
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		real = r
	}
	refuse := func(what string) error {
		return hint.Wrap(fmt.Errorf("refuse cache root %s: it is %s, not a kernel cache; ktest would create entries in it and `kernel clean` would delete its directories", abs, what),
			"set KTSTR_CACHE_DIR to a directory of its own, e.g. KTSTR_CACHE_DIR=$HOME/.cache/ktstr/kernels, or unset it")
	}
	if real == "/" {
		return refuse("the root of the filesystem")
	}
	if home := os.Getenv(EnvHome); home != "" && filepath.IsAbs(home) {
		h := filepath.Clean(home)
		if r, err := filepath.EvalSymlinks(h); err == nil {
			h = r
		}
		if real == h {
			return refuse("your home directory ($HOME)")
		}
	}
	for _, m := range vcsMarkers {
		if _, err := os.Lstat(filepath.Join(real, m)); err == nil {
			return refuse(fmt.Sprintf("a version-control checkout (it has %s)", m))
		}
	}
	return nil
}

// NotACacheError is Clean's refusal of a root that does not look like a
// kernel cache.
type NotACacheError struct {
	Root    string
	Entries int // directories found, none with a trace
}

// Error names the root and why it does not look like a cache.
func (e *NotACacheError) Error() string {
	return fmt.Sprintf("refuse to clean %s: it does not look like a kernel cache (none of its %d directories has a ktstr metadata.json, a kernel image or a lockfile, and it has no %s directory); check KTSTR_CACHE_DIR, XDG_CACHE_HOME and HOME, or remove those directories by hand",
		e.Root, e.Entries, locksDirName)
}

// Traces lists what makes an entry directory recognisably a ktest or ktstr
// cache entry: "metadata.json" (parsed, or damaged but with ktstr's keys),
// "kernel image" (a file whose header is a kernel's), "lockfile" (its
// {root}/.locks/{key}.lock). An empty result means the directory could be
// anything and must not be deleted without an explicit confirmation.
func (c *Cache) Traces(e Entry) []string {
	var traces []string
	if e.Metadata != nil || e.ktstrMetadata {
		traces = append(traces, MetadataFile)
	}
	names := []string{"bzImage", "Image"}
	if e.Metadata != nil {
		names = []string{e.Metadata.ImageName}
	}
	for _, n := range names {
		if head, size, err := readHead(unix.AT_FDCWD, filepath.Join(e.Dir, n), filepath.Join(e.Dir, n), imageHeadLen); err == nil && CheckImageHeader(head, size) == nil {
			traces = append(traces, "kernel image")
			break
		}
	}
	var st unix.Stat_t
	if unix.Lstat(c.LockPath(e.Key), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		traces = append(traces, "lockfile")
	}
	return traces
}

// metadataLooksKtstr reports whether damaged metadata.json content still
// names at least two of the keys only ktstr's schema has, so that a
// truncated or hand-edited file counts as a trace and a stranger's
// metadata.json does not.
func metadataLooksKtstr(data []byte) bool {
	n := 0
	for _, k := range []string{`"image_name"`, `"built_at"`, `"ktstr_kconfig_hash"`, `"has_vmlinux"`, `"vmlinux_stripped"`, `"config_hash"`} {
		if bytes.Contains(data, []byte(k)) {
			n++
		}
	}
	return n >= 2
}

// CleanOptions selects what Clean removes.
type CleanOptions struct {
	// Keep is the number of newest valid entries to keep (0 removes all).
	// Ignored when CorruptOnly is set.
	Keep int
	// CorruptOnly removes only entries with a Problem.
	CorruptOnly bool
	// DryRun reports what would be removed without removing anything (in
	// this mode entries in use are still listed under Removed, and debris
	// is reported, not removed).
	DryRun bool
}

// CleanReport says what Clean did.
type CleanReport struct {
	Removed []string      `json:"removed"` // keys removed (or that would be, with DryRun)
	Kept    []string      `json:"kept"`    // keys kept by the options
	InUse   []*InUseError `json:"in_use"`  // entries skipped because their lock is held
	// Untraced are directories the options selected that have no ktest or
	// ktstr traces (see Traces): never removed by Clean.
	Untraced []string `json:"untraced"`
	// Debris are the leftovers removed (with DryRun: that would be).
	Debris []string `json:"debris"`
	// DebrisLeft are leftovers not removed, with the reason.
	DebrisLeft []Debris `json:"debris_left"`
}

// Clean removes entries per opts. With CorruptOnly it removes every entry
// with a Problem; otherwise it keeps the opts.Keep newest valid entries and
// removes the other valid entries and every corrupt one (like ktstr's
// `kernel clean --keep N`). Each removal is a Remove: an entry whose lock is
// held is skipped and listed in InUse. Directories without ktest or ktstr
// traces are never removed: they are listed in Untraced. Leftovers of dead
// processes are removed too (see Debris). Errors of individual entries are
// collected; the others are still processed.
//
// A root that does not look like a kernel cache is refused as a whole
// (*NotACacheError), as is one that CheckRoot refuses.
func (c *Cache) Clean(opts CleanOptions) (CleanReport, error) {
	var rep CleanReport
	if opts.Keep < 0 {
		return rep, fmt.Errorf("clean cache: keep %d is negative", opts.Keep)
	}
	if err := CheckRoot(c.Root); err != nil {
		return rep, err
	}
	entries, err := c.List()
	if err != nil {
		return rep, fmt.Errorf("clean cache: %w", err)
	}
	var victims []string
	valid, traced := 0, 0
	for _, e := range entries {
		t := c.Traces(e)
		if len(t) > 0 {
			traced++
		}
		switch {
		case e.Problem == nil && (opts.CorruptOnly || valid < opts.Keep):
			valid++
			rep.Kept = append(rep.Kept, e.Key)
		case len(t) == 0:
			rep.Untraced = append(rep.Untraced, e.Key)
		default:
			victims = append(victims, e.Key)
		}
	}
	if traced == 0 && len(entries) > 0 {
		if st, err := os.Lstat(filepath.Join(c.Root, locksDirName)); err != nil || !st.IsDir() {
			return CleanReport{}, &NotACacheError{Root: c.Root, Entries: len(entries)}
		}
	}
	if opts.DryRun {
		rep.Removed = victims
		debris, err := c.Debris()
		if err != nil {
			return rep, fmt.Errorf("clean cache: %w", err)
		}
		for _, d := range debris {
			if d.Removable {
				rep.Debris = append(rep.Debris, d.Path)
			} else {
				rep.DebrisLeft = append(rep.DebrisLeft, d)
			}
		}
		return rep, nil
	}
	removed, err := c.RemoveEntries(victims)
	removed.Kept, removed.Untraced = rep.Kept, rep.Untraced
	return removed, err
}

// RemoveEntries removes the entries keys, as Clean does once it has chosen
// them (callers that confirm a plan first remove exactly what was agreed,
// including untraced directories the user confirmed one by one): each
// removal is a Remove; an entry whose lock is held is skipped and listed in
// InUse, one already gone counts as done, and other errors are collected
// while the remaining keys are still processed. Removable debris is removed
// afterwards (see Debris). Kept and Untraced are left empty.
func (c *Cache) RemoveEntries(keys []string) (CleanReport, error) {
	var rep CleanReport
	if err := CheckRoot(c.Root); err != nil {
		return rep, err
	}
	var merr *multierror.Error
	for _, key := range keys {
		err := c.Remove(key)
		var inUse *InUseError
		switch {
		case err == nil:
			rep.Removed = append(rep.Removed, key)
		case errors.As(err, &inUse):
			rep.InUse = append(rep.InUse, inUse)
		case errors.Is(err, ErrNotFound):
			// Removed by someone else meanwhile: the goal is met.
		default:
			merr = multierror.Append(merr, err)
		}
	}
	rep.Debris, rep.DebrisLeft = c.removeDebris("")
	return rep, merr.ErrorOrNil()
}

// hintPermission attaches the fix for a cache root or file this user may
// not read.
func hintPermission(err error, path string) error {
	if !errors.Is(err, fs.ErrPermission) {
		return err
	}
	return hint.Wrap(err, fmt.Sprintf("you may not read %s: ask its owner for access (chmod a+rX %s), or set KTSTR_CACHE_DIR to a kernel cache of your own",
		path, shellword.Quote(path)))
}
