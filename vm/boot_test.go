package vm

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests boot the real kernel under QEMU (TCG unless KTEST_ACCEL
// says kvm). Each boot takes a few seconds; they run in parallel.

type testGuestInfo struct { // mirrors testguest.Info
	Release  string   `json:"release"`
	CPUs     int      `json:"cpus"`
	MemTotal uint64   `json:"mem_total"`
	Args     []string `json:"args"`
	InVM     bool     `json:"in_vm"`
	File     string   `json:"file"`
	Cmdline  string   `json:"cmdline"`
}

func bootConfig(t *testing.T, args ...string) Config {
	return Config{
		Kernel:  testKernel(t),
		Guest:   testGuestPkg,
		Args:    args,
		Timeout: 3 * time.Minute, // generous: the machine is shared and -race slows the host side
		TempDir: t.TempDir(),
	}
}

func TestBootReportsKernelCPUsAndMemory(t *testing.T) {
	requireQEMU(t)
	t.Parallel()
	cfg := bootConfig(t, "info", "two words", "ünïcode")
	hello := filepath.Join(t.TempDir(), "hello.txt")
	if err := os.WriteFile(hello, []byte("hello from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Files = map[string]string{"/data/hello.txt": hello}
	cfg.CPUs = 2
	cfg.MemoryMB = 256
	cfg.Cmdline = "ktest_marker=boot-info"
	var live strings.Builder
	cfg.Stdout = &live

	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	line := ""
	for _, l := range strings.Split(res.Output, "\n") {
		if rest, ok := strings.CutPrefix(l, "TESTGUEST-INFO "); ok {
			line = rest
		}
	}
	if line == "" {
		t.Fatalf("no info line in guest output %q\nconsole:\n%s", res.Output, res.Console)
	}
	var info testGuestInfo
	if err := json.Unmarshal([]byte(line), &info); err != nil {
		t.Fatalf("decode info line %q: %v", line, err)
	}
	if want := bzImageRelease(t, cfg.Kernel); info.Release != want {
		t.Errorf("guest kernel release %q, want %q (from the bzImage header)", info.Release, want)
	}
	if info.CPUs != 2 {
		t.Errorf("guest sees %d CPUs, want 2", info.CPUs)
	}
	// The firmware and kernel reserve part of RAM: MemTotal is below the
	// configured size, but not by much.
	const configured = 256 << 20
	if info.MemTotal > configured || info.MemTotal < configured*6/10 {
		t.Errorf("guest MemTotal %d bytes, want between 60%% and 100%% of %d", info.MemTotal, configured)
	}
	if want := []string{"info", "two words", "ünïcode"}; strings.Join(info.Args, "|") != strings.Join(want, "|") {
		t.Errorf("guest args %q, want %q", info.Args, want)
	}
	if !strings.HasPrefix(info.Cmdline, baseCmdline) || !strings.HasSuffix(info.Cmdline, " ktest_marker=boot-info") {
		t.Errorf("guest kernel command line %q, want %q plus Config.Cmdline", info.Cmdline, baseCmdline)
	}
	if !info.InVM {
		t.Error("guest says it is not PID 1 of a VM")
	}
	if info.File != "hello from the host" {
		t.Errorf("/data/hello.txt in the guest = %q, want the host file's content", info.File)
	}
	if res.ExitCode != 0 || res.QEMUExitCode != 0 {
		t.Errorf("exit codes: guest %d, qemu %d; want 0 and 0", res.ExitCode, res.QEMUExitCode)
	}
	if res.BootToVerdict <= 0 || res.BootToVerdict > res.Duration {
		t.Errorf("BootToVerdict %v not in (0, Duration %v]", res.BootToVerdict, res.Duration)
	}
	if !strings.Contains(res.Console, "Linux version "+info.Release) {
		t.Error("console lacks the kernel's boot banner")
	}
	if strings.Contains(res.Console, "\r") {
		t.Error("Console still contains carriage returns")
	}
	if !strings.Contains(live.String(), "TESTGUEST-INFO") {
		t.Error("Config.Stdout did not receive the live console")
	}
}

func TestBootGuestFailureIsGuestError(t *testing.T) {
	requireQEMU(t)
	t.Parallel()
	res, err := Run(context.Background(), bootConfig(t, "fail"))
	t.Logf("Run error:\n%v", err)
	var ge *GuestError
	if !errors.As(err, &ge) {
		t.Fatalf("Run error = %v (%T), want *GuestError", err, err)
	}
	if ge.ExitCode != 3 || ge.Message != "deliberate failure" || ge.Panicked {
		t.Errorf("GuestError = {exit %d, %q, panicked %v}, want {3, \"deliberate failure\", false}", ge.ExitCode, ge.Message, ge.Panicked)
	}
	for _, want := range []string{"testguest: stdout before failing", "testguest: stderr before failing"} {
		if !strings.Contains(ge.Output, want) || !strings.Contains(err.Error(), want) {
			t.Errorf("guest output %q (or the error text) lacks %q", ge.Output, want)
		}
	}
	if res == nil || res.ExitCode != 3 || res.QEMUExitCode != 0 {
		t.Errorf("Result = %+v, want guest exit 3 and QEMU exit 0", res)
	}
}

func TestBootGoroutineCrashIsGuestError(t *testing.T) {
	requireQEMU(t)
	t.Parallel()
	_, err := Run(context.Background(), bootConfig(t, "crash"))
	t.Logf("Run error:\n%v", err)
	var ge *GuestError
	if !errors.As(err, &ge) {
		t.Fatalf("Run error = %v (%T), want *GuestError", err, err)
	}
	if ge.ExitCode != 2 || !strings.Contains(ge.Message, "without reporting a verdict") {
		t.Errorf("GuestError = {exit %d, %q}, want exit 2 (Go's panic status) and a missing-verdict message", ge.ExitCode, ge.Message)
	}
	if !strings.Contains(ge.Output, "deliberate goroutine panic") {
		t.Errorf("guest output lacks the panic message:\n%s", ge.Output)
	}
}

func TestBootTimeoutKillsQEMU(t *testing.T) {
	requireQEMU(t)
	t.Parallel()
	cfg := bootConfig(t)
	cfg.Cmdline = "ktest_testguest=hang-raw" // the guest blocks without guest.Main
	cfg.Timeout = 10 * time.Second
	res, err := Run(context.Background(), cfg)
	t.Logf("Run error:\n%v", err)
	var te *TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("Run error = %v (%T), want *TimeoutError", err, err)
	}
	if te.Timeout != cfg.Timeout {
		t.Errorf("TimeoutError.Timeout = %v, want %v", te.Timeout, cfg.Timeout)
	}
	// The kernel started /init, which hung before guest.Main could speak
	// (unless the machine is so loaded that the kernel itself took 10 s).
	if te.Phase != PhaseInit && te.Phase != PhaseKernel {
		t.Errorf("TimeoutError.Phase = %q, want %q (or %q on a very slow host)", te.Phase, PhaseInit, PhaseKernel)
	}
	if res == nil || res.QEMUExitCode != -1 {
		t.Errorf("Result = %+v, want QEMU killed (exit -1)", res)
	}
	// On a host so loaded that QEMU printed nothing before the deadline
	// there is no tail to carry; otherwise there must be one.
	if te.Phase != PhaseKernel && (te.ConsoleTail == "" || !strings.Contains(err.Error(), "console tail")) {
		t.Errorf("TimeoutError carries no console tail: %v", err)
	}
	if procs := qemuProcessesMatching(t, cfg.TempDir); len(procs) > 0 {
		t.Errorf("QEMU still running after Run returned:\n%s", strings.Join(procs, "\n"))
	}
	if left, _ := os.ReadDir(cfg.TempDir); len(left) > 0 {
		t.Errorf("scratch files left in %s: %v", cfg.TempDir, left)
	}
}

func TestBootContextCancelKillsQEMU(t *testing.T) {
	requireQEMU(t)
	t.Parallel()
	cfg := bootConfig(t)
	cfg.Cmdline = "ktest_testguest=hang-raw"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once the kernel is visibly running, so the kill hits a live VM.
	// The console arrives in arbitrary chunks: match on all of it so far.
	var seen strings.Builder
	cfg.Stdout = writerFunc(func(p []byte) {
		seen.Write(p)
		if strings.Contains(seen.String(), "Linux version") {
			cancel()
		}
	})
	_, err := Run(ctx, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error = %v, want one wrapping context.Canceled", err)
	}
	if procs := qemuProcessesMatching(t, cfg.TempDir); len(procs) > 0 {
		t.Errorf("QEMU still running after Run returned:\n%s", strings.Join(procs, "\n"))
	}
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

func TestBootCorruptInitramfsIsBootError(t *testing.T) {
	requireQEMU(t)
	t.Parallel()
	cfg, err := bootConfig(t).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	// Run always writes a valid initramfs, so hand QEMU a corrupt one
	// through the same boot path.
	initrd := filepath.Join(cfg.TempDir, "corrupt.cpio")
	if err := os.WriteFile(initrd, []byte(strings.Repeat("not a cpio archive\n", 500)), 0o644); err != nil {
		t.Fatal(err)
	}
	qemu := lookQEMU(t)
	_, err = boot(context.Background(), cfg, qemu, qemuArgs(cfg, initrd), "nonce")
	t.Logf("Run error:\n%v", err)
	var be *BootError
	if !errors.As(err, &be) {
		t.Fatalf("boot error = %v (%T), want *BootError", err, err)
	}
	if !strings.Contains(be.Reason, "initramfs is corrupt") {
		t.Errorf("BootError reason %q does not say the initramfs is corrupt", be.Reason)
	}
	if !strings.Contains(be.ConsoleTail, "Kernel panic") {
		t.Errorf("BootError console tail lacks the kernel panic:\n%s", be.ConsoleTail)
	}
}

func TestBootCorruptKernelIsBootError(t *testing.T) {
	requireQEMU(t)
	t.Parallel()
	cfg := bootConfig(t, "info")
	junk := make([]byte, 1<<20)
	for i := range junk {
		junk[i] = byte(i*7919 + i>>8) // deterministic garbage, no bzImage header
	}
	cfg.Kernel = filepath.Join(cfg.TempDir, "junk-kernel")
	if err := os.WriteFile(cfg.Kernel, junk, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), cfg)
	t.Logf("Run error:\n%v", err)
	var be *BootError
	if !errors.As(err, &be) {
		t.Fatalf("Run error = %v (%T), want *BootError", err, err)
	}
	if !strings.Contains(be.Reason, "could not load the kernel") || !strings.Contains(be.Reason, cfg.Kernel) {
		t.Errorf("BootError reason %q does not name the unloadable kernel", be.Reason)
	}
}

// TestBootKVMEitherBootsOrExplains asks for KVM. Where ktest's probe found
// KVM accelerated (KTEST_ACCEL=kvm), the boot must succeed. Elsewhere a
// /dev/kvm that opens may still fail in any way (an emulation failure at
// once, or a guest that crawls), so the test accepts a success, or a
// failure within a short bound that explains itself: a *BootError or a
// *TimeoutError that suggests TCG. It never waits for a slow KVM to finish.
func TestBootKVMEitherBootsOrExplains(t *testing.T) {
	requireQEMU(t)
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err != nil {
		t.Skipf("ktest: SKIP: no-kvm: %v", err)
	} else {
		f.Close()
	}
	t.Parallel()
	accelerated := os.Getenv(AccelEnv) == AccelKVM
	cfg := bootConfig(t, "info")
	cfg.Accel = AccelKVM
	cfg.Timeout = 20 * time.Second
	if accelerated {
		cfg.Timeout = time.Minute
	}
	res, err := Run(context.Background(), cfg)
	if err == nil {
		if !strings.Contains(res.Output, "TESTGUEST-INFO") {
			t.Errorf("KVM boot succeeded without the info line: %q", res.Output)
		}
		return
	}
	t.Logf("Run error:\n%v", err)
	if accelerated {
		t.Fatalf("KTEST_ACCEL=kvm, but the KVM boot failed: %v", err)
	}
	var be *BootError
	var te *TimeoutError
	switch {
	case errors.As(err, &be):
		if !strings.Contains(be.Reason, `use Accel "tcg"`) {
			t.Errorf("BootError does not suggest tcg: %v", err)
		}
	case errors.As(err, &te):
		if !strings.Contains(te.Error(), `use Accel "tcg"`) {
			t.Errorf("TimeoutError does not suggest tcg: %v", err)
		}
	default:
		t.Errorf("Run error = %v (%T), want a *BootError or *TimeoutError that suggests tcg", err, err)
	}
}
