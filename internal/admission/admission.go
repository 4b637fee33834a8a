package admission

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/hostres"
)

// DefaultReserveMB is the memory admission leaves to the host beyond the
// guests' claims (the host's own processes, go test, page cache pressure).
const DefaultReserveMB = 256

// PollInterval bounds how long a waiter sleeps without a slot release
// before it looks again (memory freed by other programs sends no event).
var PollInterval = 2 * time.Second

// maxSlots bounds the slot numbers admission reads and creates.
const maxSlots = 4096

const ledgerName = "ledger"

// Options configure Acquire; the zero value is the host-wide default.
type Options struct {
	// Dir is the admission directory ("" means DefaultDir(os.LookupEnv)).
	Dir string
	// Resources returns the host's capacity (nil means hostres.Read).
	Resources func() (hostres.Resources, error)
	// ReserveMB is the memory kept free for the host (0 means
	// DefaultReserveMB; negative means none).
	ReserveMB int64
}

// Slot is an admitted guest's place on the host. Close it when the guest
// has exited; if the process dies first, the kernel releases it.
type Slot struct {
	mu     sync.Mutex
	fd     int // -1 after Close
	path   string
	need   Need
	waited time.Duration
}

// Path returns the slot file.
func (s *Slot) Path() string { return s.path }

// Need returns what the slot was admitted for (CPUs clamped to the host's).
func (s *Slot) Need() Need { return s.need }

// Waited returns how long Acquire waited for it.
func (s *Slot) Waited() time.Duration { return s.waited }

// Close releases the slot, waking waiters. Calling it again is a no-op.
func (s *Slot) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return nil
	}
	fd := s.fd
	s.fd = -1
	// Emptied first so that no stale claim is left to read; the close of
	// this read-write descriptor is the IN_CLOSE_WRITE waiters wake on.
	_ = unix.Ftruncate(fd, 0)
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("release admission slot %s: %w", s.path, err)
	}
	return nil
}

// ContentionError reports that a guest was not admitted within the wait:
// the host was full (or can never fit the guest). Callers turn it into a
// `contention` SKIP; it has the Contention and Hints methods the skip
// vocabulary recognises.
type ContentionError struct {
	Need   Need
	Wait   time.Duration // the wait asked for
	Waited time.Duration
	// Host is the last capacity read and InUse the claims of the guests
	// holding slots then (Guests of them).
	Host   hostres.Resources
	InUse  Need
	Guests int
	Reason string // why the last attempt failed, e.g. "no memory left"
	Dir    string
}

// Error reads like "host admission: no slot for a guest needing 1 CPU,
// 1152 MiB after 10s: not enough memory (...)".
func (e *ContentionError) Error() string {
	return fmt.Sprintf("host admission: no slot for a guest needing %s after %s: %s (host: %s; %d guests hold %s; %s)",
		e.Need, e.Waited.Round(time.Millisecond), e.Reason, e.Host, e.Guests, e.InUse, e.Dir)
}

// Contention reports that this is resource contention, not a failure.
func (e *ContentionError) Contention() bool { return true }

// Hints say what to do about it.
func (e *ContentionError) Hints() []string {
	return []string{"other guests filled the host's CPUs or memory: run fewer at once (--vm-jobs, -p), give each less (--vm-memory), or wait longer"}
}

// Acquire admits a guest with the default Options; see Options.Acquire.
func Acquire(ctx context.Context, need Need, wait time.Duration) (*Slot, error) {
	return Options{}.Acquire(ctx, need, wait)
}

// Acquire waits until the guest fits the host and returns its Slot. At
// least one attempt is made, even with wait <= 0. When wait expires it
// returns *ContentionError; a guest that cannot fit even an idle host
// (more memory than MemTotal) gets it at once. ctx cancellation returns an
// error wrapping ctx.Err(). Other errors (an unsafe directory, unreadable
// /proc/meminfo) mean admission could not be decided.
func (o Options) Acquire(ctx context.Context, need Need, wait time.Duration) (*Slot, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("wait for admission: %w", err)
	}
	if need.CPUs < 1 || need.MemoryMB < 0 {
		return nil, fmt.Errorf("acquire admission slot: invalid need %s", need)
	}
	dir := o.Dir
	if dir == "" {
		dir = DefaultDir(os.LookupEnv)
	}
	resources := o.Resources
	if resources == nil {
		resources = hostres.Read
	}
	reserve := o.ReserveMB
	switch {
	case reserve == 0:
		reserve = DefaultReserveMB
	case reserve < 0:
		reserve = 0
	}
	dirFD, err := openDir(dir)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dirFD)

	start := time.Now()
	deadline := start.Add(max(wait, 0))
	var w *watcher
	defer func() { w.close() }()
	for {
		res, err := resources()
		if err != nil {
			return nil, fmt.Errorf("acquire admission slot: %w", err)
		}
		a := attempt{dirFD: dirFD, dir: dir, need: need, res: res, reserve: reserve}
		slot, err := a.run(ctx, deadline)
		if err != nil {
			return nil, err
		}
		if slot != nil {
			slot.waited = time.Since(start)
			return slot, nil
		}
		if a.impossible || !time.Now().Before(deadline) {
			return nil, &ContentionError{Need: a.need, Wait: max(wait, 0), Waited: time.Since(start),
				Host: res, InUse: a.inUse, Guests: a.guests, Reason: a.reason, Dir: dir}
		}
		if w == nil {
			// Watch before the next look, so that a release between the
			// look that failed and the sleep is not missed.
			w = newWatcher(ctx, dirFD, dir)
			continue
		}
		w.wait(ctx, minTime(deadline, time.Now().Add(PollInterval)))
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("wait for admission: %w", err)
		}
	}
}

// scans counts attempts (tests check that a waiter does not spin).
var scans struct {
	sync.Mutex
	n int
}

// attempt is one look at the slots under the ledger.
type attempt struct {
	dirFD   int
	dir     string
	need    Need
	res     hostres.Resources
	reserve int64

	inUse      Need
	guests     int
	reason     string
	impossible bool
}

// run locks the ledger, reads the slots and takes one if the guest fits.
// It returns a nil Slot with a.reason set when it does not fit.
func (a *attempt) run(ctx context.Context, deadline time.Time) (*Slot, error) {
	scans.Lock()
	scans.n++
	scans.Unlock()
	cpus := max(a.res.CPUs, 1)
	a.need.CPUs = min(a.need.CPUs, cpus)
	if a.need.MemoryMB+a.reserve > a.res.MemTotalMB {
		a.impossible = true
		a.reason = fmt.Sprintf("the guest needs more memory than the host has (%d MiB total, %d MiB kept for the host)", a.res.MemTotalMB, a.reserve)
		return nil, nil
	}
	ledger, err := lockLedger(ctx, a.dirFD, a.dir, deadline)
	if err != nil {
		return nil, err
	}
	if ledger < 0 {
		a.reason = "the admission ledger stayed locked by another process"
		return nil, nil
	}
	defer unix.Close(ledger)

	nums, held, free, err := a.readSlots()
	if err != nil {
		return nil, err
	}
	for _, c := range held {
		a.inUse.CPUs += c.CPUs
		a.inUse.MemoryMB += c.MemoryMB
	}
	a.guests = len(held)
	switch {
	case a.inUse.CPUs+a.need.CPUs > cpus:
		a.reason = fmt.Sprintf("no CPU left (%d of %d in use)", a.inUse.CPUs, cpus)
		return nil, nil
	case a.inUse.MemoryMB+a.need.MemoryMB+a.reserve > a.res.MemAvailableMB:
		a.reason = fmt.Sprintf("not enough memory (%d MiB available, %d MiB claimed by running guests, %d MiB kept for the host)",
			a.res.MemAvailableMB, a.inUse.MemoryMB, a.reserve)
		return nil, nil
	}
	return a.take(nums, free)
}

// lockLedger opens the ledger and takes its LOCK_EX, retrying with a short
// backoff (it is held only while an admitter decides) until deadline; one
// attempt is always made. It returns -1 when the deadline passed first.
func lockLedger(ctx context.Context, dirFD int, dir string, deadline time.Time) (int, error) {
	fd, err := openAt(dirFD, dir, ledgerName, false, true)
	if err != nil {
		return -1, fmt.Errorf("open admission ledger: %w", err)
	}
	backoff := time.Millisecond
	for {
		ok, err := tryLock(fd)
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("lock admission ledger %s: %w", filepath.Join(dir, ledgerName), err)
		}
		if ok {
			return fd, nil
		}
		if !time.Now().Before(deadline) {
			unix.Close(fd)
			return -1, nil
		}
		t := time.NewTimer(min(backoff, time.Until(deadline)))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			unix.Close(fd)
			return -1, fmt.Errorf("wait for admission: %w", ctx.Err())
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}

// readSlots returns the numbers of all slot names, the claims of held
// slots and the numbers of free ones (both lists in increasing order).
// Slot names that are not regular files are skipped: they neither count
// nor are used.
func (a *attempt) readSlots() (nums []int, held []Need, free []int, err error) {
	nums, err = a.slotNumbers()
	if err != nil {
		return nil, nil, nil, err
	}
	for _, n := range nums {
		fd, err := openAt(a.dirFD, a.dir, slotName(n), false, false)
		if err != nil {
			continue // removed meanwhile, planted (a symlink, a FIFO) or unreadable
		}
		ok, err := tryLock(fd)
		switch {
		case err != nil:
		case ok:
			free = append(free, n) // closing releases the lock
		default:
			buf := make([]byte, maxClaimBytes)
			k, _ := unix.Pread(fd, buf, 0)
			need, _, perr := parseClaim(buf[:max(k, 0)])
			if perr != nil {
				need = unknownClaim
			}
			held = append(held, need)
		}
		unix.Close(fd)
	}
	return nums, held, free, nil
}

// slotNumbers lists the N of every "slot.N" in the directory, sorted.
func (a *attempt) slotNumbers() ([]int, error) {
	dup, err := unix.Openat(a.dirFD, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("read admission directory %s: %w", a.dir, err)
	}
	d := os.NewFile(uintptr(dup), a.dir)
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("read admission directory %s: %w", a.dir, err)
	}
	var nums []int
	for _, name := range names {
		if n, ok := parseSlotName(name); ok {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return nums, nil
}

// take claims the first usable free slot, or creates the lowest missing
// one, writing the claim while the ledger is still held. Held and
// unusable names (all of nums that are not free) are never opened for
// writing: closing such a descriptor would wake the waiters for nothing.
func (a *attempt) take(nums, free []int) (*Slot, error) {
	candidates := append([]int(nil), free...)
	for n, i := 0, 0; n < maxSlots && len(candidates) < len(free)+8; n++ {
		for i < len(nums) && nums[i] < n {
			i++
		}
		if i < len(nums) && nums[i] == n {
			continue // exists: free ones are already candidates
		}
		candidates = append(candidates, n) // missing: created below
	}
	var firstErr error
	for _, n := range candidates {
		fd, err := openAt(a.dirFD, a.dir, slotName(n), true, true)
		if err != nil {
			// Taken by a user who narrowed it, or planted: try another.
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		ok, err := tryLock(fd)
		if err != nil || !ok {
			unix.Close(fd) // held by a process outside the protocol
			continue
		}
		claim := formatClaim(a.need, os.Getpid())
		if err := unix.Ftruncate(fd, 0); err != nil {
			unix.Close(fd)
			continue
		}
		if k, err := unix.Pwrite(fd, []byte(claim), 0); err != nil || k != len(claim) {
			unix.Close(fd)
			continue
		}
		return &Slot{fd: fd, path: filepath.Join(a.dir, slotName(n)), need: a.need}, nil
	}
	if firstErr == nil {
		firstErr = errors.New("every slot file is taken or unusable")
	}
	return nil, fmt.Errorf("take admission slot in %s: %w", a.dir, firstErr)
}

func slotName(n int) string { return "slot." + strconv.Itoa(n) }

// parseSlotName returns N of "slot.N" (canonical decimal, below maxSlots).
func parseSlotName(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "slot.")
	if !ok || !canonicalDecimal(s) {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n >= maxSlots {
		return 0, false
	}
	return n, true
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
