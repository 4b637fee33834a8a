package skipreport

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Each run directory holds a lockfile, <run>/.lock, on which the run keeps
// an exclusive flock for its whole life (the kernel drops it when the
// process ends, however it ends). Pruning takes LOCK_EX|LOCK_NB on it and
// leaves alone every directory whose lock it cannot get: a run that is
// still going is never pruned, however many runs start after it.
const runLockName = ".lock"

// legacyRunAge is how old a run directory without a lockfile (written by
// an older ktest) must be before pruning may remove it without a run.json:
// such a run was killed, or is an older ktest's run still going.
const legacyRunAge = 24 * time.Hour

// staleTempAge is how old a half-made run directory (.tmp-run-*, left by a
// process killed while creating one) must be before pruning removes it.
const staleTempAge = time.Hour

const tempRunPrefix = ".tmp-run-"

// makeRunDir creates base/<id> with its skips/ and its lockfile, locked,
// and returns the directory with the lock held. The directory is made
// under a temp name and renamed into place with the lock already held, so
// that no pruner ever sees the run unlocked.
//
// The id is the start time's UTC stamp and its nanoseconds within the
// second in hex, so that run directories sort by start time even within
// one second, and pruning removes the oldest first, deterministically. A
// clash (two runs in the same nanosecond) takes the next value.
func makeRunDir(base string, now time.Time) (*RunDir, error) {
	tmp := filepath.Join(base, tempRunPrefix+randomHex(8))
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("create run directory in %s: %w", base, err)
	}
	fail := func(err error) (*RunDir, error) {
		os.RemoveAll(tmp)
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(tmp, "skips"), 0o755); err != nil {
		return fail(fmt.Errorf("create run directory %s: %w", tmp, err))
	}
	lock, err := createRunLock(filepath.Join(tmp, runLockName))
	if err != nil {
		return fail(err)
	}
	utc := now.UTC()
	stamp, ns := utc.Format(runStampLayout), utc.Nanosecond()
	for attempt := 0; ; attempt++ {
		id := fmt.Sprintf("%s-%08x", stamp, ns+attempt)
		path := filepath.Join(base, id)
		// tmp is not empty, and neither is any run directory, so
		// rename never replaces one: it fails with EEXIST/ENOTEMPTY.
		err := os.Rename(tmp, path)
		if err == nil {
			return &RunDir{ID: id, Path: path, lock: lock}, nil
		}
		if (errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY)) && attempt < 1000 {
			continue
		}
		lock.Close()
		return fail(fmt.Errorf("create run directory %s: %w", path, err))
	}
}

// createRunLock creates and locks a new lockfile.
func createRunLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create run lock: %w", err)
	}
	if err := flockRetry(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

func flockRetry(fd, how int) error {
	for {
		err := unix.Flock(fd, how)
		if err != unix.EINTR {
			return err
		}
	}
}

// Close releases the run's lock: from then on the directory may be
// pruned. A nil RunDir, or a second Close, does nothing.
func (d *RunDir) Close() error {
	if d == nil || d.lock == nil {
		return nil
	}
	err := d.lock.Close()
	d.lock = nil
	return err
}

// pruneRuns removes run directories beyond the newest keep that have
// finished: only those whose lock pruneRun can take. Directories among the
// newest keep are never touched, and one whose state cannot be proven is
// left alone. Half-made directories of killed processes are swept too.
// Failures are skipped: pruning is housekeeping, and the next run tries
// again.
func pruneRuns(base string, keep int) {
	dirs, err := ListRunDirs(base)
	if err != nil {
		return
	}
	if len(dirs) > keep {
		for _, dir := range dirs[:len(dirs)-keep] {
			pruneRun(dir, legacyRunAge)
		}
	}
	sweepTempRuns(base)
}

// pruneRun removes one run directory if it is provably not in use: its
// lockfile exists, is a regular file, and LOCK_EX|LOCK_NB on it succeeds (its
// run ended, normally or not); or, for a directory of an older ktest
// without a lockfile, it has run.json or is older than legacyAge. The
// lock is held while the directory is removed. It reports whether the
// directory was removed.
func pruneRun(dir string, legacyAge time.Duration) bool {
	lockPath := filepath.Join(dir, runLockName)
	fd, err := unix.Open(lockPath, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if errors.Is(err, unix.ENOENT) {
		if !legacyFinished(dir, legacyAge) {
			return false
		}
		return os.RemoveAll(dir) == nil
	}
	if err != nil {
		return false // a symlink, unreadable: not provably ours to delete
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false
	}
	if flockRetry(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return false // the run is still going
	}
	return os.RemoveAll(dir) == nil
}

// legacyFinished: a run directory without a lockfile has finished when it
// has run.json; without one it is a killed run only once it is old.
func legacyFinished(dir string, age time.Duration) bool {
	if st, err := os.Lstat(filepath.Join(dir, "run.json")); err == nil && st.Mode().IsRegular() {
		return true
	}
	st, err := os.Lstat(dir)
	return err == nil && time.Since(st.ModTime()) > age
}

// sweepTempRuns removes .tmp-run-* directories of processes killed while
// creating a run directory: old ones whose lock nobody holds.
func sweepTempRuns(base string) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), tempRunPrefix) {
			continue
		}
		dir := filepath.Join(base, e.Name())
		if st, err := os.Lstat(dir); err != nil || time.Since(st.ModTime()) < staleTempAge {
			continue
		}
		pruneRun(dir, staleTempAge)
	}
}
