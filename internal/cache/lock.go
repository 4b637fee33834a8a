package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// LockMode is the flock(2) mode of a Lock.
type LockMode int

// Lock modes. The zero value is invalid so that a forgotten mode is an error
// rather than a silent shared lock.
const (
	Shared    LockMode = iota + 1 // LOCK_SH: readers; any number may hold it together
	Exclusive                     // LOCK_EX: one writer, no readers
)

// String returns "LOCK_SH" or "LOCK_EX".
func (m LockMode) String() string {
	switch m {
	case Shared:
		return "LOCK_SH"
	case Exclusive:
		return "LOCK_EX"
	}
	return fmt.Sprintf("LockMode(%d)", int(m))
}

func (m LockMode) flockHow() (int, error) {
	switch m {
	case Shared:
		return unix.LOCK_SH, nil
	case Exclusive:
		return unix.LOCK_EX, nil
	}
	return 0, fmt.Errorf("invalid lock mode %d (want cache.Shared or cache.Exclusive)", int(m))
}

// lockPollInterval bounds how long a waiter sleeps between two LOCK_NB
// attempts when no inotify event arrives. Close events wake it at once (every
// holder that releases by close, exits or dies, including Lock.Unlock, which
// closes right after LOCK_UN); the poll only matters for an explicit LOCK_UN
// that keeps the file open, a lockfile that was replaced, or a host without
// inotify instances left. 100 ms, ktstr's own poll period, bounds that case
// while keeping a blocked waiter's CPU use near zero (BenchmarkWaiterCPU).
var lockPollInterval = 100 * time.Millisecond

// closeRetryBackoff is the schedule of extra LOCK_NB attempts after a close
// event. The kernel sends IN_CLOSE_* from __fput before it removes the
// file's flocks (fsnotify_close precedes locks_remove_file), so the attempt
// right after the wake-up can still fail while the holder's release is
// microseconds away. Retrying on this short schedule (about 6 ms in total)
// catches the release without waiting for the next poll; an event from an
// unrelated close costs only these few attempts.
var closeRetryBackoff = []time.Duration{
	25 * time.Microsecond, 50 * time.Microsecond, 100 * time.Microsecond, 200 * time.Microsecond,
	400 * time.Microsecond, 800 * time.Microsecond, 1600 * time.Microsecond, 3200 * time.Microsecond,
}

// Lock is a held flock(2) on a lockfile. It owns one open file description;
// the lock lasts until Unlock (or until the process exits, when the kernel
// releases it). A Lock is not inherited by child processes (O_CLOEXEC), which
// is why the run pipeline runs go test as a child while it holds the Lock.
type Lock struct {
	mu     sync.Mutex
	file   *os.File // nil after Unlock
	path   string
	mode   LockMode
	waited time.Duration
}

// Path returns the lockfile path.
func (l *Lock) Path() string { return l.path }

// Mode returns the mode the lock is held in.
func (l *Lock) Mode() LockMode { return l.mode }

// Waited returns how long AcquireLock took, including the wait for other holders.
func (l *Lock) Waited() time.Duration { return l.waited }

// Unlock releases the lock (LOCK_UN, then close). Calling it again is a no-op.
func (l *Lock) Unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return nil
	}
	f := l.file
	l.file = nil
	uerr := flockFile(f, unix.LOCK_UN)
	cerr := f.Close()
	if uerr != nil {
		return fmt.Errorf("unlock lockfile %s: %w", l.path, uerr)
	}
	if cerr != nil {
		return fmt.Errorf("close lockfile %s: %w", l.path, cerr)
	}
	return nil
}

// LockTimeoutError reports that a lock could not be taken before the
// deadline. Holders lists the processes holding the lock at that moment
// (empty when none could be identified).
type LockTimeoutError struct {
	Mode    LockMode
	What    string // context, e.g. `cache entry "6.1.0"`
	Path    string
	Timeout time.Duration // the deadline asked for
	Waited  time.Duration // the time actually spent
	Holders []Holder
}

// Error returns, for example:
//
//	flock LOCK_SH on cache entry "k" timed out after 10s (lockfile /c/.locks/k.lock, holders: pid=42 cmd=ktest ./...)
func (e *LockTimeoutError) Error() string {
	return fmt.Sprintf("flock %s on %s timed out after %s (lockfile %s, holders: %s)",
		e.Mode, e.What, formatTimeout(e.Timeout), e.Path, formatHolders(e.Holders))
}

// Contention reports true: a lock held past the timeout is contention, a
// transient condition (kerneltest.SkipOnContention skips on it).
func (e *LockTimeoutError) Contention() bool { return true }

// Hints say what to do about it, for a SKIP banner.
func (e *LockTimeoutError) Hints() []string {
	return []string{"another process held the lock for too long; `ktest locks` shows who holds it"}
}

// formatTimeout prints whole seconds as "60s" (not Go's "1m0s").
func formatTimeout(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

// AcquireLock takes a flock(2) in mode on the file at path and returns the
// held Lock; the caller must Unlock it.
//
// The lockfile is opened safely (see openLockFile: no symlinks, regular
// files only, fchmod only of files this process created or owns) and is
// made mode 0666 when this process creates it, so other users can share
// it; its parent directory is created. A lockfile on NFS, CIFS/SMB, CephFS,
// AFS or FUSE is refused.
//
// Writers are preferred over readers through a writer-intent gate, the file
// {key}.gate next to {key}.lock (see gatePath for the protocol): a waiting
// writer holds the gate, so new readers queue behind it instead of keeping
// the entry shared forever.
//
// One attempt is always made, even when timeout <= 0 (but none when ctx is
// already done). While others hold the lock, the waiter keeps one descriptor
// and retries LOCK_NB whenever inotify reports a close of the lockfile (a
// holder releasing by close or by dying), and at least every 100 ms for
// holders that release with LOCK_UN but keep the file open. It never spins.
// ctx cancellation ends the wait with an error wrapping ctx.Err(); the
// deadline ends it with *LockTimeoutError. what describes the lock for the
// error message, e.g. `cache entry "6.1"`.
//
// After taking each lock (the gate, then the lockfile) it checks that the
// path still names the locked inode; if the file was deleted or replaced
// meanwhile it starts over on the new file, so it never returns a lock that
// protects nothing.
func AcquireLock(ctx context.Context, path string, mode LockMode, timeout time.Duration, what string) (*Lock, error) {
	how, err := mode.flockHow()
	if err != nil {
		return nil, fmt.Errorf("acquire lock %s: %w", path, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("flock %s on %s (lockfile %s): %w", mode, what, path, err)
	}
	start := time.Now()
	deadline := start.Add(max(timeout, 0))
	timedOut := func() error {
		return &LockTimeoutError{Mode: mode, What: what, Path: path,
			Timeout: max(timeout, 0), Waited: time.Since(start), Holders: blockingHolders(path)}
	}

	var gate *os.File
	if usesGate(mode, timeout) {
		gate, err = waitFlock(ctx, gatePath(path), how, deadline)
		switch {
		case errors.Is(err, errLockBusy):
			return nil, timedOut()
		case errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS):
			// A cache shared read-only with us (lockfiles made by its
			// owner or by ktstr, which makes no gates): we cannot create
			// the gate, so we take part in the lockfile's protocol only,
			// as ktstr does. The lockfile's own open reports a real problem.
			gate = nil
		case err != nil:
			return nil, lockWaitError(ctx, mode, what, path, err)
		}
	}
	f, err := waitFlock(ctx, path, how, deadline)
	if gate != nil {
		// A writer keeps the gate only while it waits: once it holds the
		// entry exclusively, readers may queue on the entry itself. A
		// reader passes through it.
		_ = flockFile(gate, unix.LOCK_UN)
		gate.Close()
	}
	switch {
	case errors.Is(err, errLockBusy):
		return nil, timedOut()
	case err != nil:
		return nil, lockWaitError(ctx, mode, what, path, err)
	}
	return &Lock{file: f, path: path, mode: mode, waited: time.Since(start)}, nil
}

// lockWaitError wraps a failed wait: a cancellation in docs/spec.md §7's words,
// anything else (an unsafe or unopenable lockfile) as it is.
func lockWaitError(ctx context.Context, mode LockMode, what, path string, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return fmt.Errorf("flock %s on %s (lockfile %s): %w", mode, what, path, ctx.Err())
	}
	return err
}

// errLockBusy is waitFlock's report that the deadline passed with the lock
// still held by others.
var errLockBusy = errors.New("lock busy")

// waitFlock opens the lockfile at path and takes the flock how on it,
// waiting until deadline (one attempt even when it has passed). It returns
// the locked file, errLockBusy at the deadline, ctx.Err() (wrapped) on
// cancellation, or the error of opening the lockfile.
func waitFlock(ctx context.Context, path string, how int, deadline time.Time) (*os.File, error) {
	f, id, err := openLockFile(path)
	if err != nil {
		return nil, err
	}
	// The watcher is created on first contention; it owns an inotify fd.
	var w *closeWatcher
	defer func() { w.close() }()
	watched := false
	burst := -1 // position in closeRetryBackoff after a close event; -1 outside a burst
	for {
		ok, err := tryFlock(f, how)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("flock %s: %w", path, err)
		}
		if ok {
			if sameFileAt(path, id) {
				return f, nil
			}
			// The path names another file now (deleted or replaced while we
			// waited): the lock we got protects nothing. Start over on the new file.
			_ = flockFile(f, unix.LOCK_UN)
			f.Close()
			if f, id, err = openLockFile(path); err != nil {
				return nil, err
			}
			watched = false
			continue
		}
		if err := ctx.Err(); err != nil {
			f.Close()
			return nil, err
		}
		if !time.Now().Before(deadline) {
			f.Close()
			return nil, errLockBusy
		}
		if !sameFileAt(path, id) {
			// Replaced under us: waiting on the old inode could wait forever.
			f.Close()
			if f, id, err = openLockFile(path); err != nil {
				return nil, err
			}
			watched = false
			continue
		}
		if w == nil {
			w = newCloseWatcher(ctx)
		}
		if !watched {
			w.add(path)
			watched = true
			// Retry once now that the watch exists: a release between the
			// last attempt and the watch would otherwise go unnoticed.
			continue
		}
		if burst >= 0 && burst < len(closeRetryBackoff) {
			sleepCtx(ctx, min(closeRetryBackoff[burst], time.Until(deadline)))
			burst++
			continue
		}
		burst = -1
		if w.wait(ctx, minTime(deadline, time.Now().Add(lockPollInterval))) {
			burst = 0
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// fileID identifies an inode.
type fileID struct{ dev, ino uint64 }

// sameFileAt reports whether path (not followed if it is a symlink) still
// names the inode id.
func sameFileAt(path string, id fileID) bool {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return false
	}
	return uint64(st.Dev) == id.dev && st.Ino == id.ino
}

// controlFd runs fn on f's descriptor through SyscallConn, so the descriptor
// cannot be closed underneath it.
func controlFd(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// flockFile calls flock(2) on f, retrying EINTR.
func flockFile(f *os.File, how int) error {
	return controlFd(f, func(fd int) error {
		for {
			err := unix.Flock(fd, how)
			if err != unix.EINTR {
				return err
			}
		}
	})
}

// tryFlock makes one non-blocking attempt; false means another holder has it.
func tryFlock(f *os.File, how int) (bool, error) {
	err := flockFile(f, how|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// closeWatcher wakes a waiter when any process closes the lockfile. Without
// inotify (e.g. fs.inotify.max_user_instances exhausted) it degrades to
// sleeping until the next poll.
type closeWatcher struct {
	f       *os.File // the inotify descriptor, in Go's poller; nil without inotify
	polling bool     // inotify failed after creation: sleep instead
	stop    func() bool
	buf     [4096]byte
}

func newCloseWatcher(ctx context.Context) *closeWatcher {
	w := &closeWatcher{}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return w
	}
	f := os.NewFile(uintptr(fd), "inotify")
	w.f = f
	// Cancellation interrupts a blocked Read by moving its deadline to now.
	w.stop = context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
	return w
}

// add watches path for IN_CLOSE_WRITE|IN_CLOSE_NOWRITE. Watching a second
// inode (after a replacement) keeps the first watch; its events only cause a
// harmless extra attempt.
func (w *closeWatcher) add(path string) {
	if w.f == nil || w.polling {
		return
	}
	err := controlFd(w.f, func(fd int) error {
		_, err := unix.InotifyAddWatch(fd, path, unix.IN_CLOSE_WRITE|unix.IN_CLOSE_NOWRITE|unix.IN_DONT_FOLLOW)
		return err
	})
	if err != nil {
		w.polling = true
	}
}

// wait blocks until a close event, until, or ctx cancellation, whichever is
// first, and reports whether a close event woke it.
func (w *closeWatcher) wait(ctx context.Context, until time.Time) bool {
	if w.f == nil || w.polling {
		sleepCtx(ctx, time.Until(until))
		return false
	}
	if err := w.f.SetReadDeadline(until); err != nil {
		w.polling = true
		sleepCtx(ctx, time.Until(until))
		return false
	}
	// Checked after setting the deadline: a cancellation after this point
	// resets the deadline to now, one before it is seen here.
	if ctx.Err() != nil {
		return false
	}
	n, err := w.f.Read(w.buf[:])
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		w.polling = true
	}
	return n > 0
}

// close releases the inotify descriptor in the background: closing an
// inotify instance waits for the kernel to reap its marks (an SRCU grace
// period, typically 5-20 ms), which must not delay the caller that has just
// got its lock.
func (w *closeWatcher) close() {
	if w == nil || w.f == nil {
		return
	}
	w.stop()
	go w.f.Close()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
