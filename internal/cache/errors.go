package cache

import (
	"errors"
	"fmt"
)

// ErrNotFound is wrapped by Lookup and Remove when the entry does not exist;
// test with errors.Is.
var ErrNotFound = errors.New("cache entry not found")

// ErrCorrupt is wrapped by Lookup when the entry exists but is unusable; the
// returned Entry's Problem says why. Test with errors.Is.
var ErrCorrupt = errors.New("cache entry is corrupt")

// InUseError reports that an entry could not be removed because other
// processes hold its lock (a test run reading it, or a Store replacing it).
type InUseError struct {
	Key      string   `json:"key"`
	LockPath string   `json:"lockfile"`
	Holders  []Holder `json:"holders"`
}

// Error names the entry, its lockfile and holders, and what to do.
func (e *InUseError) Error() string {
	return fmt.Sprintf("cache entry %q is in use (lockfile %s, holders: %s); wait for those runs to finish or stop them, then retry",
		e.Key, e.LockPath, formatHolders(e.Holders))
}
