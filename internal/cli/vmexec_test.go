package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/runner"
	"github.com/ktest-dev/ktest/internal/vmconfig"
	"github.com/ktest-dev/ktest/internal/vmenv"
	"github.com/ktest-dev/ktest/internal/vmm"
)

// vmExecFixture is a package directory inside a module, a go-build $WORK
// with a test binary, and the environment ktest --vm gives vm-exec.
type vmExecFixture struct {
	module, pkg, work, binary, sidecars, gocache string
	env                                          []string
}

func newVMExecFixture(t *testing.T) *vmExecFixture {
	t.Helper()
	root := t.TempDir()
	f := &vmExecFixture{
		module:   filepath.Join(root, "mod"),
		pkg:      filepath.Join(root, "mod", "sub", "pkg"),
		work:     filepath.Join(root, "go-build123"),
		sidecars: filepath.Join(root, "runs", "r1"),
		gocache:  filepath.Join(root, "gocache"),
	}
	f.binary = filepath.Join(f.work, "b001", "pkg.test")
	for _, d := range []string{f.pkg, filepath.Dir(f.binary), f.sidecars, f.gocache, filepath.Join(f.work, "b001", "gocoverdir")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(f.module, "go.mod"), []byte("module example.com/m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := vmenv.Config{CPUs: 2, MemoryMB: 1024, Accel: "tcg", Transport: vmenv.TransportVirtiofs, QEMU: "/usr/bin/qemu-system-x86_64",
		Virtiofsd: "/usr/lib/qemu/virtiofsd", Modules: []string{"dummy"}, Setup: []string{"ip link"}}
	f.env = []string{
		cfg.EnvVar(),
		"KTSTR_TEST_KERNEL=/cache/k/bzImage",
		"KTEST_KERNEL_RELEASE=6.1.0-test",
		"KTEST_SIDECAR_DIR=" + f.sidecars,
		"GOCACHE=" + f.gocache,
		"KTEST_ADMISSION_DIR=" + filepath.Join(root, "admission"),
		"KTEST_RUN_ID=r1",
		"HOME=/nonexistent",
		"FOO=bar",
	}
	return f
}

// run runs vm-exec with engine and returns its error, the spec the engine
// got, and stdout and stderr.
func (f *vmExecFixture) run(t *testing.T, args []string, engine func(vmm.Spec) (*vmm.Result, error)) (error, vmm.Spec, string, string) {
	t.Helper()
	var got vmm.Spec
	var stdout, stderr bytes.Buffer
	host := vmExecHost{env: f.env, dir: f.pkg, signals: make(chan os.Signal), engine: func(_ context.Context, s vmm.Spec) (*vmm.Result, error) {
		got = s
		return engine(s)
	}}
	err := vmExec(context.Background(), args, IO{Stdout: &stdout, Stderr: &stderr}, host)
	return err, got, stdout.String(), stderr.String()
}

func exited(code int) func(vmm.Spec) (*vmm.Result, error) {
	return func(vmm.Spec) (*vmm.Result, error) { return &vmm.Result{ExitCode: code, Transport: "virtiofs"}, nil }
}

// TestVMExecSpec pins what vm-exec asks the engine for: go's argv,
// environment (without the wrapper's configuration) and directory, the
// writable directories, the guest's shape and the hard bound.
func TestVMExecSpec(t *testing.T) {
	f := newVMExecFixture(t)
	args := []string{f.binary, "-test.paniconexit0", "-test.timeout=1m0s", "-test.gocoverdir=" + filepath.Join(f.work, "b001", "gocoverdir"),
		"-test.coverprofile", filepath.Join(f.module, "cover.out"), "-test.v=test2json"}
	err, spec, _, _ := f.run(t, args, exited(0))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(spec.Argv, args) || spec.Dir != f.pkg || spec.Kernel != "/cache/k/bzImage" {
		t.Errorf("argv %q dir %q kernel %q", spec.Argv, spec.Dir, spec.Kernel)
	}
	if slices.ContainsFunc(spec.Env, func(kv string) bool { return strings.HasPrefix(kv, vmenv.Env+"=") }) || !slices.Contains(spec.Env, "FOO=bar") {
		t.Errorf("env %q: want go's without %s", spec.Env, vmenv.Env)
	}
	// The module (holding cover.out's directory), $WORK (holding the
	// gocoverdir) and GOCACHE.
	want := []string{f.gocache, f.work, f.module}
	slices.Sort(want)
	if !slices.Equal(spec.Writable, want) {
		t.Errorf("writable %q, want %q", spec.Writable, want)
	}
	if spec.CPUs != 2 || spec.MemoryMB != 1024 || spec.Accel != "tcg" || spec.QEMU != "/usr/bin/qemu-system-x86_64" || spec.Virtiofsd != "/usr/lib/qemu/virtiofsd" {
		t.Errorf("shape %+v", spec)
	}
	if !slices.Equal(spec.Modules, []string{"dummy"}) || !slices.Equal(spec.Setup, []string{"ip link"}) {
		t.Errorf("modules %q setup %q", spec.Modules, spec.Setup)
	}
	if spec.Timeout != 90*time.Second {
		t.Errorf("hard bound %s, want -test.timeout + 30s = 1m30s", spec.Timeout)
	}
	if spec.Signals == nil || spec.Stdout == nil || spec.Stderr == nil {
		t.Error("signals, stdout or stderr not set")
	}
	if spec.Transport != vmenv.TransportVirtiofs || spec.ExtractVmlinux == nil {
		t.Errorf("transport %q, ExtractVmlinux set %v: want the pass's transport, and a kernel given by path booting through PVH", spec.Transport, spec.ExtractVmlinux != nil)
	}

	for _, tc := range []struct {
		arg  string
		want time.Duration
	}{{"-test.run=X", 10*time.Minute + 30*time.Second}, {"-test.timeout=0s", 0}, {"-test.timeout=2h", 2*time.Hour + 30*time.Second}} {
		_, spec, _, _ := f.run(t, []string{f.binary, tc.arg}, exited(0))
		if spec.Timeout != tc.want {
			t.Errorf("%s: hard bound %s, want %s", tc.arg, spec.Timeout, tc.want)
		}
	}
}

// TestVMExecExitCodes: the binary's status passes through unchanged (a
// TestMain's 7, a signal death's 128+N); no verdict is 125 with a BOOT
// FAILURE line and the console's tail; bad input is 3.
func TestVMExecExitCodes(t *testing.T) {
	f := newVMExecFixture(t)
	for _, tc := range []struct {
		name    string
		engine  func(vmm.Spec) (*vmm.Result, error)
		code    int
		stderr  []string
		unknown bool // an error main prints itself
	}{
		{name: "pass", engine: exited(0), code: 0},
		{name: "fail", engine: exited(1), code: 1},
		{name: "testmain", engine: exited(7), code: 7},
		{name: "killed", engine: func(vmm.Spec) (*vmm.Result, error) { return &vmm.Result{ExitCode: 128 + 9, Signal: 9}, nil }, code: 137},
		{name: "boot", engine: func(vmm.Spec) (*vmm.Result, error) {
			return &vmm.Result{ExitCode: -1}, &vmm.BootError{Reason: "kernel panic", ConsoleTail: "Kernel panic - not syncing: VFS\n---[ end ]---\n"}
		}, code: 125, stderr: []string{"ktest: BOOT FAILURE on kernel 6.1.0-test: kernel panic\n", "--- kernel console (last lines) ---\nKernel panic - not syncing: VFS\n---[ end ]---\n--- end of kernel console ---\n"}},
		{name: "noverdict", engine: func(vmm.Spec) (*vmm.Result, error) { return &vmm.Result{ExitCode: -1}, nil }, code: 125,
			stderr: []string{"ktest: BOOT FAILURE on kernel 6.1.0-test: the guest gave no exit status"}},
		{name: "setup", engine: func(vmm.Spec) (*vmm.Result, error) {
			return nil, &vmm.SetupError{What: "start virtiofsd", Hint: "install virtiofsd"}
		}, code: 3, unknown: true},
		{name: "other", engine: func(vmm.Spec) (*vmm.Result, error) { return nil, errors.New("socket gone") }, code: 3, unknown: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err, _, _, stderr := f.run(t, []string{f.binary}, tc.engine)
			if got := runner.ExitCode(err); got != tc.code {
				t.Errorf("exit %d (%v), want %d", got, err, tc.code)
			}
			if runner.Reported(err) == tc.unknown && err != nil {
				t.Errorf("Reported(%v) = %v", err, !tc.unknown)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr %q lacks %q", stderr, s)
				}
			}
		})
	}
}

// TestVMExecHardBoundDump: the dump names the test that was running (the
// last === RUN on stdout, with test2json's mark), reaches stderr and a
// sidecar in the run's directory; stdout passes through unchanged.
func TestVMExecHardBoundDump(t *testing.T) {
	f := newVMExecFixture(t)
	out := "\x16=== RUN   TestFirst\n\x16--- PASS: TestFirst (0.00s)\n\x16=== RUN   TestHang\nwaiting"
	err, _, stdout, stderr := f.run(t, []string{f.binary, "-test.timeout=1s"}, func(s vmm.Spec) (*vmm.Result, error) {
		// Split across writes, as a pipe delivers it.
		for _, part := range []string{out[:20], out[20:50], out[50:]} {
			s.Stdout.Write([]byte(part))
		}
		return &vmm.Result{ExitCode: -1, Dump: "sysrq: Show Blocked State\ntask:hang state:D\n"},
			&vmm.BootError{Reason: "hard bound expired", TimedOut: true}
	})
	if runner.ExitCode(err) != 125 {
		t.Errorf("exit %d, want 125", runner.ExitCode(err))
	}
	if stdout != out {
		t.Errorf("stdout %q, want %q", stdout, out)
	}
	for _, s := range []string{
		"ktest: HARD BOUND: pkg.test did not finish within 31s (-test.timeout 1s + 30s); running test: TestHang\n",
		"task:hang state:D\n",
		"ktest: BOOT FAILURE on kernel 6.1.0-test: hard bound expired (while TestHang was running)\n",
		"ktest: guest dump written to " + f.sidecars + "/vm-dumps/pkg-",
	} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}
	files, _ := filepath.Glob(filepath.Join(f.sidecars, "vm-dumps", "pkg-*.txt"))
	if len(files) != 1 {
		t.Fatalf("dump sidecars: %q", files)
	}
	data, _ := os.ReadFile(files[0])
	if !strings.Contains(string(data), "running test: TestHang") || !strings.Contains(string(data), "task:hang state:D") {
		t.Errorf("sidecar: %q", data)
	}
}

// TestVMExecSignals: a signal vm-exec receives reaches the engine, which
// forwards it to the guest's process group.
func TestVMExecSignals(t *testing.T) {
	f := newVMExecFixture(t)
	sigs := make(chan os.Signal, 1)
	host := vmExecHost{env: f.env, dir: f.pkg, signals: sigs, engine: func(_ context.Context, s vmm.Spec) (*vmm.Result, error) {
		sigs <- syscall.SIGQUIT
		select {
		case sig := <-s.Signals:
			return &vmm.Result{ExitCode: 128 + int(sig.(syscall.Signal)), Signal: int(sig.(syscall.Signal))}, nil
		case <-time.After(10 * time.Second):
			return nil, errors.New("no signal")
		}
	}}
	err := vmExec(context.Background(), []string{f.binary}, IO{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}, host)
	if runner.ExitCode(err) != 128+3 {
		t.Errorf("exit %d (%v), want 131", runner.ExitCode(err), err)
	}
}

// TestVMExecConfigErrors: vm-exec outside ktest --vm, or with a
// configuration it cannot read, says so and exits 3 without booting.
func TestVMExecConfigErrors(t *testing.T) {
	f := newVMExecFixture(t)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unset", []string{"KTSTR_TEST_KERNEL=/k"}, []string{f.binary}, "KTEST_VM_CONFIG is not set: ktest vm-exec is run by `ktest --vm`"},
		{"garbage", []string{"KTEST_VM_CONFIG=nope"}, []string{f.binary}, "parse KTEST_VM_CONFIG"},
		{"version", []string{`KTEST_VM_CONFIG={"version":"ktest.vmexec/9"}`}, []string{f.binary}, `version "ktest.vmexec/9"`},
		{"noargs", f.env, nil, "usage: ktest vm-exec BINARY"},
		{"flag", f.env, []string{"-h"}, "usage: ktest vm-exec BINARY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			booted := false
			host := vmExecHost{env: tc.env, dir: f.pkg, engine: func(context.Context, vmm.Spec) (*vmm.Result, error) {
				booted = true
				return &vmm.Result{}, nil
			}}
			err := vmExec(context.Background(), tc.args, IO{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}, host)
			if err == nil || !strings.Contains(err.Error(), tc.want) || runner.ExitCode(err) != 3 || booted {
				t.Errorf("err %v (exit %d, booted %v), want %q and exit 3", err, runner.ExitCode(err), booted, tc.want)
			}
		})
	}
}

// TestVMExecNoKernel: a pass whose tests get no kernel boots nothing; each
// top-level test -test.run selects is reported skipped with the reason's
// banner, in test2json's framing. The binary listed is this test binary.
func TestVMExecNoKernel(t *testing.T) {
	f := newVMExecFixture(t)
	f.env = append(f.env, "KTSTR_TEST_KERNEL=", "KTEST_UNAVAILABLE=contention: host full")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	err, _, stdout, _ := f.run(t, []string{self, "-test.v=test2json", "-test.run=^TestVMExec(Signals|NoKernel)$"}, func(vmm.Spec) (*vmm.Result, error) {
		t.Fatal("booted without a kernel")
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "\x16=== RUN   TestVMExecSignals\n    ktest: SKIP: contention: host full\n\x16--- SKIP: TestVMExecSignals (0.00s)\n" +
		"\x16=== RUN   TestVMExecNoKernel\n    ktest: SKIP: contention: host full\n\x16--- SKIP: TestVMExecNoKernel (0.00s)\n\x16PASS\n"
	if stdout != want {
		t.Errorf("stdout\n%q\nwant\n%q", stdout, want)
	}
}

func TestOutermost(t *testing.T) {
	got := outermost([]string{"/a/b", "/a", "/c", "/ab", "/a/b/c", "/c"})
	if want := []string{"/a", "/ab", "/c"}; !slices.Equal(got, want) {
		t.Errorf("outermost = %q, want %q", got, want)
	}
}

// TestVMExecHostFull: a guest the host cannot admit (more memory than the
// host has) boots nothing; each selected test skips as contention with the
// admission's reason and hints, and a skip sidecar each.
func TestVMExecHostFull(t *testing.T) {
	f := newVMExecFixture(t)
	cfg := vmenv.Config{CPUs: 2, MemoryMB: vmconfig.MaxMemoryMB, Accel: "tcg", Transport: vmenv.TransportVirtiofs, QEMU: "/usr/bin/qemu-system-x86_64"}
	f.env = append(f.env, cfg.EnvVar())
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	err, _, stdout, _ := f.run(t, []string{self, "-test.run=^TestOutermost$"}, func(vmm.Spec) (*vmm.Result, error) {
		t.Fatal("booted a guest the host cannot hold")
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"=== RUN   TestOutermost\n    ktest: SKIP: contention: host admission: no slot for a guest needing", "\n      hint: other guests filled", "--- SKIP: TestOutermost (0.00s)\nPASS\n"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, stdout)
		}
	}
	skips, _ := filepath.Glob(filepath.Join(f.sidecars, "skips", "*.json"))
	if len(skips) != 1 {
		t.Fatalf("skip sidecars %q, want one", skips)
	}
	data, _ := os.ReadFile(skips[0])
	if !strings.Contains(string(data), `"category":"contention"`) || !strings.Contains(string(data), `"test":"TestOutermost"`) || !strings.Contains(string(data), `"run_id":"r1"`) {
		t.Errorf("skip sidecar %s", data)
	}
}

// TestVMExecShape: without --vm-cpus and --vm-memory the package's
// .ktest.toml sizes the guest and gives its modules and setup; the flags
// win over the file; without either, 2 vCPUs and 1 GiB. A broken file is
// exit 3 naming it, before anything boots.
func TestVMExecShape(t *testing.T) {
	f := newVMExecFixture(t)
	f.env = append(f.env, vmenv.Config{Accel: "tcg", Transport: vmenv.TransportVirtiofs}.EnvVar())
	_, spec, _, _ := f.run(t, []string{f.binary}, exited(0))
	if spec.CPUs != 2 || spec.MemoryMB != 1024 || len(spec.Modules) != 0 || len(spec.Setup) != 0 {
		t.Errorf("defaults: %d CPUs, %d MiB, modules %q, setup %q", spec.CPUs, spec.MemoryMB, spec.Modules, spec.Setup)
	}
	toml := filepath.Join(f.module, ".ktest.toml")
	if err := os.WriteFile(toml, []byte("[vm]\ncpus = 3\nmemory = \"512M\"\nmodules = [\"dummy\"]\nsetup = [\"ip link set lo up\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, spec, _, _ = f.run(t, []string{f.binary}, exited(0))
	if spec.CPUs != 3 || spec.MemoryMB != 512 || !slices.Equal(spec.Modules, []string{"dummy"}) || !slices.Equal(spec.Setup, []string{"ip link set lo up"}) {
		t.Errorf(".ktest.toml: %d CPUs, %d MiB, modules %q, setup %q", spec.CPUs, spec.MemoryMB, spec.Modules, spec.Setup)
	}
	f.env = append(f.env, vmenv.Config{CPUs: 1, MemoryMB: 2048, Accel: "tcg", Transport: vmenv.TransportVirtiofs}.EnvVar())
	_, spec, _, _ = f.run(t, []string{f.binary}, exited(0))
	if spec.CPUs != 1 || spec.MemoryMB != 2048 || !slices.Equal(spec.Modules, []string{"dummy"}) {
		t.Errorf("flags over the file: %d CPUs, %d MiB, modules %q", spec.CPUs, spec.MemoryMB, spec.Modules)
	}
	if err := os.WriteFile(toml, []byte("[vm]\ncpu = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err, _, _, _ := f.run(t, []string{f.binary}, func(vmm.Spec) (*vmm.Result, error) {
		t.Error("booted with a broken .ktest.toml")
		return nil, nil
	})
	if err == nil || !strings.Contains(err.Error(), ".ktest.toml:2") || runner.ExitCode(err) != 3 {
		t.Errorf("broken file: %v (exit %d)", err, runner.ExitCode(err))
	}
}

// TestVMExecResultCache: a passing run is stored and replayed byte for
// byte without booting; -test.count bypasses the cache; a failing run is
// not stored; another kernel image is another key.
func TestVMExecResultCache(t *testing.T) {
	f := newVMExecFixture(t)
	cacheHome := t.TempDir()
	kernel := filepath.Join(t.TempDir(), "bzImage")
	for path, data := range map[string]string{f.binary: "binary", kernel: "kernel one"} {
		if err := os.WriteFile(path, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.env = append(f.env, "XDG_CACHE_HOME="+cacheHome, "KTSTR_TEST_KERNEL="+kernel,
		vmenv.Config{CPUs: 2, MemoryMB: 1024, Accel: "tcg", Transport: vmenv.TransportVirtiofs, ResultCache: true}.EnvVar())
	boots := 0
	engine := func(code int) func(s vmm.Spec) (*vmm.Result, error) {
		return func(s vmm.Spec) (*vmm.Result, error) {
			boots++
			s.Stdout.Write([]byte("=== RUN   TestA\n"))
			s.Stderr.Write([]byte("to stderr\n"))
			s.Stdout.Write([]byte("--- PASS: TestA (0.00s)\nPASS\n"))
			return &vmm.Result{ExitCode: code}, nil
		}
	}
	args := []string{f.binary, "-test.paniconexit0", "-test.timeout=10m0s", "-test.v=test2json"}
	err, _, out1, err1 := f.run(t, args, engine(0))
	if err != nil || boots != 1 {
		t.Fatalf("first run: %v, %d boots", err, boots)
	}
	err, _, out2, err2 := f.run(t, args, engine(0))
	if err != nil || boots != 1 || out2 != out1 || err2 != err1 {
		t.Errorf("second run: %v, %d boots; stdout %q (first %q), stderr %q (first %q)", err, boots, out2, out1, err2, err1)
	}
	if _, _, _, _ = f.run(t, append(args, "-test.count=1"), engine(0)); boots != 2 {
		t.Errorf("-count=1: %d boots, want a fresh run", boots)
	}
	if err, _, _, _ := f.run(t, append(args, "-test.run=X"), engine(1)); runner.ExitCode(err) != 1 || boots != 3 {
		t.Errorf("failing run: %v, %d boots", err, boots)
	}
	if err, _, _, _ := f.run(t, append(args, "-test.run=X"), engine(0)); err != nil || boots != 4 {
		t.Errorf("after a failure: %v, %d boots, want a fresh run (failures are not stored)", err, boots)
	}
	if err := os.WriteFile(kernel, []byte("kernel two"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, _, _ = f.run(t, args, engine(0)); boots != 5 {
		t.Errorf("another kernel: %d boots, want a fresh run", boots)
	}
}

// FuzzRunTracker: output passes through byte for byte however the pipe
// splits it, and the running test is the same as for the output in one
// piece.
func FuzzRunTracker(f *testing.F) {
	f.Add([]byte("=== RUN   TestA\n--- PASS: TestA\n\x16=== RUN   TestB/sub\nx"), uint8(7))
	f.Add([]byte("=== RUN TestA"), uint8(3))
	f.Add(append(bytes.Repeat([]byte("x"), 4100), "=== RUN   TestFake\n=== RUN   TestReal\n"...), uint8(5))
	f.Add(append([]byte("=== RUN   "), bytes.Repeat([]byte("y"), 5000)...), uint8(15))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		var whole, split bytes.Buffer
		one := &runTracker{w: &whole}
		for i := 0; i < len(data); i += maxRunLine {
			one.Write(data[i:min(i+maxRunLine, len(data))])
		}
		one.flush()
		pieces := &runTracker{w: &split}
		n := int(step%16) + 1
		for i := 0; i < len(data); i += n {
			pieces.Write(data[i:min(i+n, len(data))])
		}
		pieces.flush()
		if !bytes.Equal(split.Bytes(), data) || !bytes.Equal(whole.Bytes(), data) {
			t.Fatal("output changed on its way through")
		}
		if one.running() != pieces.running() {
			t.Fatalf("running %q in one piece, %q in pieces of %d", one.running(), pieces.running(), n)
		}
	})
}

func FuzzTestTimeout(f *testing.F) {
	f.Add("-test.timeout=10m0s", "-test.v")
	f.Add("-test.timeout", "0")
	f.Fuzz(func(t *testing.T, a, b string) {
		if d := testTimeout([]string{a, b}); d < 0 {
			t.Fatalf("negative timeout %s", d)
		}
		writableDirs(t.TempDir(), "/nonexistent/b001/x.test", []string{a, b}, func(string) string { return "" })
	})
}
