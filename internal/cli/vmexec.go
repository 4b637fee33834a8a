package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/admission"
	"github.com/ktest-dev/ktest/internal/bzimage"
	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/jobslot"
	"github.com/ktest-dev/ktest/internal/resultcache"
	"github.com/ktest-dev/ktest/internal/runner"
	"github.com/ktest-dev/ktest/internal/skipreport"
	"github.com/ktest-dev/ktest/internal/termtext"
	"github.com/ktest-dev/ktest/internal/testproto"
	"github.com/ktest-dev/ktest/internal/vmconfig"
	"github.com/ktest-dev/ktest/internal/vmenv"
	"github.com/ktest-dev/ktest/internal/vmm"
)

// vmExecHost is what vm-exec reads from its process: the environment go
// test gave it and its working directory (the package's). Tests build one.
type vmExecHost struct {
	env []string
	dir string
	// engine runs one guest: vmm.Run, or a fake where booting is not the
	// point of a test.
	engine func(context.Context, vmm.Spec) (*vmm.Result, error)
	// signals, when set, replaces the process's own SIGINT, SIGTERM,
	// SIGQUIT and SIGHUP.
	signals <-chan os.Signal
}

// vmForwarded are the signals vm-exec passes to the test's process group
// in the guest: go test's SIGQUIT at -timeout, a user's ^C (SIGINT), and a
// CI's SIGTERM or SIGHUP.
var vmForwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP}

// defaultTestTimeout is go test's -timeout when none is given; vm-exec's
// hard bound is the test binary's -test.timeout plus hardBoundMargin, which
// is before go test's own kill of the wrapper (at the timeout plus a minute).
const (
	defaultTestTimeout = 10 * time.Minute
	hardBoundMargin    = 30 * time.Second
)

// runVMExec is the hidden `ktest vm-exec BINARY ARGS...` that go test runs
// each test binary through under `ktest --vm` (docs/spec.md §14): it boots
// the pass's kernel and runs the binary inside it, in the package
// directory, with go's arguments and environment, and exits with the
// binary's status.
func runVMExec(ctx context.Context, args []string, stdio IO) error {
	dir, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("ktest vm-exec: read the working directory: %w", err)
	}
	return vmExec(ctx, args, stdio, vmExecHost{env: os.Environ(), dir: dir, engine: vmm.Run})
}

func vmExec(ctx context.Context, args []string, stdio IO, host vmExecHost) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return hint.Wrap(errors.New("usage: ktest vm-exec BINARY [ARGS...]"), "vm-exec is how ktest --vm runs each test binary; run the tests through ktest --vm")
	}
	getenv := func(k string) string { return envLookup(host.env, k) }
	cfg, err := vmenv.Decode(getenv(vmenv.Env))
	if err != nil {
		return hint.Wrap(fmt.Errorf("ktest vm-exec: %w", err), "run the tests through ktest --vm, which sets it for go test -exec")
	}
	binary := args[0]
	if !filepath.IsAbs(binary) {
		binary = filepath.Join(host.dir, binary)
	}
	marker := ""
	if slices.Contains(args[1:], "-test.v=test2json") {
		// go test -json reads the binary's framing lines by this mark.
		marker = "\x16"
	}
	kernel := getenv(testproto.EnvTestKernel)
	if kernel == "" {
		// The pass's tests get no kernel (contention, no kernel, no
		// KVM): each of the binary's tests skips with the reason, as
		// kerneltest would have said inside it.
		cat, reason := unavailable(getenv)
		return skipTests(ctx, binary, args[1:], host, stdio, marker, cat, reason, nil)
	}

	// The guest's shape: --vm-cpus and --vm-memory over the package's
	// .ktest.toml over the defaults (docs/spec.md §19).
	shape, _, err := vmconfig.Resolve(host.dir, vmconfig.VM{CPUs: cfg.CPUs, MemoryMB: int64(cfg.MemoryMB), Modules: cfg.Modules, Setup: cfg.Setup})
	if err != nil {
		return hint.Wrap(fmt.Errorf("ktest vm-exec: %w", err), "fix the module's "+vmconfig.FileName+" (docs/spec.md §19)")
	}
	lookupenv := func(k string) (string, bool) {
		v := getenv(k)
		return v, v != ""
	}

	// ktest's own result cache: go test keeps none under -exec. A hit
	// replays the passing run's output byte for byte and boots nothing.
	results := openResults(cfg, binary, kernel, args[1:], host, shape, lookupenv)
	if results != nil {
		if e, ok := results.cache.Get(results.key); ok {
			return e.Replay(stdio.Stdout, stdio.Stderr)
		}
	}

	// The run's own bound on guests (--vm-jobs) first, so that its queued
	// guests hold no host slot.
	release, err := acquireJobSlot(ctx, cfg)
	if err != nil {
		return err
	}
	defer release()

	timeout := testTimeout(args[1:])
	// Then the host-wide slot, shared by every ktest on the host: a full
	// host means a wait, then each test's contention SKIP, never an OOM.
	slot, err := admit(ctx, shape, cfg.Accel, admissionWait(timeout), lookupenv)
	var full *admission.ContentionError
	if errors.As(err, &full) {
		return skipTests(ctx, binary, args[1:], host, stdio, marker, testproto.Contention, full.Error(), full.Hints())
	}
	if err != nil {
		return fmt.Errorf("ktest vm-exec: %w", err)
	}
	defer slot.Close()

	bound := time.Duration(0)
	if timeout > 0 {
		bound = timeout + hardBoundMargin
	}
	signals := host.signals
	if signals == nil {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, vmForwarded...)
		defer signal.Stop(ch)
		signals = ch
	}
	stdout, stderr := stdio.Stdout, stdio.Stderr
	var rec *resultcache.Recorder
	if results != nil {
		rec = resultcache.NewRecorder(stdout, stderr, resultcache.MaxEntryBytes)
		stdout, stderr = rec.Stdout(), rec.Stderr()
	}
	tracker := &runTracker{w: stdout}
	spec := vmm.Spec{
		Kernel:    kernel,
		CPUs:      shape.CPUs,
		MemoryMB:  int(shape.MemoryMB),
		Accel:     cfg.Accel,
		QEMU:      cfg.QEMU,
		Virtiofsd: cfg.Virtiofsd,
		Transport: cfg.Transport,
		Argv:      append([]string{binary}, args[1:]...),
		Env:       guestEnv(host.env),
		Dir:       host.dir,
		Writable:  writableDirs(host.dir, binary, args[1:], getenv),
		Modules:   shape.Modules,
		Setup:     shape.Setup,
		Pack:      shape.Pack,
		// A kernel given by path, with no vmlinux beside it, still
		// boots through PVH on microvm.
		ExtractVmlinux: extractVmlinux,
		Stdout:         tracker,
		Stderr:         stderr,
		Signals:        signals,
		Timeout:        bound,
	}
	started := time.Now()
	res, err := host.engine(ctx, spec)
	tracker.flush()
	if results != nil && err == nil && res != nil && res.ExitCode == 0 {
		if e, ok := rec.Entry(0, time.Since(started)); ok {
			if err := results.cache.Put(results.key, e); err != nil {
				fmt.Fprintf(stdio.Stderr, "ktest: warning: store the passing run in ktest's result cache: %v\n", err)
			}
		}
	}
	return vmExecResult(res, err, vmExecReport{
		stderr: stdio.Stderr, release: kernelRelease(getenv, kernel), binary: binary,
		running: tracker.running(), bound: bound, timeout: timeout, sidecarDir: getenv(testproto.EnvSidecarDir),
	})
}

// vmExecReport is what vmExecResult says a failure with.
type vmExecReport struct {
	stderr     io.Writer
	release    string
	binary     string
	running    string // the last test seen starting, "" if none
	bound      time.Duration
	timeout    time.Duration
	sidecarDir string
}

// vmExecResult maps the engine's outcome to vm-exec's exit status
// (docs/spec.md §2, §14): the binary's own status unchanged (128+N for a
// signal death), 125 with a BOOT FAILURE line and the console's tail when
// the guest gave no verdict, 3 for bad input. A hard-bound dump is written
// to stderr and to a sidecar first.
func vmExecResult(res *vmm.Result, err error, r vmExecReport) error {
	var (
		boot  *vmm.BootError
		setup *vmm.SetupError
	)
	if res != nil && res.Dump != "" {
		writeDump(r, res.Dump)
	}
	switch {
	case errors.As(err, &setup):
		return hint.Wrap(fmt.Errorf("ktest vm-exec: %w", err), "ktest --vm checked QEMU, virtiofsd and the kernel before go test started; see ktest doctor")
	case errors.As(err, &boot):
		reason := boot.Reason
		if boot.TimedOut && r.running != "" {
			reason += " (while " + r.running + " was running)"
		}
		fmt.Fprintf(r.stderr, "ktest: BOOT FAILURE on kernel %s: %s\n", termtext.Line(r.release), termtext.Line(reason))
		if tail := strings.TrimRight(boot.ConsoleTail, "\n"); tail != "" {
			fmt.Fprintf(r.stderr, "--- kernel console (last lines) ---\n%s\n--- end of kernel console ---\n", termtext.Lines(tail))
		}
		return &runner.BootFailureError{Release: r.release, Reason: reason}
	case err != nil:
		return fmt.Errorf("ktest vm-exec: %w", err)
	case res == nil || res.ExitCode < 0:
		fmt.Fprintf(r.stderr, "ktest: BOOT FAILURE on kernel %s: the guest gave no exit status\n", termtext.Line(r.release))
		return &runner.BootFailureError{Release: r.release, Reason: "no exit status"}
	case res.ExitCode != 0:
		return &runner.ExitError{Code: res.ExitCode}
	}
	return nil
}

// writeDump reports what the hard bound collected: on stderr, which go
// test files under the package, and in a sidecar of the run.
func writeDump(r vmExecReport, dump string) {
	running := r.running
	if running == "" {
		running = "no test had started"
	} else {
		running = "running test: " + running
	}
	head := fmt.Sprintf("ktest: HARD BOUND: %s did not finish within %s (-test.timeout %s + %s); %s",
		filepath.Base(r.binary), r.bound, r.timeout, hardBoundMargin, running)
	fmt.Fprintf(r.stderr, "%s\n--- guest dump (blocked tasks, every CPU's backtrace) ---\n%s\n--- end of guest dump ---\n",
		termtext.Line(head), termtext.Lines(strings.TrimRight(dump, "\n")))
	if r.sidecarDir == "" {
		return
	}
	path, err := writeDumpSidecar(r.sidecarDir, r.binary, head+"\n\n"+dump)
	if err != nil {
		fmt.Fprintf(r.stderr, "ktest: warning: write the guest dump sidecar: %v\n", err)
		return
	}
	fmt.Fprintf(r.stderr, "ktest: guest dump written to %s\n", termtext.Line(path))
}

// writeDumpSidecar writes the dump to DIR/vm-dumps/BINARY-PID.txt, a new
// file (never through a link) in a directory it creates if needed.
func writeDumpSidecar(dir, binary, text string) (string, error) {
	dumps := filepath.Join(dir, skipreport.VMDumpsDir)
	if err := os.Mkdir(dumps, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", err
	}
	path := filepath.Join(dumps, fmt.Sprintf("%s-%d.txt", strings.TrimSuffix(filepath.Base(binary), ".test"), os.Getpid()))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return "", err
	}
	if _, err := io.WriteString(f, text); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

// runTracker passes the binary's stdout through unchanged and remembers
// the last test it saw start (an `=== RUN` line, with or without test2json's
// framing mark), so that a hang can name it.
type runTracker struct {
	w       io.Writer
	mu      sync.Mutex
	partial []byte
	long    bool // the current line is past maxRunLine
	last    string
}

func (t *runTracker) Write(p []byte) (int, error) {
	t.mu.Lock()
	data := append(t.partial, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		if !t.long && i <= maxRunLine {
			t.see(data[:i])
		}
		t.long = false
		data = data[i+1:]
	}
	// A line longer than any test name is not an === RUN line: the rest
	// of it is skipped.
	if len(data) > maxRunLine {
		data, t.long = data[:0], true
	}
	t.partial = append(t.partial[:0], data...)
	t.mu.Unlock()
	return t.w.Write(p)
}

// maxRunLine bounds the line runTracker keeps while it waits for its end.
const maxRunLine = 4096

func (t *runTracker) see(line []byte) {
	line = bytes.TrimPrefix(line, []byte("\x16"))
	if name, ok := bytes.CutPrefix(line, []byte("=== RUN ")); ok {
		t.last = string(bytes.TrimSpace(name))
	}
}

func (t *runTracker) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.partial) > 0 && !t.long && len(t.partial) <= maxRunLine {
		t.see(t.partial)
	}
	t.partial, t.long = nil, false
}

func (t *runTracker) running() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// testTimeout is the binary's -test.timeout (go passes it always, 10m by
// default); 0 means none.
func testTimeout(args []string) time.Duration {
	timeout := defaultTestTimeout
	for i, a := range args {
		if a == "--" || a == "-args" {
			break
		}
		name, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if name != "test.timeout" {
			continue
		}
		if !ok && i+1 < len(args) {
			v = args[i+1]
		}
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			timeout = d
		}
	}
	return timeout
}

// pathFlags are the test binary's flags whose values are files or
// directories the binary writes: the guest may write where they point.
// dirFlags name the directory itself, the others a file in it.
var (
	pathFlags = []string{"test.coverprofile", "test.cpuprofile", "test.memprofile", "test.blockprofile",
		"test.mutexprofile", "test.trace", "test.testlogfile"}
	dirFlags = []string{"test.gocoverdir", "test.outputdir", "test.fuzzcachedir"}
)

// writableDirs are the host directories the guest may write (issue 12):
// the Go module tree around the package, go's $WORK (the binary's build
// directory's parent, where -cover and -coverprofile write), the
// directories of any profile or output file the binary was asked for,
// GOCACHE (fuzzing's corpus) and TMPDIR when it is not /tmp. Missing ones
// are left out, and so is one inside another.
func writableDirs(dir, binary string, args []string, getenv func(string) string) []string {
	var dirs []string
	add := func(d string) {
		if d == "" {
			return
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		d = filepath.Clean(d)
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			dirs = append(dirs, d)
		}
	}
	add(vmm.ModuleRoot(dir))
	work := filepath.Dir(binary)
	if parent := filepath.Dir(work); strings.HasPrefix(filepath.Base(parent), "go-build") {
		work = parent
	}
	add(work)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || a == "-args" {
			break
		}
		name, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		isPath, isDir := slices.Contains(pathFlags, name), slices.Contains(dirFlags, name)
		if !isPath && !isDir {
			continue
		}
		if !ok && i+1 < len(args) {
			i++
			v = args[i]
		}
		if isPath {
			v = filepath.Dir(filepath.Join(dir, v))
		}
		add(v)
	}
	if c := getenv("GOCACHE"); c != "" && c != "off" {
		add(c)
	} else if home, err := os.UserCacheDir(); err == nil && c == "" {
		add(filepath.Join(home, "go-build"))
	}
	if t := getenv("TMPDIR"); t != "" && filepath.Clean(t) != "/tmp" {
		add(t)
	}
	return outermost(dirs)
}

// outermost drops duplicates and directories inside another of dirs.
func outermost(dirs []string) []string {
	slices.Sort(dirs)
	var out []string
	for _, d := range dirs {
		if len(out) > 0 {
			last := out[len(out)-1]
			if d == last || last == "/" || strings.HasPrefix(d, last+"/") {
				continue
			}
		}
		out = append(out, d)
	}
	return out
}

// guestEnv is the binary's environment in the guest: go's, without the
// wrapper's own configuration.
func guestEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, vmenv.Env+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// kernelRelease names the kernel in a BOOT FAILURE line: the release ktest
// exported, else the image path.
func kernelRelease(getenv func(string) string, kernel string) string {
	if r := getenv(testproto.EnvKernelRelease); r != "" {
		return r
	}
	return kernel
}

func envLookup(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// unavailable is why a pass's tests get no kernel: KTEST_UNAVAILABLE's
// category and reason.
func unavailable(getenv func(string) string) (testproto.Category, string) {
	u := getenv(testproto.EnvUnavailable)
	cat, reason, ok := strings.Cut(u, ": ")
	if u == "" || !ok {
		return testproto.NoKernel, "ktest --vm exported no kernel for this pass"
	}
	return testproto.Category(cat), reason
}

// skipTests stands in for a test binary that cannot boot: it lists the
// binary's top-level tests that -test.run selects (running it on the host
// with -test.list, which runs no test, though a TestMain's own code before
// m.Run does run) and reports each one skipped with
// the SKIP banner, as the test itself would have under kerneltest, with a
// skip sidecar each in the run's directory.
func skipTests(ctx context.Context, binary string, args []string, host vmExecHost, stdio IO, marker string, cat testproto.Category, reason string, hints []string) error {
	pattern := ".*"
	for i, a := range args {
		name, v, ok := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		if name != "test.run" {
			continue
		}
		if !ok && i+1 < len(args) {
			v = args[i+1]
		}
		if top, _, _ := strings.Cut(v, "/"); top != "" {
			pattern = top
		}
	}
	cmd := exec.CommandContext(ctx, binary, "-test.list", pattern)
	cmd.Dir, cmd.Env = host.dir, guestEnv(host.env)
	cmd.Stderr = stdio.Stderr
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.Exited()) {
		// A TestMain that exits with its own status after m.Run (which
		// listed the tests) still listed them.
		return fmt.Errorf("ktest vm-exec: list the tests of %s to skip them: %w", binary, err)
	}
	banner := strings.ReplaceAll(testproto.Banner(cat, reason, hints...), "\n", "\n    ")
	runDir := envLookup(host.env, testproto.EnvSidecarDir)
	var b strings.Builder
	for _, name := range strings.Fields(string(out)) {
		if !strings.HasPrefix(name, "Test") {
			continue // benchmarks, fuzz targets and examples are not run by default
		}
		fmt.Fprintf(&b, "%s=== RUN   %s\n", marker, name)
		fmt.Fprintf(&b, "    %s\n", banner)
		fmt.Fprintf(&b, "%s--- SKIP: %s (0.00s)\n", marker, name)
		if runDir != "" {
			rec := testproto.SkipRecord{RunID: envLookup(host.env, testproto.EnvRunID), Package: host.dir, Test: name,
				Category: cat, Reason: reason, Host: testproto.TakeHostSnapshot(), RunSource: "local"}
			if envLookup(host.env, testproto.EnvKtstrCI) != "" || envLookup(host.env, testproto.EnvCI) != "" {
				rec.RunSource = "ci"
			}
			if _, err := testproto.WriteSkip(runDir, rec); err != nil {
				fmt.Fprintf(stdio.Stderr, "ktest: warning: write skip sidecar: %v\n", err)
				runDir = ""
			}
		}
	}
	fmt.Fprintf(&b, "%sPASS\n", marker)
	_, err = io.WriteString(stdio.Stdout, b.String())
	return err
}

// admissionWait is how long a guest waits for the host to have room
// before its tests skip as contention: five minutes, and at most half the
// binary's -test.timeout, so that go's own timer (which runs from the
// wrapper's start) never kills a waiting guest.
func admissionWait(timeout time.Duration) time.Duration {
	const wait = 5 * time.Minute
	if timeout > 0 && timeout/2 < wait {
		return timeout / 2
	}
	return wait
}

// admit takes the guest's host-wide admission slot (docs/spec.md §17).
func admit(ctx context.Context, shape vmconfig.VM, accel string, wait time.Duration, lookupenv func(string) (string, bool)) (*admission.Slot, error) {
	need := admission.GuestNeed(shape.CPUs, shape.MemoryMB, accel != "kvm")
	return admission.Options{Dir: admission.DefaultDir(lookupenv)}.Acquire(ctx, need, wait)
}

// vmResults is a run's place in ktest's result cache.
type vmResults struct {
	cache *resultcache.Cache
	key   resultcache.Key
}

// openResults is the run's result cache entry, nil when the run bypasses
// the cache (-count, coverage, profiles, a test's own flags: see
// resultcache.Bypass) or the cache cannot be used: a cache is an
// optimisation, never a reason to fail a run.
func openResults(cfg vmenv.Config, binary, kernel string, args []string, host vmExecHost, shape vmconfig.VM, lookupenv func(string) (string, bool)) *vmResults {
	if !cfg.ResultCache {
		return nil
	}
	if _, ok := resultcache.Bypass(args, host.env); !ok {
		return nil
	}
	dir, err := resultcache.DefaultDir(lookupenv)
	if err != nil {
		return nil
	}
	kernelHash, err := fileSHA256(kernel)
	if err != nil {
		return nil
	}
	key, err := resultcache.Inputs{
		Binary: binary, KernelKey: envLookup(host.env, testproto.EnvKernelCacheKey), KernelHash: kernelHash,
		Args: args, Dir: host.dir, Env: host.env,
		Shape: resultcache.Shape{CPUs: shape.CPUs, MemoryMB: shape.MemoryMB, Modules: shape.Modules, Setup: shape.Setup,
			Accel: cfg.Accel, Extra: []string{"transport=" + cfg.Transport, "pack=" + strings.Join(shape.Pack, "\x00")}},
	}.Key()
	if err != nil {
		return nil
	}
	c, err := resultcache.Open(dir, resultcache.DefaultMaxBytes)
	if err != nil {
		return nil
	}
	return &vmResults{cache: c, key: key}
}

// acquireJobSlot takes one of the run's --vm-jobs slots (flock on a file
// of the run's slot directory) when --vm-jobs bounds the run below go's
// -p; release gives it back. Without a bound it takes nothing.
func acquireJobSlot(ctx context.Context, cfg vmenv.Config) (release func(), err error) {
	if cfg.Jobs <= 0 {
		return func() {}, nil
	}
	return jobslot.Acquire(ctx, cfg.JobsDir, cfg.Jobs)
}

// extractVmlinux is vmm.Spec.ExtractVmlinux for ktest, which links the
// decompressors (kerneltest does not).
func extractVmlinux(image, out string) error {
	_, err := bzimage.ExtractVmlinux(image, out)
	return err
}
