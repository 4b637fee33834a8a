// Package reaper keeps every process of a go test run from outliving ktest.
//
// ktest does not start go test itself: it re-executes its own binary as a
// small supervisor (Start), which starts go test in a new process group and
// stays its parent. The supervisor
//
//   - is a child subreaper (PR_SET_CHILD_SUBREAPER), so every orphan of the
//     run, also one that made its own process group or session, becomes its
//     child instead of init's;
//   - forwards the signals ktest sends it to go test's process group;
//   - watches a pipe whose only write end ktest holds: when ktest closes it
//     (Kill) or dies in any way, SIGKILL included, the read end reports EOF
//     and the supervisor kills the whole tree;
//   - when go test exits, kills what is left of the tree, reaps it, and only
//     then exits, reporting go's status to ktest.
//
// PR_SET_PDEATHSIG is not used: it fires when the thread that forked the
// child exits, and the Go runtime may start a process from any thread.
//
// A program that uses Start must call Enable, and must run Main first thing
// in main when Requested reports that it was started as the supervisor.
package reaper

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// EnvVar marks the supervisor's environment; go test gets the environment
// ktest hands over instead. Its value is the protocol version.
const EnvVar = "KTEST_INTERNAL_REAPER"

const protocolVersion = "1"

// The supervisor's descriptors beyond stdin, stdout and stderr. Its stderr
// is go test's stderr as well.
const (
	fdControl = 3 // read end of ktest's control pipe: EOF means kill everything
	fdStatus  = 4 // write end of the status pipe back to ktest
	fdStdout  = 5 // go test's stdout
)

// cleanupBound bounds the wait for killed processes to die.
const cleanupBound = 5 * time.Second

var enabled atomic.Bool

var errNothingToRun = errors.New("ktest ended without a command to run")

// Enable records that this program's main runs Main when Requested, so that
// Start may re-execute it as the supervisor.
func Enable() { enabled.Store(true) }

// Requested reports whether this process was started as the supervisor.
func Requested() bool { return os.Getenv(EnvVar) != "" }

// Main runs the supervisor and returns its exit status (go test's).
func Main() int {
	status := os.NewFile(fdStatus, "status")
	code, err := supervise(status)
	if err == errNothingToRun {
		return 0
	}
	if err != nil {
		var errno syscall.Errno
		errors.As(err, &errno)
		fmt.Fprintf(status, "error %d %s\n", int(errno), strings.ReplaceAll(err.Error(), "\n", " "))
		return 3
	}
	return code
}

func supervise(status *os.File) (int, error) {
	if v := os.Getenv(EnvVar); v != protocolVersion {
		return 0, fmt.Errorf("supervisor protocol %q, want %q: ktest re-executed a different ktest binary", v, protocolVersion)
	}
	for _, fd := range []int{fdControl, fdStatus, fdStdout} {
		unix.CloseOnExec(fd) // go test gets stdout as its fd 1, and nothing else of ours
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("become child subreaper: %w", err)
	}
	// Before go test starts: every signal ktest forwards after "started"
	// must find the handler in place. SIGCHLD reports exits to reap.
	// SIGPIPE is caught (not ignored, which go test would inherit) so that
	// a write to a ktest that died fails with EPIPE instead of killing the
	// supervisor before it has cleaned up.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGCHLD, syscall.SIGPIPE)

	// The command comes as one JSON line on the control pipe; EOF before
	// it means ktest is done (or dead) without running anything.
	control := bufio.NewReader(os.NewFile(fdControl, "control"))
	line, err := control.ReadBytes('\n')
	if err != nil {
		return 0, errNothingToRun
	}
	var c Command
	if err := json.Unmarshal(line, &c); err != nil || c.Path == "" {
		return 0, fmt.Errorf("supervisor: bad command from ktest: %.200q", line)
	}
	stdout := os.NewFile(fdStdout, "stdout")
	proc, err := os.StartProcess(c.Path, append([]string{c.Path}, c.Args...), &os.ProcAttr{
		Dir:   c.Dir,
		Env:   c.Env,
		Files: []*os.File{os.Stdin, stdout, os.Stderr},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	stdout.Close()
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", c.Path, err)
	}
	goPid := proc.Pid
	proc.Release() // reaped below with wait4, with every other child
	// A failed write means ktest is gone: the control pipe says so too.
	fmt.Fprintf(status, "started %d\n", goPid)

	parentGone := make(chan struct{})
	go func() {
		var b [64]byte
		for {
			if _, err := control.Read(b[:]); err != nil {
				close(parentGone)
				return
			}
		}
	}()

	var r reapResult
	killed := false
	for r.goStatus == nil {
		select {
		case sig := <-sigs:
			switch {
			case sig == syscall.SIGCHLD:
				reapAll(goPid, &r)
			case sig == syscall.SIGPIPE:
			case !killed:
				_ = unix.Kill(-goPid, sig.(syscall.Signal))
			}
		case <-parentGone:
			killed = true
			parentGone = nil
			_ = unix.Kill(-goPid, unix.SIGKILL)
			reapAll(goPid, &r)
		}
	}
	code := exitStatus(*r.goStatus)
	if !r.none {
		left, err := killTree(goPid, cleanupBound, &r)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ktest: warning: %v\n", err)
		}
		if !killed {
			writeLeft(status, left)
		}
	}
	fmt.Fprintf(status, "exit %d\n", code)
	return code, nil
}

// exitStatus is go's exit code, or 128+N when signal N killed it.
func exitStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// The status lines the supervisor writes to ktest, in order:
//
//	started PID        go test runs as PID (or: error ERRNO MESSAGE, and
//	                   nothing more; ERRNO is 0 without one)
//	left PID "COMM"    a process still running when go test exited; killed
//	exit CODE          go test's exit code (128+N for signal N); the tree is gone

func writeLeft(w *os.File, left []procEntry) {
	for _, e := range left {
		fmt.Fprintf(w, "left %d %s\n", e.pid, strconv.Quote(e.comm))
	}
}

// parseLeft parses a "left" status line into "pid N (COMM)".
func parseLeft(line string) (string, bool) {
	rest, ok := strings.CutPrefix(line, "left ")
	if !ok {
		return "", false
	}
	pid, comm, _ := strings.Cut(rest, " ")
	if c, err := strconv.Unquote(comm); err == nil {
		comm = c
	}
	return fmt.Sprintf("pid %s (%s)", pid, comm), true
}

// remoteError is an error the supervisor reported, with its errno (so that
// errors.Is(err, syscall.EMFILE) holds in ktest as it did there).
type remoteError struct {
	msg   string
	errno syscall.Errno
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Unwrap() error {
	if e.errno == 0 {
		return nil
	}
	return e.errno
}

// parseError parses an "error ERRNO MESSAGE" status line.
func parseError(line string) (error, bool) {
	rest, ok := strings.CutPrefix(line, "error ")
	if !ok {
		return nil, false
	}
	num, msg, _ := strings.Cut(rest, " ")
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 {
		return &remoteError{msg: rest}, true
	}
	return &remoteError{msg: msg, errno: syscall.Errno(n)}, true
}

// parseExit parses the "exit CODE" status line.
func parseExit(line string) (int, bool) {
	rest, ok := strings.CutPrefix(line, "exit ")
	if !ok {
		return 0, false
	}
	code, err := strconv.Atoi(rest)
	return code, err == nil
}

// readLine reads one status line; "" at EOF.
func readLine(r *bufio.Reader) string {
	line, _ := r.ReadString('\n')
	return strings.TrimSuffix(line, "\n")
}
