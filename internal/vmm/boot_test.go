package vmm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/kernelimage"
	"github.com/ktest-dev/ktest/internal/testkernel"
)

// These tests boot the real test kernel under the real QEMU and virtiofsd
// (they skip without them). The guest's init is this test binary (see
// TestMain).

// syncBuffer is a bytes.Buffer safe for the run's writer goroutine and a
// test's polling.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type vmRun struct {
	res            *Result
	err            error
	stdout, stderr *syncBuffer
}

// bootSpec is a Spec for the test kernel with the test's defaults.
func bootSpec(t *testing.T, argv ...string) Spec {
	t.Helper()
	k := testkernel.Path(t)
	if _, err := exec.LookPath(DefaultQEMU); err != nil {
		t.Skipf("no %s: %v", DefaultQEMU, err)
	}
	if _, err := findVirtiofsd(""); err != nil {
		t.Skipf("no virtiofsd: %v", err)
	}
	wd, _ := os.Getwd()
	return Spec{
		Kernel: k, CacheDir: testCacheDir, Init: testInit(t),
		Argv: argv, Dir: wd,
		Env:     []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/nonexistent"},
		Timeout: 5 * time.Minute,
	}
}

var (
	initOnce sync.Once
	initPath string
	initErr  error
)

// testInit is the guest's init: this test binary when it is static, else
// (under -race, which links libc) the ktest command built without cgo.
func testInit(t *testing.T) string {
	t.Helper()
	initOnce.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			initErr = err
			return
		}
		if deps, err := elfRuntime(exe); err == nil && len(deps) == 0 {
			initPath = exe
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			initErr = fmt.Errorf("this test binary is dynamic and there is no go command to build a static init: %w", err)
			return
		}
		initPath = filepath.Join(testCacheDir, "ktest-init")
		cmd := exec.Command(goTool, "build", "-o", initPath, "github.com/ktest-dev/ktest/cmd/ktest")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			initErr = fmt.Errorf("build a static init: %v\n%s", err, out)
		}
	})
	if initErr != nil {
		t.Fatal(initErr)
	}
	return initPath
}

func boot(t *testing.T, s Spec) vmRun {
	t.Helper()
	r := vmRun{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	if s.Stdout == nil {
		s.Stdout = r.stdout
	}
	if s.Stderr == nil {
		s.Stderr = r.stderr
	}
	r.res, r.err = Run(context.Background(), s)
	t.Cleanup(func() {
		if t.Failed() && r.res != nil {
			t.Logf("stdout:\n%s\nstderr:\n%s\nconsole:\n%s", r.stdout, r.stderr, r.res.Console)
		}
	})
	return r
}

func release(t *testing.T, k string) string {
	info, err := kernelimage.Inspect(k)
	if err != nil {
		t.Fatal(err)
	}
	return info.Release
}

// One boot checks the guest's whole environment: a shell script prints
// what it finds, one fact per line, and the test compares.
func TestGuestEnvironment(t *testing.T) {
	t.Parallel()
	writable := t.TempDir() // under /tmp: a writable bind inside the guest's tmpfs
	hidden := t.TempDir()   // under /tmp, not writable: the guest's fresh /tmp hides it
	os.WriteFile(filepath.Join(hidden, "present"), []byte("x"), 0o644)
	script := `
echo "pwd=$(pwd)"
echo "uname=$(uname -r)"
echo out-line
echo err-line >&2
touch "$W/made-in-guest" && echo "writable=ok"
touch ./ktest-nope 2>/dev/null && echo "readonly=broken" || echo "readonly=ok"
touch /etc/ktest-nope 2>/dev/null && echo "root=broken" || echo "root=ok"
test -e boot_test.go && echo "host-file=visible"
test -e "$HIDDEN/present" && echo "hidden=visible" || echo "hidden=ok"
echo "tmp=$(awk '$2=="/tmp"{print $3}' /proc/mounts)"
touch /tmp/scratch && echo "tmp-writable=ok"
echo "bpffs=$(awk '$2=="/sys/fs/bpf"{print $3}' /proc/mounts)"
echo "cgroup=$(awk '$2=="/sys/fs/cgroup"{print $3}' /proc/mounts)"
test -s /boot/config-$(uname -r) && echo "config=present"
grep -q '^CONFIG_BPF=y' /boot/config-$(uname -r) && echo "config=real"
echo "memlock=$(ulimit -l)"
cat /sys/class/net/lo/operstate /sys/class/net/lo/flags | tr '\n' ' ' | sed 's/^/lo=/'; echo
modprobe dummy && echo "modprobe=ok"
grep -q '^dummy ' /proc/modules && echo "dummy=loaded"
ip link add kt0 type dummy && echo "iplink=ok"
ip link add kt1 type veth peer name kt2 && grep -q '^veth ' /proc/modules && echo "autoload=ok"
echo "stdin=$(cat)"
exit 0
`
	s := bootSpec(t, "/bin/sh", "-c", script)
	s.Env = append(s.Env, "W="+writable, "HIDDEN="+hidden)
	s.Writable = []string{writable}
	r := boot(t, s)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	if r.res.ExitCode != 0 || r.res.Transport != "virtiofs" || r.res.Channels != "virtio-console" {
		t.Errorf("exit %d, transport %q, channels %q", r.res.ExitCode, r.res.Transport, r.res.Channels)
	}
	out := r.stdout.String()
	for _, want := range []string{
		"pwd=" + s.Dir,
		"uname=" + release(t, s.Kernel),
		"out-line",
		"writable=ok", "readonly=ok", "root=ok", "host-file=visible", "hidden=ok",
		"tmp=tmpfs", "tmp-writable=ok",
		"bpffs=bpf", "cgroup=cgroup2",
		"config=present", "config=real",
		"memlock=unlimited",
		"modprobe=ok", "dummy=loaded", "iplink=ok",
		"autoload=ok", // the kernel's own request_module, answered by the init
		"stdin=",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("stdout lacks %q", want)
		}
	}
	if !strings.Contains(out, "lo=") || strings.Contains(out, "lo=down") {
		t.Errorf("lo not up: %q", out)
	}
	if got := r.stderr.String(); got != "err-line\n" {
		t.Errorf("stderr = %q, want only the program's line", got)
	}
	// Kernel output and program output never mix.
	if strings.Contains(out, "] ") || strings.Contains(out, "ktest-init") {
		t.Errorf("kernel console in stdout: %q", out)
	}
	if strings.Contains(r.res.Console, "out-line") || strings.Contains(r.res.Console, "err-line") {
		t.Errorf("program output on the console")
	}
	if _, err := os.Stat(filepath.Join(writable, "made-in-guest")); err != nil {
		t.Errorf("the guest's file is not on the host: %v", err)
	}
	if _, err := os.Stat("ktest-nope"); err == nil {
		os.Remove("ktest-nope")
		t.Errorf("the guest wrote into a read-only directory")
	}
	if r.res.Boot <= 0 || r.res.Total < r.res.Boot {
		t.Errorf("Boot %v, Total %v", r.res.Boot, r.res.Total)
	}
}

func TestExitStatus(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		script string
		code   int
		signal int
		stdout string
	}{
		{"echo zero", 0, 0, "zero\n"},
		{"echo one; exit 1", 1, 0, "one\n"},
		{"exit 2", 2, 0, ""},
		{"exit 7", 7, 0, ""},
		{"echo dying; kill -SEGV $$", 128 + int(syscall.SIGSEGV), int(syscall.SIGSEGV), "dying\n"},
	} {
		t.Run(fmt.Sprint(c.code), func(t *testing.T) {
			t.Parallel()
			r := boot(t, bootSpec(t, "/bin/sh", "-c", c.script))
			if r.err != nil {
				t.Fatalf("Run: %v", r.err)
			}
			if r.res.ExitCode != c.code || r.res.Signal != c.signal {
				t.Errorf("exit %d signal %d, want %d and %d", r.res.ExitCode, r.res.Signal, c.code, c.signal)
			}
			if got := r.stdout.String(); got != c.stdout {
				t.Errorf("stdout %q, want %q", got, c.stdout)
			}
		})
	}
}

// buildProgram builds a Go program (main package source) into a temp dir.
func buildProgram(t *testing.T, src string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module prog\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644)
	bin := filepath.Join(dir, "prog")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// go test's SIGQUIT at -timeout reaches the program in the guest, whose
// runtime then prints its goroutines and exits 2, as on the host.
func TestSignalForwarded(t *testing.T) {
	t.Parallel()
	bin := buildProgram(t, `package main

import (
	"fmt"
	"time"
)

func main() {
	fmt.Println("ready")
	for {
		time.Sleep(time.Hour)
	}
}
`)
	s := bootSpec(t, bin)
	sigs := make(chan os.Signal, 1)
	s.Signals = sigs
	stdout := &syncBuffer{}
	s.Stdout = stdout
	go func() {
		for !strings.Contains(stdout.String(), "ready") {
			time.Sleep(50 * time.Millisecond)
		}
		sigs <- syscall.SIGQUIT
	}()
	r := boot(t, s)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	if r.res.ExitCode != 2 {
		t.Errorf("exit %d, want 2 (the Go runtime's SIGQUIT exit)", r.res.ExitCode)
	}
	if e := r.stderr.String(); !strings.Contains(e, "SIGQUIT") || !strings.Contains(e, "goroutine 1") {
		t.Errorf("stderr lacks the program's goroutine dump:\n%s", e)
	}
}

// At the hard bound the guest's blocked tasks and CPUs' backtraces are
// collected before the VM is killed.
func TestHardBoundDumps(t *testing.T) {
	t.Parallel()
	s := bootSpec(t, "/bin/sh", "-c", "echo ready; exec sleep 1000")
	stdout := &syncBuffer{}
	s.Stdout = stdout
	s.Timeout = 45 * time.Second
	r := boot(t, s)
	var be *BootError
	if !errors.As(r.err, &be) || !be.TimedOut {
		t.Fatalf("Run: %v, want a *BootError with TimedOut", r.err)
	}
	if !strings.Contains(stdout.String(), "ready") {
		t.Fatalf("the program never started (boot slower than the bound?)")
	}
	d := r.res.Dump
	if !strings.Contains(d, "sysrq") && !strings.Contains(d, "SysRq") {
		t.Errorf("dump lacks the sysrq output:\n%s", d)
	}
	if !strings.Contains(d, "Show Blocked State") || !strings.Contains(d, "NMI backtrace") {
		t.Errorf("dump lacks the blocked tasks or the CPUs' backtraces:\n%s", d)
	}
	if r.res.ExitCode != -1 {
		t.Errorf("exit %d, want -1 (no verdict)", r.res.ExitCode)
	}
}

func TestKernelPanicIsBootFailure(t *testing.T) {
	t.Parallel()
	r := boot(t, bootSpec(t, "/bin/sh", "-c", "echo c > /proc/sysrq-trigger; sleep 100"))
	var be *BootError
	if !errors.As(r.err, &be) || be.TimedOut {
		t.Fatalf("Run: %v, want a *BootError", r.err)
	}
	if !strings.Contains(be.Reason, "Kernel panic") || !strings.Contains(be.ConsoleTail, "Kernel panic") {
		c := r.res.Console
		t.Errorf("reason %q, tail:\n%s\nconsole end %q", be.Reason, be.ConsoleTail, c[max(0, len(c)-300):])
	}
}

func TestMissingProgramIsBootFailure(t *testing.T) {
	t.Parallel()
	r := boot(t, bootSpec(t, "/nonexistent/prog"))
	var be *BootError
	if !errors.As(r.err, &be) || !strings.Contains(be.Reason, "/nonexistent/prog") {
		t.Fatalf("Run: %v, want a *BootError naming the program", r.err)
	}
}

func TestQEMUFailureIsBootFailure(t *testing.T) {
	t.Parallel()
	s := bootSpec(t, "/bin/true")
	fake := filepath.Join(t.TempDir(), "qemu")
	os.WriteFile(fake, []byte("#!/bin/sh\necho 'qemu-system-x86_64: cannot set up guest memory' >&2\nexit 1\n"), 0o755)
	s.QEMU = fake
	r := boot(t, s)
	var be *BootError
	if !errors.As(r.err, &be) || !strings.Contains(be.Reason, "status 1") || !strings.Contains(be.Reason, "cannot set up guest memory") {
		t.Fatalf("Run: %v, want a *BootError with QEMU's status and message", r.err)
	}
	if r.res == nil || r.res.ExitCode != -1 {
		t.Errorf("result %+v", r.res)
	}
}

func TestMissingToolsAreSetupErrors(t *testing.T) {
	t.Parallel()
	k := testkernel.Path(t)
	for _, s := range []Spec{
		{Kernel: k, Argv: []string{"/bin/true"}, QEMU: "/nonexistent/qemu", CacheDir: testCacheDir},
		{Kernel: k, Argv: []string{"/bin/true"}, Virtiofsd: "/nonexistent/virtiofsd", CacheDir: testCacheDir},
	} {
		res, err := Run(context.Background(), s)
		var se *SetupError
		if !errors.As(err, &se) || se.Hint == "" || res != nil {
			t.Errorf("Run(%+v) = %v, %v; want a *SetupError with a hint", s, res, err)
		}
	}
}

// A guest whose init does not answer the dump request (here: still in a
// setup command, before it serves the control channel) gets sysrq w and l
// typed on its serial line, then an NMI.
func TestHardBoundDumpsWhenInitDoesNotAnswer(t *testing.T) {
	t.Parallel()
	s := bootSpec(t, "/bin/true")
	s.Setup = []string{"sleep 1000"}
	s.Timeout = 45 * time.Second
	r := boot(t, s)
	var be *BootError
	if !errors.As(r.err, &be) || !be.TimedOut {
		t.Fatalf("Run: %v, want a *BootError with TimedOut", r.err)
	}
	if d := r.res.Dump; !strings.Contains(d, "Show Blocked State") || !strings.Contains(d, "NMI backtrace") || !strings.Contains(d, "Call Trace") {
		t.Errorf("dump lacks the blocked tasks or the CPUs' backtraces:\n%s", d)
	}
}

// Output written just before the program exits arrives whole: the exit
// report counts it, and the host reads that much before it ends the VM.
func TestLargeOutputArrivesWhole(t *testing.T) {
	t.Parallel()
	r := boot(t, bootSpec(t, "/bin/sh", "-c", `head -c 3000000 /dev/zero | tr '\0' x; head -c 1000000 /dev/zero | tr '\0' y >&2; exit 4`))
	if r.err != nil || r.res.ExitCode != 4 {
		t.Fatalf("Run: %v (exit %d)", r.err, r.res.ExitCode)
	}
	out, errs := r.stdout.String(), r.stderr.String()
	if len(out) != 3000000 || strings.Trim(out, "x") != "" || len(errs) != 1000000 || strings.Trim(errs, "y") != "" {
		t.Errorf("stdout %d bytes, stderr %d bytes; want 3000000 x and 1000000 y", len(out), len(errs))
	}
}

// The Rust virtiofsd (Debian's virtiofsd package) takes other flags than
// QEMU's C one: a boot through it reads the host's files and writes a
// writable directory. It runs when KTEST_RUST_VIRTIOFSD names one
// (scripts/rust-virtiofsd.sh fetches Debian's; test.sh sets it).
func TestRustVirtiofsd(t *testing.T) {
	rust := os.Getenv("KTEST_RUST_VIRTIOFSD")
	if rust == "" {
		t.Skip("KTEST_RUST_VIRTIOFSD is not set (scripts/rust-virtiofsd.sh fetches Debian's Rust virtiofsd)")
	}
	t.Parallel()
	if !virtiofsdIsRust(t.Context(), rust) {
		t.Fatalf("%s is not recognised as the Rust virtiofsd (no --shared-dir in its --help)", rust)
	}
	w := t.TempDir()
	s := bootSpec(t, "/bin/sh", "-c", `test -s boot_test.go && echo host-file=visible; touch "$W/made" && echo writable=ok`)
	s.Virtiofsd, s.Transport = rust, "virtiofs"
	s.Env = append(s.Env, "W="+w)
	s.Writable = []string{w}
	r := boot(t, s)
	if r.err != nil || r.res.ExitCode != 0 || r.res.Transport != "virtiofs" {
		t.Fatalf("Run: %v (exit %d, transport %q)", r.err, r.res.ExitCode, r.res.Transport)
	}
	if out := r.stdout.String(); out != "host-file=visible\nwritable=ok\n" {
		t.Errorf("stdout %q", out)
	}
	if _, err := os.Stat(filepath.Join(w, "made")); err != nil {
		t.Errorf("the guest's file is not on the host: %v", err)
	}
}
