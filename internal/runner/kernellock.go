package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/kernelimage"
	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/skipreport"
)

// kernelLease is the LOCK_SH a run holds on its kernel's cache entry, so
// that nothing replaces or removes the image while tests use it. It is taken
// before go test starts and released only after go test's whole process
// group is gone.
type kernelLease struct {
	lock   *cache.Lock // nil when no lock is held
	record *skipreport.LockRecord
}

// release drops the lock; safe on a nil lease.
func (l *kernelLease) release() error {
	if l == nil || l.lock == nil {
		return nil
	}
	return l.lock.Unlock()
}

// maxRelock bounds how often the lease follows an entry that vanished while
// ktest waited for its lock.
const maxRelock = 3

// lockKernel takes LOCK_SH on the resolved kernel's cache entry, if it lies
// in one. A timeout is not an error: it turns the run into a contention SKIP
// (rep.Unavailable, with the holders) and the kernel is not exported.
// After about a second of waiting it says once on notice who holds the lock
// and how long it will wait. After the lock is held the entry is looked up and its image inspected
// again, because a writer may have replaced or removed it while we waited.
func lockKernel(ctx context.Context, rep *preflight.Report, timeout time.Duration, notice io.Writer, resolve func() (preflight.Resolution, error)) (*kernelLease, error) {
	for attempt := 0; ; attempt++ {
		k := rep.Kernel()
		if k == nil || k.Entry == nil || rep.Unavailable != nil {
			return &kernelLease{}, nil
		}
		c := &cache.Cache{Root: filepath.Dir(k.Entry.Dir)}
		key := k.Entry.Key
		waiting := noticeLockWait(notice, c.LockPath(key), fmt.Sprintf("cache entry %q", key), timeout)
		lock, err := c.LockEntry(ctx, key, cache.Shared, timeout)
		waiting.Stop()
		var timedOut *cache.LockTimeoutError
		switch {
		case errors.As(err, &timedOut):
			holders := holderRecords(timedOut.Holders)
			rep.Unavailable = &preflight.Unavailable{
				Category: skipreport.Contention,
				Reason:   timedOut.Error() + "; host: " + rep.Host.Summary(),
				Holders:  holders,
				Hints: []string{
					"another process is replacing or removing this kernel (ktest kernel add/rm, or ktstr); `ktest locks` shows who holds it",
					fmt.Sprintf("raise --lock-timeout (now %s) to wait longer", timeout),
				},
			}
			return &kernelLease{record: &skipreport.LockRecord{Path: timedOut.Path, Mode: cache.Shared.String(),
				WaitedMS: timedOut.Waited.Milliseconds(), Holders: holders}}, nil
		case err != nil:
			return nil, fmt.Errorf("lock kernel: %w", err)
		}
		entry, err := c.Lookup(key)
		if err == nil {
			info, ierr := kernelimage.Inspect(entry.ImagePath())
			if ierr == nil {
				k.Entry, k.Image, k.Path, k.Dir = &entry, info, entry.ImagePath(), entry.Dir
				return &kernelLease{lock: lock, record: &skipreport.LockRecord{Path: lock.Path(), Mode: lock.Mode().String(),
					WaitedMS: lock.Waited().Milliseconds(), Acquired: true}}, nil
			}
			err = ierr
		}
		lock.Unlock()
		if attempt+1 >= maxRelock {
			return nil, fmt.Errorf("lock kernel: cache entry %q changed while ktest waited for its lock and kept changing: %w", key, err)
		}
		// The entry was removed or replaced by something unusable while
		// we waited: resolve again from scratch.
		res, rerr := resolve()
		rep.Resolution = res
		var missing *preflight.KernelUnavailableError
		switch {
		case errors.As(rerr, &missing):
			rep.Unavailable = &preflight.Unavailable{Category: skipreport.NoKernel, Reason: missing.Reason, Hints: missing.Hints}
		case rerr != nil:
			return nil, fmt.Errorf("resolve kernel again after %q changed: %w", key, rerr)
		}
	}
}

func holderRecords(hs []cache.Holder) []skipreport.HolderRecord {
	out := make([]skipreport.HolderRecord, len(hs))
	for i, h := range hs {
		out[i] = skipreport.HolderRecord{PID: h.PID, Mode: h.Mode, Cmdline: h.Cmdline}
	}
	return out
}
