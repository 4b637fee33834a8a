package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/kernelimage"
	"github.com/ktest-dev/ktest/internal/reaper"

	"github.com/ktest-dev/ktest/internal/testkernel"
	"github.com/ktest-dev/ktest/internal/vminit"
)

func TestMain(m *testing.M) {
	if vminit.Requested() {
		// This binary, as the "ktest" of the scripts, is the init of the
		// --vm guests they boot (vmm's Spec.Init is os.Executable()).
		os.Exit(vminit.Main())
	}
	// In-process runs (run(...) in tests) re-execute this binary as
	// "ktest", which testscript dispatches to main, as the supervisor.
	reaper.Enable()
	testscript.Main(m, map[string]func(){
		"ktest":       main,
		"fakego":      fakeGoMain,
		"expect-exit": expectExitMain,
		"holdlock":    holdLockMain,
		"holdfd":      holdFDMain,
		"withnofile":  withNofileMain,
	})
}

// TestScripts runs the CLI scripts in testdata/script. Scripts drive ktest
// through a fake go (KTEST_GO=fakego) or the real one.
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams(t, "testdata/script"))
}

func scriptParams(t *testing.T, dir string) testscript.Params {
	fixture, err := filepath.Abs("testdata/fixture")
	if err != nil {
		t.Fatal(err)
	}
	images, err := filepath.Abs("../../internal/kernelimage/testdata/images")
	if err != nil {
		t.Fatal(err)
	}
	streams, err := filepath.Abs("testdata/script/streams")
	if err != nil {
		t.Fatal(err)
	}
	moduleRoot, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// Read once, before the scripts run in parallel.
	goVars := map[string]string{}
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOROOT"} {
		goVars[k] = goEnv(t, k)
	}
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("FIXTURE", fixture)
			// The directory holding ktest, fakego and expect-exit, for
			// scripts that need a PATH without go.
			env.Setenv("KTEST_BIN", filepath.SplitList(env.Getenv("PATH"))[0])
			env.Setenv("STREAMS", streams)
			// This module's source, for scripts whose test modules
			// import kerneltest (through a replace directive).
			env.Setenv("KTEST_MODULE", moduleRoot)
			// Small synthetic kernel images (valid headers, no kernel).
			env.Setenv("IMAGES", images)
			// A real distro kernel, when this host has one ([realkernel]).
			k := realKernel()
			env.Setenv("REALKERNEL", k.path)
			env.Setenv("REALRELEASE", k.release)
			env.Setenv("REALLINE", k.line)
			env.Setenv("REALPATCH", k.patch)
			// Keep resolution away from this host's /boot and /lib/modules.
			env.Setenv("KTEST_TEST_HOST_ROOT", filepath.Join(env.WorkDir, "host"))
			// Text that would act on a terminal (ESC sequences, a newline
			// forging a verdict line, CR, a bidi override), and an
			// argument of 100 KB (Linux caps one at 128 KiB), for the
			// scripts on escaping and cutting what ktest echoes.
			env.Setenv("HOSTILE", "\x1b[2J\x1b]0;x\a\nktest: PASS\r\u202e!")
			env.Setenv("LONGARG", strings.Repeat("x", 100_000))
			// The real go needs its caches; the fixture needs no network.
			for k, v := range goVars {
				env.Setenv(k, v)
			}
			// A race-enabled test binary sleeps 1 s at exit by default;
			// every ktest, fakego and expect-exit here is one.
			env.Setenv("GORACE", "atexit_sleep_ms=0")
			// On a host without a usable KVM device, runs skip kernel
			// tests instead of failing (scripts about KVM itself reset
			// this or check [kvm]). KTEST_KVM_DEVICE=/nonexistent go test
			// runs the scripts as such a host would.
			if dev := os.Getenv("KTEST_KVM_DEVICE"); dev != "" {
				env.Setenv("KTEST_KVM_DEVICE", dev)
			}
			if !kvmUsable() {
				env.Setenv("KTEST_ON_NO_KVM", "skip")
			}
			env.Setenv("GOPROXY", "off")
			env.Setenv("GOFLAGS", "-mod=mod")
			env.Setenv("GOTOOLCHAIN", "local")
			// ktest's per-boot KVM probe cache and the kernel cache live
			// in the script's own directory.
			env.Setenv("XDG_CACHE_HOME", filepath.Join(env.WorkDir, ".cache"))
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				return os.Geteuid() == 0, nil
			case "realkernel":
				path := realKernel().path
				if path == "" {
					return false, nil
				}
				_, err := os.Stat(path)
				return err == nil, nil
			case "kvm":
				return kvmUsable(), nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitfile":    cmdWaitFile,
			"signal":      cmdSignal,
			"pidgone":     cmdPidGone,
			"junitcount":  cmdJUnitCount,
			"sleep":       cmdSleep,
			"sidecars":    cmdSidecars,
			"lockfree":    cmdLockFree,
			"fileinfo":    cmdFileInfo,
			"repeat":      cmdRepeat,
			"sidecardir":  cmdSidecarDir,
			"useradd":     cmdUseradd,
			"installbin":  cmdInstallbin,
			"holdsopen":   cmdHoldsOpen,
			"childpid":    cmdChildPid,
			"nofilesweep": cmdNofileSweep,
			"noinitfiles": cmdNoInitFiles,
			"kernelentry": cmdKernelEntry,
			"junitsuites": cmdJUnitSuites,
			"jsonkernels": cmdJSONKernels,
		},
	}
}

// realKernel is a real distribution kernel (internal/testkernel), with
// its release and its MAJOR.MINOR and MAJOR.MINOR.PATCH versions read from
// its header; all are empty on a host without one. Scripts that need it
// check [realkernel] first. It is looked up on first use, not in package
// init: this binary also runs as ktest, which does no file work before main
// (see nofile.txtar).
var realKernel = sync.OnceValue(func() (k struct{ path, release, line, patch string }) {
	path, err := testkernel.Lookup()
	if err != nil {
		return k
	}
	info, err := kernelimage.Inspect(path)
	if err != nil || info.Release == "" {
		return k
	}
	m := regexp.MustCompile(`^(([0-9]+\.[0-9]+)\.[0-9]+)`).FindStringSubmatch(info.Release)
	if m == nil {
		return k
	}
	k.path, k.release, k.line, k.patch = path, info.Release, m[2], m[1]
	return k
})

func goEnv(t *testing.T, key string) string {
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", key, err)
	}
	return strings.TrimSpace(string(out))
}

// waitfile FILE waits up to 30s ($WAITFILE_TIMEOUT when set) for FILE to
// exist.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile FILE")
	}
	path := ts.MkAbs(args[0])
	wait := 30 * time.Second
	if ts.Getenv("WAITFILE_TIMEOUT") != "" {
		// Scripts whose file comes from a guest booting under TCG on a
		// loaded host wait longer.
		d, err := time.ParseDuration(ts.Getenv("WAITFILE_TIMEOUT"))
		ts.Check(err)
		wait = d
	}
	deadline := time.Now().Add(wait)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfile %s: still missing after %s", path, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// signal INT|TERM|HUP|KILL PIDFILE sends a signal to the process whose pid is in PIDFILE.
func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: signal INT|TERM|HUP|KILL PIDFILE")
	}
	sig := map[string]syscall.Signal{"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP, "KILL": syscall.SIGKILL}[args[0]]
	if sig == 0 {
		ts.Fatalf("unknown signal %s", args[0])
	}
	ts.Check(unix.Kill(readPid(ts, args[1]), sig))
}

// pidgone PIDFILE checks that the process whose pid is in PIDFILE no longer
// exists (or is a zombie awaiting its reaper), waiting up to 5s.
func cmdPidGone(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: pidgone PIDFILE")
	}
	pid := readPid(ts, args[0])
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(fields) > 0 && fields[0] == "Z" {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("process %d still exists: %s", pid, stat)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readPid(ts *testscript.TestScript, file string) int {
	pid, err := strconv.Atoi(strings.TrimSpace(ts.ReadFile(file)))
	if err != nil || pid <= 1 {
		ts.Fatalf("bad pid in %s: %v", file, err)
	}
	return pid
}

// sleep DUR pauses the script, e.g. between two signals.
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

// sidecars DIR prints the newest run's run.json and its skip sidecars under
// the sidecar base DIR, for stdout assertions.
func cmdSidecars(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sidecars DIR")
	}
	runs, err := filepath.Glob(filepath.Join(ts.MkAbs(args[0]), "*T*Z-*"))
	ts.Check(err)
	if len(runs) == 0 {
		ts.Fatalf("no run directories under %s", args[0])
	}
	// The newest by modification time: names share a one-second stamp.
	newest, newestTime := "", time.Time{}
	for _, r := range runs {
		if st, err := os.Stat(r); err == nil && !st.ModTime().Before(newestTime) {
			newest, newestTime = r, st.ModTime()
		}
	}
	files, _ := filepath.Glob(filepath.Join(newest, "skips", "*.json"))
	if _, err := os.Stat(filepath.Join(newest, "run.json")); err == nil {
		files = append([]string{filepath.Join(newest, "run.json")}, files...)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		ts.Check(err)
		rel, _ := filepath.Rel(newest, f)
		fmt.Fprintf(ts.Stdout(), "== %s\n%s\n", rel, data)
	}
}

// lockfree LOCKFILE checks that nobody holds a flock on LOCKFILE.
func cmdLockFree(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: lockfree LOCKFILE")
	}
	free := probeLock(ts.MkAbs(args[0])) == "free"
	if free == neg {
		ts.Fatalf("lock on %s: free=%v", args[0], free)
	}
}

// kvmUsable reports whether the KVM device (KTEST_KVM_DEVICE, else
// /dev/kvm) opens read-write.
func kvmUsable() bool {
	dev := os.Getenv("KTEST_KVM_DEVICE")
	if dev == "" {
		dev = "/dev/kvm"
	}
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// holdsopen PIDFILE FILE waits up to 30s until the process whose pid is in
// PIDFILE has FILE open, e.g. a lockfile it waits on.
func cmdHoldsOpen(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: holdsopen PIDFILE FILE")
	}
	pid, want := readPid(ts, args[0]), ts.MkAbs(args[1])
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		fds, _ := os.ReadDir(fdDir)
		for _, fd := range fds {
			if target, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && target == want {
				return
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("process %d has not opened %s after 30s", pid, want)
		}
	}
}

// childpid PIDFILE OUTFILE writes the pid of a child of the process whose pid
// is in PIDFILE to OUTFILE, waiting up to 5s for one to exist.
func cmdChildPid(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: childpid PIDFILE OUTFILE")
	}
	parent := readPid(ts, args[0])
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if err != nil {
				continue
			}
			fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
			if len(fields) > 1 && fields[1] == strconv.Itoa(parent) {
				ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(e.Name()), 0o644))
				return
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("process %d has no child after 5s", parent)
		}
	}
}

// runtimeCrash matches what the Go runtime prints when it dies.
var runtimeCrash = regexp.MustCompile(`fatal error:|\bgoroutine [0-9]+ \[|panic:|SIGSEGV`)

// nofilesweep [-anyexit] FROM TO prog args... runs prog under every open-file
// limit from FROM to TO (soft and hard, through withnofile). prog must never
// crash the Go runtime; unless -anyexit, it must either succeed or exit 3
// with a hint to raise the limit, and it must succeed at TO.
func cmdNofileSweep(ts *testscript.TestScript, neg bool, args []string) {
	anyExit := len(args) > 0 && args[0] == "-anyexit"
	if anyExit {
		args = args[1:]
	}
	if neg || len(args) < 3 {
		ts.Fatalf("usage: nofilesweep [-anyexit] FROM TO prog [args...]")
	}
	from, err1 := strconv.Atoi(args[0])
	to, err2 := strconv.Atoi(args[1])
	if err1 != nil || err2 != nil || from > to {
		ts.Fatalf("nofilesweep: bad range %s..%s", args[0], args[1])
	}
	for n := from; n <= to; n++ {
		err := ts.Exec("withnofile", append([]string{strconv.Itoa(n)}, args[2:]...)...)
		stderr := ts.ReadFile("stderr")
		code := 0
		if err != nil {
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) {
				ts.Fatalf("ulimit -n %d: %v", n, err)
			}
			code = exitErr.ExitCode()
		}
		ts.Logf("ulimit -n %d: exit %d: %.300s", n, code, firstLine(stderr))
		switch {
		case code == 127 && strings.Contains(stderr, "error while loading shared libraries"):
			// A dynamically linked build (-race) dies in the loader, before
			// any Go code runs; ktest itself is a static binary.
		case runtimeCrash.MatchString(stderr):
			ts.Fatalf("ulimit -n %d: the Go runtime crashed:\n%s", n, stderr)
		case anyExit:
		case code != 0 && (code != 3 || !strings.Contains(stderr, "hint: raise the open-file limit")):
			ts.Fatalf("ulimit -n %d: exit %d without the hint to raise the limit:\n%s", n, code, stderr)
		case n == to && code != 0:
			ts.Fatalf("ulimit -n %d: still fails:\n%s", n, stderr)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// openedPath matches a file-opening system call in strace's output.
var openedPath = regexp.MustCompile(`\b(?:open|openat|openat2|creat)\((?:[A-Z_]+, |[0-9]+, )?"([^"]*)"`)

// runtimeOpens are the files the Go runtime itself reads at start (huge
// page size, cgroup CPU limits), "/", fdlimit.Check's probe, and
// /etc/localtime: BurntSushi/toml's internal package (.ktest.toml, package
// vmconfig) asks for the local zone in its init, and package time's read
// of it is harmless without descriptors (it falls back to UTC).
var runtimeOpens = regexp.MustCompile(`^(/sys/kernel/mm/transparent_hugepage/.*|/proc/self/(cgroup|mountinfo)|/sys/fs/cgroup/.*|/|/etc/localtime)$`)

// noinitfiles prog args... runs prog under strace (skipping the check where
// strace is missing or may not trace) and fails if it opened any file other
// than the Go runtime's own: for `ktest version`, which opens nothing, that
// is file work in some package's initialisation.
func cmdNoInitFiles(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: noinitfiles prog [args...]")
	}
	if _, err := exec.LookPath("strace"); err != nil {
		ts.Logf("no strace on this host: not checked")
		return
	}
	if raceBuild {
		// The race runtime and the dynamic loader read files of their own.
		ts.Logf("a -race build: not checked")
		return
	}
	trace := ts.MkAbs("noinitfiles.trace")
	err := ts.Exec("strace", append([]string{"-f", "-qq", "-e", "trace=open,openat,openat2,creat", "-o", trace}, args...)...)
	if err != nil {
		if stderr := ts.ReadFile("stderr"); strings.Contains(stderr, "ptrace") {
			ts.Logf("strace may not trace here: not checked: %s", firstLine(stderr))
			return
		}
		ts.Fatalf("strace %s: %v\n%s", strings.Join(args, " "), err, ts.ReadFile("stderr"))
	}
	for _, line := range strings.Split(ts.ReadFile(trace), "\n") {
		if m := openedPath.FindStringSubmatch(line); m != nil && !runtimeOpens.MatchString(m[1]) {
			ts.Fatalf("%s opened %s: file work outside main (package init?): %s", args[0], m[1], line)
		}
	}
}
