package admission

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func oneCPU(dir string) Options {
	return Options{Dir: dir, Resources: fakeHost(1, 4096), ReserveMB: -1}
}

var small = Need{CPUs: 1, MemoryMB: 100}

func wantContention(t *testing.T, err error, reason string) *ContentionError {
	t.Helper()
	var ce *ContentionError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *ContentionError", err)
	}
	if !ce.Contention() || len(ce.Hints()) == 0 {
		t.Errorf("ContentionError: Contention() = false or no hints")
	}
	if !strings.Contains(ce.Reason, reason) || !strings.Contains(err.Error(), reason) {
		t.Errorf("err = %q, want its reason to say %q", err, reason)
	}
	return ce
}

// Two processes compete for the one slot of a one-CPU host: the second
// waits, is refused at the end of a short wait, and is admitted as soon
// as the first releases.
func TestTwoProcessesOneSlot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "adm")
	h := startHolder(t, dir, 1)

	_, err := oneCPU(dir).Acquire(t.Context(), small, 200*time.Millisecond)
	ce := wantContention(t, err, "no CPU left")
	if ce.Guests != 1 || ce.InUse != small {
		t.Errorf("ContentionError says %d guests hold %s, want 1 holding %s", ce.Guests, ce.InUse, small)
	}

	ch := acquireAsync(oneCPU(dir), small, time.Minute)
	h.stdin.Close() // the holder releases
	r := <-ch
	if r.err != nil {
		t.Fatalf("Acquire after the release: %v", r.err)
	}
	defer r.slot.Close()
	if line, _ := h.out.ReadString('\n'); strings.TrimSpace(line) != "released" {
		t.Errorf("holder said %q after EOF, want \"released\"", line)
	}
	if r.slot.Path() != h.path {
		t.Errorf("slot %s, want the released %s reused", r.slot.Path(), h.path)
	}
}

// A holder killed with SIGKILL releases its slot (flock semantics); the
// waiter is woken by the close, whatever the poll interval.
func TestReleaseOnSIGKILL(t *testing.T) {
	old := PollInterval
	PollInterval = time.Hour
	t.Cleanup(func() { PollInterval = old })
	dir := filepath.Join(t.TempDir(), "adm")
	h := startHolder(t, dir, 1)
	ch := acquireAsync(oneCPU(dir), small, 10*time.Minute)
	// Let the waiter look once and start waiting (it gets in either way).
	time.Sleep(100 * time.Millisecond)
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatalf("Acquire after SIGKILL of the holder: %v", r.err)
	}
	r.slot.Close()
}

// Memory bounds admission: a second guest that would exceed MemAvailable
// waits, then gets the typed error; one that cannot fit an idle host gets
// it at once.
func TestMemoryBound(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Resources: fakeHost(8, 1000), ReserveMB: -1}
	s, err := o.Acquire(t.Context(), Need{CPUs: 1, MemoryMB: 600}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = o.Acquire(t.Context(), Need{CPUs: 1, MemoryMB: 600}, 100*time.Millisecond)
	wantContention(t, err, "not enough memory")

	// A full hour's wait is not used: the need can never fit.
	_, err = o.Acquire(t.Context(), Need{CPUs: 1, MemoryMB: 1001}, time.Hour)
	ce := wantContention(t, err, "more memory than the host has")
	if ce.Waited > time.Minute {
		t.Errorf("waited %s for an impossible need", ce.Waited)
	}

	// The reserve is kept: 400 MiB would fit, but not with 100 kept.
	o.ReserveMB = 100
	_, err = o.Acquire(t.Context(), Need{CPUs: 1, MemoryMB: 400}, 0)
	wantContention(t, err, "not enough memory")
	o.ReserveMB = -1
	s2, err := o.Acquire(t.Context(), Need{CPUs: 1, MemoryMB: 400}, 0)
	if err != nil {
		t.Fatalf("Acquire of what fits: %v", err)
	}
	s2.Close()
}

// A guest needing more CPUs than the host has is clamped, and runs alone.
func TestCPUClamp(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Resources: fakeHost(2, 4096), ReserveMB: -1}
	s, err := o.Acquire(t.Context(), Need{CPUs: 8, MemoryMB: 1}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Need().CPUs != 2 {
		t.Errorf("Need().CPUs = %d, want 2 (clamped)", s.Need().CPUs)
	}
	_, err = o.Acquire(t.Context(), small, 0)
	wantContention(t, err, "no CPU left")
	s.Close()
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	s, err = o.Acquire(t.Context(), small, 0)
	if err != nil {
		t.Fatalf("Acquire after Close: %v", err)
	}
	s.Close()
}

// A waiter sleeps: over a wait shorter than PollInterval it looks at the
// slots only a bounded number of times (first look, the look after the
// watch exists, the look at the deadline), however long it waits.
func TestWaiterDoesNotSpin(t *testing.T) {
	dir := t.TempDir()
	s, err := oneCPU(dir).Acquire(t.Context(), small, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	scans.Lock()
	before := scans.n
	scans.Unlock()
	_, err = oneCPU(dir).Acquire(t.Context(), small, 1500*time.Millisecond)
	wantContention(t, err, "no CPU left")
	scans.Lock()
	n := scans.n - before
	scans.Unlock()
	if n > 3 {
		t.Errorf("a waiter looked %d times in one wait; want at most 3 (it must sleep on inotify)", n)
	}
}

func TestCancel(t *testing.T) {
	dir := t.TempDir()
	s, err := oneCPU(dir).Acquire(t.Context(), small, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = oneCPU(dir).Acquire(ctx, small, time.Hour)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// A stale claim in a slot nobody holds is ignored; an unreadable claim in
// a held one counts as one CPU.
func TestClaims(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Resources: fakeHost(2, 4096), ReserveMB: -1}
	// Create the directory as Acquire does, then plant slot.0.
	s, err := o.Acquire(t.Context(), small, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	stale := filepath.Join(dir, "slot.0")
	if err := os.WriteFile(stale, []byte(formatClaim(Need{CPUs: 2, MemoryMB: 4000}, 1)), 0o666); err != nil {
		t.Fatal(err)
	}
	s, err = o.Acquire(t.Context(), Need{CPUs: 2, MemoryMB: 4000}, 0)
	if err != nil {
		t.Fatalf("Acquire with a stale claim in slot.0: %v", err)
	}
	s.Close()

	garbage := filepath.Join(dir, "slot.3")
	if err := os.WriteFile(garbage, []byte("whatever\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(garbage)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	_, err = o.Acquire(t.Context(), Need{CPUs: 2, MemoryMB: 1}, 0)
	ce := wantContention(t, err, "no CPU left")
	if ce.InUse != unknownClaim {
		t.Errorf("in use %s, want a garbage claim to count as %s", ce.InUse, unknownClaim)
	}
	s, err = o.Acquire(t.Context(), small, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data, _ := os.ReadFile(s.Path())
	if need, pid, err := parseClaim(data); err != nil || need != small || pid != os.Getpid() {
		t.Errorf("claim %q = %s, %d, %v; want %s of this process", data, need, pid, err, small)
	}
}

func TestGuestNeed(t *testing.T) {
	if got := GuestNeed(4, 1024, true); got != (Need{CPUs: 1, MemoryMB: 1024 + QEMUOverheadMB}) {
		t.Errorf("GuestNeed under TCG = %s", got)
	}
	if got := GuestNeed(4, 1024, false); got.CPUs != 4 {
		t.Errorf("GuestNeed under KVM = %s, want 4 CPUs", got)
	}
	if got := GuestNeed(0, -1, false); got != (Need{CPUs: 1, MemoryMB: QEMUOverheadMB}) {
		t.Errorf("GuestNeed(0, -1) = %s", got)
	}
}

func TestDefaultDir(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	if got := DefaultDir(env(map[string]string{EnvDir: "/x/y/"})); got != "/x/y" {
		t.Errorf("DefaultDir with %s = %q", EnvDir, got)
	}
	got := DefaultDir(env(map[string]string{EnvDir: "relative"}))
	if got != "/run/lock/ktest-admission" && got != "/tmp/ktest-admission" {
		t.Errorf("DefaultDir = %q", got)
	}
}

// Another guest's admission does not wake a waiter: only releases do (an
// admitter never opens a held slot for writing).
func TestAdmissionDoesNotWakeWaiters(t *testing.T) {
	old := PollInterval
	PollInterval = time.Hour
	t.Cleanup(func() { PollInterval = old })
	dir := t.TempDir()
	s, err := oneCPU(dir).Acquire(t.Context(), small, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	scans.Lock()
	before := scans.n
	scans.Unlock()
	ch := acquireAsync(oneCPU(dir), small, 1500*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	// A bigger host's view, so that this one is admitted beside the holder.
	other, err := Options{Dir: dir, Resources: fakeHost(3, 4096), ReserveMB: -1}.Acquire(t.Context(), small, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	r := <-ch
	wantContention(t, r.err, "no CPU left")
	scans.Lock()
	n := scans.n - before
	scans.Unlock()
	if n > 4 { // the waiter's 3 looks and the other admitter's one
		t.Errorf("%d looks: the other admission woke the waiter", n)
	}
}
