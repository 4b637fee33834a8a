package kerneltest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/guestevent"
	"github.com/ktest-dev/ktest/internal/vmm"
	"github.com/ktest-dev/ktest/internal/vmproto"
)

// These tests run Run's whole path except the VM: the "guest" is this test
// binary run again as a plain child process (localLaunch), with the same
// arguments, environment and channels a VM would give it. Tests whose host
// test fails or skips on purpose run in a child (runChild), whose -test.v
// output the parent reads.

// localLaunch runs the spec's program on this machine.
func localLaunch(ctx context.Context, s vmm.Spec) (*vmm.Result, error) {
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, s.Argv[0], s.Argv[1:]...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = s.Env, s.Dir, s.Stdout, s.Stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	res := &vmm.Result{ExitCode: 0, Total: time.Since(start), Transport: "local", Channels: "local"}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = int(ws.Signal())
			res.ExitCode = 128 + res.Signal
		}
	case err != nil:
		return res, &vmm.BootError{Reason: err.Error()}
	}
	return res, nil
}

// useLocal makes Run launch its guests as local processes for the test.
func useLocal(t *testing.T) {
	old := launch
	launch = localLaunch
	t.Cleanup(func() { launch = old })
}

// local is a Config for localLaunch: no kernel is looked up.
var local = Config{Kernel: "/nonexistent/local-launch", Timeout: time.Minute}

func inGuest() bool { return InGuest() }

func TestRunLocalPass(t *testing.T) {
	useLocal(t)
	type point struct{ X, Y int }
	res := Run(t, local, func(g *G) {
		if !inGuest() {
			g.Fatalf("the body runs on the host")
		}
		g.Logf("hello from %s", g.Name())
		g.Report("n", 42)
		g.Report("p", point{1, 2})
		g.Report("s", []string{"a", "b"})
		dir := g.TempDir()
		if !strings.HasPrefix(dir, "/tmp/") {
			g.Errorf("TempDir %s is not under the guest's /tmp", dir)
		}
		if g.Context().Err() != nil {
			g.Errorf("context already done")
		}
		g.Run("sub", func(g *G) {
			g.Report("sub", true)
			g.Run("deeper", func(g *G) { g.Logf("deep") })
		})
	})
	if inGuest() {
		t.Fatal("Run returned in the guest")
	}
	var n int
	var p point
	var s []string
	var sub bool
	for key, v := range map[string]any{"n": &n, "p": &p, "s": &s, "sub": &sub} {
		if err := res.Value(key, v); err != nil {
			t.Error(err)
		}
	}
	if n != 42 || p != (point{1, 2}) || strings.Join(s, ",") != "a,b" || !sub {
		t.Errorf("values %v %v %v %v", n, p, s, sub)
	}
	if err := res.Value("missing", &n); err == nil || !strings.Contains(err.Error(), "n, p, s, sub") {
		t.Errorf("missing key: %v", err)
	}
	if err := res.Value("p", &n); err == nil {
		t.Error("a struct decoded into an int")
	}
	if got := strings.Join(res.Keys(), " "); got != "n p s sub" {
		t.Errorf("Keys = %q", got)
	}
}

// The child roles below are host tests that fail or skip; TestRunLocal
// checks their output.
func init() {
	childRoles["run-mixed"] = func(t *testing.T) {
		useLocal(t)
		res := Run(t, local, func(g *G) {
			g.Logf("log line")
			g.Run("pass", func(g *G) { g.Logf("in pass") })
			g.Run("fail", func(g *G) { g.Errorf("sub failed: %d", 7) })
			g.Run("skip", func(g *G) { g.Skipf("not here") })
			g.Run("with space", func(g *G) {})
			g.Errorf("root error")
			g.Report("after", "yes")
		})
		var s string
		if err := res.Value("after", &s); err != nil || s != "yes" {
			t.Errorf("value after an error: %q %v", s, err)
		}
		t.Log("host code after Run ran")
	}
	childRoles["run-fatal"] = func(t *testing.T) {
		useLocal(t)
		Run(t, local, func(g *G) {
			g.Cleanup(func() { g.Logf("cleanup ran") })
			g.Fatalf("fatal %s", "stop")
			g.Logf("after fatal")
		})
		t.Log("host code after Run ran")
	}
	childRoles["run-skip"] = func(t *testing.T) {
		useLocal(t)
		Run(t, local, func(g *G) { g.Skipf("no %s here", "feature") })
		t.Log("host code after Run ran")
	}
	childRoles["run-panic"] = func(t *testing.T) {
		useLocal(t)
		Run(t, local, func(g *G) { panicInGuest() })
		t.Log("host code after Run ran")
	}
	childRoles["run-panic-sub"] = func(t *testing.T) {
		useLocal(t)
		Run(t, local, func(g *G) { g.Run("sub", func(*G) { panicInGuest() }) })
	}
	childRoles["run-timeout"] = func(t *testing.T) {
		useLocal(t)
		cfg := local
		cfg.Timeout = 2 * time.Second
		Run(t, cfg, func(g *G) { blockInGuest() })
		t.Log("host code after Run ran")
	}
	childRoles["run-exit"] = func(t *testing.T) {
		useLocal(t)
		Run(t, local, func(g *G) {
			g.Logf("about to exit")
			os.Exit(3)
		})
	}
	childRoles["run-malformed"] = func(t *testing.T) {
		useLocal(t)
		Run(t, local, func(g *G) {
			req, _ := guestevent.ParseRequest(os.Getenv(guestevent.EnvRun))
			fmt.Printf("%s%s:{not json\n", guestevent.Prefix, req.Nonce)
			fmt.Printf("%s%s:%s\n", guestevent.Prefix, req.Nonce, `{"v":"ktest.guest/1","type":"log","test":"TestNobody","msg":"x"}`)
			g.Logf("still here")
		})
	}
	childRoles["run-twice"] = func(t *testing.T) {
		useLocal(t)
		Run(t, local, func(g *G) {})
		Run(t, local, func(g *G) {})
	}
	childRoles["run-goroutine-panic"] = func(t *testing.T) {
		useLocal(t)
		Run(t, local, func(g *G) {
			go func() { panic("goroutine boom") }()
			time.Sleep(time.Minute)
		})
	}
}

//go:noinline
func panicInGuest() { panic("guest boom") }

//go:noinline
func blockInGuest() { select {} }

func TestRunLocal(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		role    string
		verdict string
		want    []string // regexps
		notWant []string
	}{
		{"run-mixed", "FAIL", []string{
			`run_local_test.go:\d+: log line`,
			`--- PASS: TestChildRole/pass `,
			`run_local_test.go:\d+: in pass`,
			`--- FAIL: TestChildRole/fail `,
			`run_local_test.go:\d+: sub failed: 7`,
			`--- SKIP: TestChildRole/skip `,
			`\n +ktest: SKIP: guest: the test body skipped in the guest: run_local_test.go:\d+: not here`,
			`--- PASS: TestChildRole/with_space `,
			`run_local_test.go:\d+: root error`,
			`host code after Run ran`,
		}, nil},
		{"run-fatal", "FAIL", []string{`run_local_test.go:\d+: fatal stop`, `cleanup ran`}, []string{`after fatal`, `host code after Run ran`}},
		{"run-skip", "SKIP", []string{`\n {4}ktest: SKIP: guest: the test body skipped in the guest: run_local_test.go:\d+: no feature here`}, []string{`host code after Run ran`}},
		{"run-panic", "FAIL", []string{`panic in the guest: guest boom`, `guest goroutine stack:`, `kerneltest.panicInGuest\(`}, []string{`host code after Run ran`, `exited with status`}},
		{"run-panic-sub", "FAIL", []string{`--- FAIL: TestChildRole/sub `, `panic in the guest: guest boom`}, []string{`ended before guest subtest`}},
		{"run-timeout", "FAIL", []string{`timed out in the guest: the body ran longer than its timeout of 2s`, `guest goroutines:`, `kerneltest.blockInGuest\(`}, []string{`host code after Run ran`}},
		{"run-exit", "FAIL", []string{`about to exit`, `the guest test binary ended \(exit status 3\) before the body did`}, nil},
		{"run-malformed", "FAIL", []string{`kerneltest: malformed guest event "\{not json"`, `a guest log event of TestNobody, a test the host does not know`, `still here`}, nil},
		{"run-twice", "FAIL", []string{`Run called twice in test TestChildRole`}, nil},
		{"run-goroutine-panic", "FAIL", []string{`ended \(exit status 2\) before the body did`, `goroutine boom`}, nil},
	} {
		t.Run(c.role, func(t *testing.T) {
			t.Parallel()
			res := runChild(t, c.role)
			if v := res.verdict(); v != c.verdict {
				t.Errorf("verdict %s, want %s", v, c.verdict)
			}
			for _, re := range c.want {
				if !regexp.MustCompile(re).MatchString(res.output) {
					t.Errorf("output lacks %s", re)
				}
			}
			for _, re := range c.notWant {
				if regexp.MustCompile(re).MatchString(res.output) {
					t.Errorf("output has %s", re)
				}
			}
			if t.Failed() {
				t.Logf("child output:\n%s", res.output)
			}
		})
	}
}

func TestRunPattern(t *testing.T) {
	for name, want := range map[string]string{
		"TestX":          "^TestX$",
		"TestX/a.b":      `^TestX$/^a\.b$`,
		"TestX/a#01/(x)": `^TestX$/^a#01$/^\(x\)$`,
	} {
		if got := runPattern(name); got != want {
			t.Errorf("runPattern(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestGuestEnv(t *testing.T) {
	env := guestEnv([]string{"A=1", "TMPDIR=/host/tmp", guestevent.EnvRun + "=old", "B=2"}, "req")
	want := []string{"A=1", "B=2", guestevent.EnvRun + "=req", "TMPDIR=/tmp"}
	if !bytes.Equal([]byte(strings.Join(env, "\n")), []byte(strings.Join(want, "\n"))) {
		t.Errorf("guestEnv = %q, want %q", env, want)
	}
}

// A guest skip writes one skip sidecar, of category guest, naming the test.
func TestRunLocalSkipSidecar(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res := runChild(t, "run-skip", "KTEST_SIDECAR_DIR="+dir, "KTEST_RUN_ID=r1")
	if res.verdict() != "SKIP" {
		t.Fatalf("verdict %s:\n%s", res.verdict(), res.output)
	}
	rec, raw := readOneSidecar(t, dir)
	if rec.Category != "guest" || rec.Test != "TestChildRole" || !strings.Contains(rec.Reason, "no feature here") {
		t.Errorf("sidecar %s", raw)
	}
}

type (
	contextT = context.Context
	specT    = vmm.Spec
	resultT  = vmm.Result
)

// In a ktest --vm guest already, Run runs the body in place.
func TestRunDirectInVMGuest(t *testing.T) {
	t.Setenv(vmproto.GuestEnv, "1")
	old := launch
	launch = func(context.Context, vmm.Spec) (*vmm.Result, error) {
		t.Error("Run booted a guest inside the guest")
		return nil, errors.New("no")
	}
	t.Cleanup(func() { launch = old })
	pid := os.Getpid()
	res := Run(t, Config{}, func(g *G) {
		if os.Getpid() != pid {
			g.Errorf("the body runs in another process")
		}
		g.Run("sub", func(g *G) { g.Report("sub", 7) })
		g.Report("n", 1)
	})
	var n, sub int
	if res.Value("n", &n) != nil || res.Value("sub", &sub) != nil || n != 1 || sub != 7 {
		t.Errorf("values %v %v (keys %v)", n, sub, res.Keys())
	}
}

func init() {
	childRoles["direct-mixed"] = func(t *testing.T) {
		os.Setenv(vmproto.GuestEnv, "1")
		Run(t, Config{}, func(g *G) {
			g.Logf("direct log")
			g.Run("skip", func(g *G) { g.Skipf("direct skip") })
			g.Errorf("direct error")
		})
		t.Log("host code after Run ran")
	}
}

func TestRunDirectVerdicts(t *testing.T) {
	t.Parallel()
	res := runChild(t, "direct-mixed")
	for _, re := range []string{`run_local_test.go:\d+: direct log`, `ktest: SKIP: guest: the test body skipped in the guest: run_local_test.go:\d+: direct skip`,
		`--- SKIP: TestChildRole/skip`, `run_local_test.go:\d+: direct error`, `host code after Run ran`} {
		if !regexp.MustCompile(re).MatchString(res.output) {
			t.Errorf("output lacks %s", re)
		}
	}
	if res.verdict() != "FAIL" || t.Failed() {
		t.Errorf("verdict %s; output:\n%s", res.verdict(), res.output)
	}
}

func init() {
	childRoles["no-qemu"] = func(t *testing.T) {
		Run(t, Config{Kernel: "/nonexistent/bzImage"}, func(g *G) {})
	}
}

// Without QEMU on PATH, Run skips with the no-qemu banner.
func TestRunWithoutQEMUSkips(t *testing.T) {
	t.Parallel()
	res := runChild(t, "no-qemu", "PATH="+t.TempDir())
	if res.verdict() != "SKIP" || !strings.Contains(res.output, "ktest: SKIP: no-qemu: find QEMU") {
		t.Errorf("verdict %s; output:\n%s", res.verdict(), res.output)
	}
}

func init() {
	childRoles["boot-hang"] = func(t *testing.T) {
		launch = func(context.Context, vmm.Spec) (*vmm.Result, error) {
			return &vmm.Result{ExitCode: -1, Console: "console line\n", Dump: "task:kworker state:D\n"},
				&vmm.BootError{Reason: "no verdict within the hard bound", ConsoleTail: "console line", TimedOut: true}
		}
		Run(t, local, func(g *G) {})
		t.Log("host code after Run ran")
	}
}

// A guest that never gave a verdict fails the test with the engine's
// reason, the console tail and the hard bound's dump, and stops it.
func TestRunBootFailure(t *testing.T) {
	t.Parallel()
	res := runChild(t, "boot-hang")
	for _, want := range []string{"the guest did not run the body to its end: boot failure: no verdict within the hard bound",
		"console line", "guest dump at the hard bound", "task:kworker state:D"} {
		if !strings.Contains(res.output, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if res.verdict() != "FAIL" || strings.Contains(res.output, "host code after Run ran") || t.Failed() {
		t.Errorf("verdict %s; output:\n%s", res.verdict(), res.output)
	}
}

// go test -cover's counter directory reaches the guest, writable, so the
// guest's counters join the host's profile.
func TestCoverArgs(t *testing.T) {
	f := flag.Lookup("test.gocoverdir")
	if f == nil {
		t.Skip("this testing package has no -test.gocoverdir")
	}
	old := f.Value.String()
	t.Cleanup(func() { f.Value.Set(old) })
	dir := t.TempDir()
	if err := f.Value.Set(dir); err != nil {
		t.Fatal(err)
	}
	var s vmm.Spec
	if args := coverArgs(&s); len(args) != 1 || args[0] != "-test.gocoverdir="+dir || len(s.Writable) != 1 || s.Writable[0] != dir {
		t.Errorf("coverArgs = %q, Writable %q", args, s.Writable)
	}
	f.Value.Set("")
	s = vmm.Spec{}
	if args := coverArgs(&s); args != nil || s.Writable != nil {
		t.Errorf("without coverage: %q %q", args, s.Writable)
	}
}
