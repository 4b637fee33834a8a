package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hashicorp/go-multierror"

	"github.com/ktest-dev/ktest/internal/atomicfile"
	"github.com/ktest-dev/ktest/internal/filekind"
)

// Remove deletes the entry key. It takes a non-blocking LOCK_EX on the
// entry's lockfile and returns *InUseError (with the holders) when anyone
// holds it: an entry is never deleted under a reader. Under the lock the
// entry is renamed aside to {root}/.rm-{key}-{pid}, the root is fsynced, and
// the renamed tree is deleted, so the entry vanishes in one step and a crash
// leaves only dot-named debris. The lockfile is kept (it is shared with
// ktstr and never deleted). A missing entry returns ErrNotFound (wrapped).
//
// key may be any name List can return, including directories with names
// ValidateKey would refuse for a new entry.
func (c *Cache) Remove(key string) error {
	if err := validateEntryName(key); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	// A key with no entry gets no lockfile: lockfiles are never deleted,
	// so a mistyped key must not leave one behind. (removeLocked checks
	// again under the lock.)
	if _, err := os.Lstat(c.EntryDir(key)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s from %s: %w", lockWhat(key), c.Root, ErrNotFound)
	}
	lock, err := AcquireLock(context.Background(), c.LockPath(key), Exclusive, 0, lockWhat(key))
	if err != nil {
		var lte *LockTimeoutError
		if errors.As(err, &lte) {
			return &InUseError{Key: key, LockPath: lte.Path, Holders: lte.Holders}
		}
		return fmt.Errorf("remove %s: %w", lockWhat(key), err)
	}
	defer lock.Unlock()
	return c.removeLocked(key)
}

// removeLocked renames the entry aside and deletes it; the caller holds its LOCK_EX.
func (c *Cache) removeLocked(key string) error {
	final := c.EntryDir(key)
	st, err := os.Lstat(final)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s from %s: %w", lockWhat(key), c.Root, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", lockWhat(key), err)
	}
	if !st.IsDir() {
		return fmt.Errorf("remove %s: %s is a %s, not an entry directory; remove it by hand", lockWhat(key), final, filekind.Of(st.Mode()))
	}
	aside := filepath.Join(c.Root, removingPrefix+key+"-"+strconv.Itoa(os.Getpid()))
	if err := os.RemoveAll(aside); err != nil { // our own debris from an earlier failure
		return fmt.Errorf("remove %s: clear %s: %w", lockWhat(key), aside, err)
	}
	if err := os.Rename(final, aside); err != nil {
		return fmt.Errorf("remove %s: rename %s aside: %w", lockWhat(key), final, err)
	}
	if err := atomicfile.SyncDir(c.Root); err != nil {
		return fmt.Errorf("remove %s: %w", lockWhat(key), err)
	}
	if err := os.RemoveAll(aside); err != nil {
		return fmt.Errorf("remove %s: the entry is gone but deleting %s failed (Clean will retry): %w", lockWhat(key), aside, err)
	}
	return nil
}

// CleanOptions selects what Clean removes.
type CleanOptions struct {
	// Keep is the number of newest valid entries to keep (0 removes all).
	// Ignored when CorruptOnly is set.
	Keep int
	// CorruptOnly removes only entries with a Problem.
	CorruptOnly bool
	// DryRun reports what would be removed without removing anything (in
	// this mode entries in use are still listed under Removed).
	DryRun bool
}

// CleanReport says what Clean did.
type CleanReport struct {
	Removed []string      `json:"removed"` // keys removed (or that would be, with DryRun)
	Kept    []string      `json:"kept"`    // keys kept by the options
	InUse   []*InUseError `json:"in_use"`  // entries skipped because their lock is held
	Debris  []string      `json:"debris"`  // dot-named leftovers of dead processes, removed
}

// Clean removes entries per opts. With CorruptOnly it removes every entry
// with a Problem; otherwise it keeps the opts.Keep newest valid entries and
// removes the other valid entries and every corrupt one (like ktstr's
// `kernel clean --keep N`). Each removal is a Remove: an entry whose lock is
// held is skipped and listed in InUse. Dead processes' staging and removal
// debris is removed too. Errors of individual entries are collected; the
// others are still processed.
func (c *Cache) Clean(opts CleanOptions) (CleanReport, error) {
	var rep CleanReport
	if opts.Keep < 0 {
		return rep, fmt.Errorf("clean cache: keep %d is negative", opts.Keep)
	}
	entries, err := c.List()
	if err != nil {
		return rep, fmt.Errorf("clean cache: %w", err)
	}
	var victims []string
	valid := 0
	for _, e := range entries {
		switch {
		case e.Problem != nil:
			victims = append(victims, e.Key)
		case opts.CorruptOnly || valid < opts.Keep:
			valid++
			rep.Kept = append(rep.Kept, e.Key)
		default:
			victims = append(victims, e.Key)
		}
	}
	if opts.DryRun {
		rep.Removed = victims
		return rep, nil
	}
	removed, err := c.RemoveEntries(victims)
	removed.Kept = rep.Kept
	return removed, err
}

// RemoveEntries removes the entries keys, as Clean does once it has chosen
// them (callers that confirm a plan first remove exactly what was agreed):
// each removal is a Remove; an entry whose lock is held is skipped and
// listed in InUse, one already gone counts as done, and other errors are
// collected while the remaining keys are still processed. Dead processes'
// staging and removal debris is swept afterwards. Kept is left empty.
func (c *Cache) RemoveEntries(keys []string) (CleanReport, error) {
	var rep CleanReport
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
	rep.Debris = c.sweepDebris("")
	return rep, merr.ErrorOrNil()
}
