package preflight

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Tests against the real KVM device (skipped without one). The uncached
// throughput probe costs up to its budget (100 ms by default), so these
// tests use a short budget where the figure does not matter.

// hostHasHardwareVirt reports whether the CPU advertises VT-x or AMD-V. Without
// either, real hardware acceleration is impossible and the probe must say tcg.
func hostHasHardwareVirt(t *testing.T) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skipf("cannot read /proc/cpuinfo: %v", err)
	}
	for line := range strings.Lines(string(data)) {
		if strings.HasPrefix(line, "flags") {
			for _, f := range strings.Fields(line) {
				if f == "vmx" || f == "svm" {
					return true
				}
			}
		}
	}
	return false
}

// openFDs lists this process's fds with their targets, to spot leaks.
func openFDs(t *testing.T) map[string]string {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	fds := map[string]string{}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && !strings.HasSuffix(target, "/fd") { // skip ReadDir's own fd
			fds[e.Name()] = target
		}
	}
	return fds
}

// kvmMappings returns the lines of /proc/self/maps that map a KVM anon inode
// (the kvm_run of a vCPU).
func kvmMappings(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for line := range strings.Lines(string(data)) {
		if strings.Contains(line, "kvm") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// The full uncached check on the real device: API version 12, the HLT probe
// saw `out 0x10, 0x42` then HLT, the throughput probe measured something and
// the verdict follows from the figure. Afterwards no fd, kvm_run mapping or
// goroutine is left behind.
func TestCheckKVMRealDevice(t *testing.T) {
	dev := requireKVM(t)
	fdsBefore := openFDs(t)
	goroutinesBefore := runtime.NumGoroutine()

	rep, err := CheckKVM(context.Background(), KVMOptions{Device: dev, NoCache: true})
	if err != nil {
		t.Fatalf("CheckKVM(%s): %v", dev, err)
	}
	js, _ := json.MarshalIndent(rep, "", "  ")
	t.Logf("report:\n%s", js)

	if rep.APIVersion != 12 {
		t.Errorf("API version %d, want 12", rep.APIVersion)
	}
	if !rep.HLTProbePassed || rep.ProbeIOPort != 0x10 || rep.ProbeIOValue != 0x42 {
		t.Errorf("HLT probe: passed=%v port=%#x value=%#x, want passed, port 0x10, value 0x42",
			rep.HLTProbePassed, rep.ProbeIOPort, rep.ProbeIOValue)
	}
	if rep.ThroughputIterations <= 0 || rep.ThroughputIterations > DefaultProbeIterations || rep.ThroughputElapsed <= 0 {
		t.Errorf("throughput probe: %d iterations in %v", rep.ThroughputIterations, rep.ThroughputElapsed)
	}
	if rep.ThroughputBudgetHit && rep.ThroughputIterations >= DefaultProbeIterations {
		t.Errorf("budget hit, yet all %d iterations counted", rep.ThroughputIterations)
	}
	if rep.ThroughputIterations < DefaultProbeIterations && !rep.ThroughputBudgetHit {
		t.Errorf("%d of %d iterations ran but the budget was not hit", rep.ThroughputIterations, DefaultProbeIterations)
	}
	if want := ClassifyAccel(rep.NsPerIteration); rep.Accel != want {
		t.Errorf("accel %q for %.1f ns/iteration, want %q", rep.Accel, rep.NsPerIteration, want)
	}
	if !hostHasHardwareVirt(t) && rep.Accel != AccelTCG {
		t.Errorf("no vmx/svm CPU flag, yet accel %q (%.1f ns/iteration)", rep.Accel, rep.NsPerIteration)
	}
	if want := AccelStatus(rep.Accel, rep.NsPerIteration); rep.Status != want {
		t.Errorf("status %q, want %q", rep.Status, want)
	}
	if rep.Cached || rep.BootID != "" || rep.ProbeCost <= 0 {
		t.Errorf("NoCache run: cached=%v boot_id=%q probe_cost=%v", rep.Cached, rep.BootID, rep.ProbeCost)
	}

	if leaked := diffFDs(fdsBefore, openFDs(t)); len(leaked) > 0 {
		t.Errorf("fds left open: %v", leaked)
	}
	if m := kvmMappings(t); len(m) > 0 {
		t.Errorf("KVM mappings left: %q", m)
	}
	waitGoroutines(t, goroutinesBefore)
}

func diffFDs(before, after map[string]string) []string {
	var leaked []string
	for fd, target := range after {
		if before[fd] != target {
			leaked = append(leaked, fd+" -> "+target)
		}
	}
	return leaked
}

// waitGoroutines fails if more goroutines than want are still running once
// the runtime had a moment to retire exiting ones.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	for range 100 {
		if runtime.NumGoroutine() <= want {
			return
		}
		time.Sleep(time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	t.Errorf("%d goroutines, had %d before:\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
}

// A loop short enough to finish inside its budget ends with HLT and counts
// every iteration.
func TestCheckKVMThroughputLoopCompletes(t *testing.T) {
	dev := requireKVM(t)
	const n = 1000
	rep, err := CheckKVM(context.Background(), KVMOptions{Device: dev, NoCache: true, ProbeIterations: n, ProbeBudget: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ThroughputIterations != n || rep.ThroughputBudgetHit {
		t.Errorf("got %d iterations, budget hit %v; want all %d, budget not hit", rep.ThroughputIterations, rep.ThroughputBudgetHit, n)
	}
}

// A loop far too long for its budget (4e9 iterations take seconds even on
// hardware) is stopped by the kicker: some iterations but not all are
// counted, read back from the guest's ecx.
func TestCheckKVMThroughputBudget(t *testing.T) {
	dev := requireKVM(t)
	const n = 4_000_000_000
	rep, err := CheckKVM(context.Background(), KVMOptions{Device: dev, NoCache: true, ProbeIterations: n, ProbeBudget: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.ThroughputBudgetHit || rep.ThroughputIterations <= 0 || rep.ThroughputIterations >= n {
		t.Errorf("got %d of %d iterations, budget hit %v; want the budget to stop a partial loop",
			rep.ThroughputIterations, n, rep.ThroughputBudgetHit)
	}
	if want := nsPerIteration(rep.ThroughputElapsed, rep.ThroughputIterations); rep.NsPerIteration != want {
		t.Errorf("ns/iteration %v, want elapsed/iterations %v", rep.NsPerIteration, want)
	}
}

// Cancelling the context stops a probe that would otherwise run for
// seconds: the kicker interrupts KVM_RUN, and the error wraps the context's.
func TestCheckKVMCancelDuringProbe(t *testing.T) {
	dev := requireKVM(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	probing := make(chan struct{})
	go func() {
		<-probing
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	opts := KVMOptions{Device: dev, NoCache: true, ProbeIterations: 4_000_000_000, ProbeBudget: time.Hour,
		onProbe: func() { close(probing) }}
	goroutinesBefore := runtime.NumGoroutine()
	rep, err := CheckKVM(ctx, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled (report %+v)", err, rep)
	}
	if rep.Accel != AccelTCG {
		t.Errorf("cancelled check reports accel %q", rep.Accel)
	}
	waitGoroutines(t, goroutinesBefore)
}

// The per-boot cache on the real device: the first check probes and writes
// the cache, the second takes the verdict from it without probing, another
// boot_id or another device path probes again. Probes are counted through
// the onProbe hook, not timed.
func TestCheckKVMCache(t *testing.T) {
	dev := requireKVM(t)
	dir := t.TempDir()
	probes := 0
	opts := KVMOptions{Device: dev, CacheDir: dir, BootID: "boot-a", ProbeBudget: 10 * time.Millisecond,
		onProbe: func() { probes++ }}
	check := func(o KVMOptions) KVMReport {
		t.Helper()
		rep, err := CheckKVM(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if rep.CacheNote != "" {
			t.Errorf("cache note: %s", rep.CacheNote)
		}
		return rep
	}

	first := check(opts)
	if first.Cached || probes != 1 {
		t.Fatalf("cold cache: cached=%v probes=%d, want a probe", first.Cached, probes)
	}
	data, err := os.ReadFile(filepath.Join(dir, probeCacheFileName))
	if err != nil {
		t.Fatalf("cache file not written: %v", err)
	}
	if !bytes.Contains(data, []byte(`"boot_id": "boot-a"`)) {
		t.Errorf("cache file lacks the boot id:\n%s", data)
	}

	second := check(opts)
	if !second.Cached || probes != 1 {
		t.Fatalf("warm cache: cached=%v probes=%d, want the cached verdict and no probe", second.Cached, probes)
	}
	if second.ProbeCost != 0 || second.APIVersion != 12 {
		t.Errorf("warm cache: probe cost %v, API version %d", second.ProbeCost, second.APIVersion)
	}
	if second.NsPerIteration != first.NsPerIteration || second.ThroughputIterations != first.ThroughputIterations ||
		second.Accel != first.Accel || second.Status != first.Status || !second.ProbedAt.Equal(first.ProbedAt) ||
		!second.HLTProbePassed {
		t.Errorf("cached verdict differs:\nfirst  %+v\nsecond %+v", first, second)
	}

	otherBoot := opts
	otherBoot.BootID = "boot-b"
	if rep := check(otherBoot); rep.Cached || probes != 2 {
		t.Fatalf("new boot: cached=%v probes=%d, want a new probe", rep.Cached, probes)
	}
	if rep := check(otherBoot); !rep.Cached || probes != 2 {
		t.Fatalf("new boot, second check: cached=%v probes=%d", rep.Cached, probes)
	}
	if rep := check(opts); rep.Cached || probes != 3 {
		t.Fatalf("boot-a again after boot-b replaced the file: cached=%v probes=%d", rep.Cached, probes)
	}

	// Another path to the same node is another key.
	link := filepath.Join(t.TempDir(), "kvm-link")
	if err := os.Symlink(dev, link); err != nil {
		t.Fatal(err)
	}
	viaLink := opts
	viaLink.Device = link
	if rep := check(viaLink); rep.Cached || probes != 4 {
		t.Fatalf("other device path: cached=%v probes=%d", rep.Cached, probes)
	}
	// Both paths now have entries for boot-a.
	if rep := check(opts); !rep.Cached || probes != 4 {
		t.Fatalf("first path after the second was added: cached=%v probes=%d", rep.Cached, probes)
	}

	// NoCache neither reads nor writes.
	noCache := opts
	noCache.NoCache = true
	if rep := check(noCache); rep.Cached || probes != 5 {
		t.Fatalf("NoCache: cached=%v probes=%d", rep.Cached, probes)
	}
}

func ExampleCheckKVM() {
	rep, err := CheckKVM(context.Background(), KVMOptions{})
	var kerr *KVMError
	switch {
	case errors.As(err, &kerr):
		fmt.Printf("ktest: %s\n  hint: %s\n", kerr, kerr.Hint)
	case err != nil:
		fmt.Println("ktest:", err)
	default:
		fmt.Printf("%s; KTEST_ACCEL=%s\n", rep.Status, rep.Accel)
	}
}

// A cancellation that comes before or during the HLT probe (which may
// finish anyway) still ends the check with the context's error, never a
// verdict without a throughput figure.
func TestCheckKVMCancelBeforeThroughput(t *testing.T) {
	dev := requireKVM(t)
	for _, at := range []string{"before the HLT probe", "after the HLT probe"} {
		ctx, cancel := context.WithCancel(context.Background())
		opts := KVMOptions{Device: dev, NoCache: true}
		if at == "before the HLT probe" {
			opts.onProbe = cancel
		} else {
			opts.afterHLT = cancel
		}
		rep, err := CheckKVM(ctx, opts)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled %s: err = %v, want context.Canceled (report %+v)", at, err, rep)
		}
	}
}
