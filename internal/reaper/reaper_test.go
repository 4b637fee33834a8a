package reaper

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/reexec"
)

// The test binary plays three parts, chosen by its environment: the
// supervisor (as ktest's main does), a workload that go test stands in for,
// and the workload's escaping grandchild.
func TestMain(m *testing.M) {
	if Requested() {
		os.Exit(Main())
	}
	if r := reexec.Role(); r != "workload" && r != "grandchild" {
		// A race-enabled supervisor would sleep a second at exit.
		os.Setenv("GORACE", "atexit_sleep_ms=0")
		Enable()
	}
	os.Exit(reexec.Main(m, map[string]func() int{
		"workload": workload,
		"grandchild": func() int {
			time.Sleep(5 * time.Minute)
			return 0
		},
	}))
}

// workload starts a grandchild in its own session (so out of the workload's
// process group) that holds stdout, writes its pid to REAPER_TEST_PIDFILE,
// then exits with REAPER_TEST_EXIT, or waits to be killed when that is
// "wait", or dies of SIGTERM's default action when that is "term".
func workload() int {
	gc := reexec.Command(context.Background(), "grandchild")
	gc.Stdout, gc.Stderr = os.Stdout, os.Stderr
	gc.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := gc.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		return 99
	}
	tmp := os.Getenv("REAPER_TEST_PIDFILE") + ".tmp"
	os.WriteFile(tmp, []byte(strconv.Itoa(gc.Process.Pid)), 0o644)
	os.Rename(tmp, os.Getenv("REAPER_TEST_PIDFILE"))
	switch v := os.Getenv("REAPER_TEST_EXIT"); v {
	case "wait", "term":
		time.Sleep(5 * time.Minute)
		return 0
	default:
		code, _ := strconv.Atoi(v)
		return code
	}
}

type run struct {
	proc    *Process
	pidFile string
	out     *os.File // read end of the workload's stdout
}

func startWorkload(t *testing.T, exit string) *run {
	t.Helper()
	return startWorkloadIn(t, t.TempDir(), exit)
}

func startWorkloadIn(t *testing.T, dir, exit string) *run {
	t.Helper()
	pidFile := filepath.Join(dir, "grandchild.pid")
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { outR.Close() })
	workloadCmd := reexec.Command(context.Background(), "workload", "REAPER_TEST_PIDFILE="+pidFile, "REAPER_TEST_EXIT="+exit)
	p, err := Start(context.Background(), outW, os.Stderr)
	outW.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(Command{Path: workloadCmd.Path, Args: workloadCmd.Args[1:], Env: workloadCmd.Env}); err != nil {
		t.Fatal(err)
	}
	return &run{proc: p, pidFile: pidFile, out: outR}
}

func (r *run) grandchild(t *testing.T) int {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if b, err := os.ReadFile(r.pidFile); err == nil {
			pid, err := strconv.Atoi(string(b))
			if err != nil {
				t.Fatal(err)
			}
			killOnFailure(t, pid)
			return pid
		}
	}
	t.Fatal("the workload never wrote its grandchild's pid")
	return 0
}

// killOnFailure kills pid when the test fails, so that a broken supervisor
// leaves nothing behind. A pidfd taken now keeps a reused pid safe.
func killOnFailure(t *testing.T, pid int) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	t.Cleanup(func() {
		if t.Failed() {
			unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		}
		unix.Close(pidfd)
	})
}

// gone reports whether pid no longer names a live process (a zombie that
// waits for its reaper counts as gone).
func gone(pid int) bool {
	e, ok := readStat(pid)
	return !ok || e.state == 'Z'
}

func wantGone(t *testing.T, what string, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !gone(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) survived", what, pid)
		}
	}
}

// wantEOF checks that nothing holds the workload's stdout any more.
func wantEOF(t *testing.T, out *os.File) {
	t.Helper()
	out.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [64]byte
	for {
		_, err := out.Read(b[:])
		if err == nil {
			continue
		}
		if err.Error() != "EOF" {
			t.Fatalf("read the workload's stdout: %v (someone still holds it)", err)
		}
		return
	}
}

func TestExitReapsEscapedGrandchild(t *testing.T) {
	r := startWorkload(t, "7")
	gc := r.grandchild(t)
	res, err := r.proc.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 7 {
		t.Errorf("code %d, want 7", res.Code)
	}
	if len(res.Left) != 1 || !strings.HasPrefix(res.Left[0], fmt.Sprintf("pid %d (", gc)) {
		t.Errorf("left %q, want the grandchild %d", res.Left, gc)
	}
	// Wait returns only after the tree is gone: no polling needed.
	if !gone(gc) {
		t.Errorf("grandchild %d still alive after Wait", gc)
	}
	wantEOF(t, r.out)
}

func TestKillKillsTree(t *testing.T) {
	r := startWorkload(t, "wait")
	gc := r.grandchild(t)
	r.proc.Kill()
	res, err := r.proc.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 128+int(syscall.SIGKILL) {
		t.Errorf("code %d, want %d", res.Code, 128+int(syscall.SIGKILL))
	}
	if len(res.Left) != 0 {
		t.Errorf("left %q after a kill; want none reported", res.Left)
	}
	if !gone(gc) {
		t.Errorf("grandchild %d still alive after Kill and Wait", gc)
	}
	wantEOF(t, r.out)
}

func TestSignalIsForwarded(t *testing.T) {
	r := startWorkload(t, "term")
	gc := r.grandchild(t)
	r.proc.Signal(syscall.SIGTERM)
	res, err := r.proc.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 128+int(syscall.SIGTERM) {
		t.Errorf("code %d, want %d (SIGTERM's default action)", res.Code, 128+int(syscall.SIGTERM))
	}
	// The grandchild left the group, so the signal missed it; the
	// supervisor killed it when the workload was gone.
	if !gone(gc) {
		t.Errorf("grandchild %d still alive", gc)
	}
}

// TestParentDeathKillsTree kills the supervisor's parent, the way
// SIGKILL of ktest does, and checks that the whole tree goes with it. The
// parent is a second copy of this test binary that starts the workload.
func TestParentDeathKillsTree(t *testing.T) {
	if reexec.Role() == "parent" {
		r := startWorkloadIn(t, os.Getenv("REAPER_TEST_PARENT"), "wait")
		fmt.Printf("%d %d %d\n", r.proc.cmd.Process.Pid, r.proc.GoPid, r.grandchild(t))
		time.Sleep(5 * time.Minute)
		return
	}
	// The parent dies by SIGKILL: its files go in this test's directory.
	parent := reexec.TestCommand(context.Background(), "TestParentDeathKillsTree", "parent", "REAPER_TEST_PARENT="+t.TempDir())
	parent.Stderr = os.Stderr
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	var sup, goPid, gc int
	if _, err := fmt.Fscan(out, &sup, &goPid, &gc); err != nil {
		parent.Process.Kill()
		t.Fatalf("read pids from the parent: %v", err)
	}
	parent.Process.Kill()
	parent.Wait()
	for _, pid := range []int{sup, goPid, gc} {
		killOnFailure(t, pid)
	}
	wantGone(t, "supervisor", sup)
	wantGone(t, "workload", goPid)
	wantGone(t, "escaped grandchild", gc)
}

func TestStartFailure(t *testing.T) {
	p, err := Start(context.Background(), os.Stdout, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(Command{Path: filepath.Join(t.TempDir(), "missing")})
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("Run of a missing program: %v, want a no such file error", err)
	}
	if res, err := p.Wait(); err != nil || res.Started {
		t.Fatalf("Wait after a failed Run: %+v, %v", res, err)
	}
}

// TestNothingToRun: a supervisor that is never given a command ends when
// asked, quietly.
func TestNothingToRun(t *testing.T) {
	p, err := Start(context.Background(), os.Stdout, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil || res.Started {
		t.Fatalf("Wait without Run: %+v, %v", res, err)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("supervisor exit %d, want 0", code)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("4242 (sleep) S 1 4242 4242 0 -1 4194560 100 0 0 0"))
	f.Add([]byte("7 (a) b) (c) Z 3 7"))
	f.Add([]byte("1 () R 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, ok := parseStat(b)
		if !ok {
			return
		}
		if !strings.Contains(string(b), "("+e.comm+")") {
			t.Fatalf("comm %q is not between parentheses in %q", e.comm, b)
		}
	})
}

// FuzzStatusLines round-trips the supervisor's "left" and "exit" lines:
// whatever a process calls itself comes back intact, on one line.
func FuzzStatusLines(f *testing.F) {
	f.Add(12, "sleep", 130)
	f.Add(1, "a b\x1b[2J\n", 0)
	f.Fuzz(func(t *testing.T, pid int, comm string, code int) {
		line := fmt.Sprintf("left %d %s", pid, strconv.Quote(comm))
		if strings.Contains(line, "\n") {
			t.Fatalf("left line %q spans lines", line)
		}
		got, ok := parseLeft(line)
		if want := fmt.Sprintf("pid %d (%s)", pid, comm); !ok || got != want {
			t.Fatalf("parseLeft(%q) = %q, %v; want %q", line, got, ok, want)
		}
		if c, ok := parseExit(fmt.Sprintf("exit %d", code)); !ok || c != code {
			t.Fatalf("parseExit of %d = %d, %v", code, c, ok)
		}
	})
}
