package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

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
