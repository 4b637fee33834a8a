package reaper

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Command is what the supervisor runs.
type Command struct {
	Path string   `json:"path"` // the program, e.g. the go binary
	Args []string `json:"args"` // its arguments, without the program name
	Env  []string `json:"env"`
	Dir  string   `json:"dir"` // "" = ktest's working directory
}

// Process is the supervisor, and the command once it runs.
type Process struct {
	cmd        *exec.Cmd
	status     *bufio.Reader
	statusFile *os.File
	// GoPid is the command's pid, also its process group; 0 before Run.
	GoPid int

	killOnce sync.Once
	control  *os.File // the only write end of the control pipe
}

// Result is how the supervised command ended.
type Result struct {
	// Started is false when Run never started the command.
	Started bool
	// Code is its exit code, or 128+N when signal N killed it.
	Code int
	// Left names the processes that were still running when it exited on
	// its own, as "pid N (COMM)"; the supervisor killed them.
	Left []string
}

// killBound is how long Wait gives the supervisor to kill and reap the tree
// after Kill before it kills the supervisor itself (cmd.WaitDelay).
const killBound = cleanupBound + 5*time.Second

// Start starts a supervisor (this program, re-executed) that will give the
// command it runs stdout and stderr as its output. It does not wait for the
// supervisor to be ready: Run does, so that the supervisor's start-up
// overlaps the caller's work. When ctx is done, the tree is killed (Kill).
func Start(ctx context.Context, stdout, stderr *os.File) (*Process, error) {
	if !enabled.Load() {
		return nil, errors.New("internal error: this program cannot supervise go test (its main must call reaper.Enable and run reaper.Main when reaper.Requested)")
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find ktest's own executable to supervise go test: %w", err)
	}
	controlR, controlW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create control pipe: %w", err)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		controlR.Close()
		controlW.Close()
		return nil, fmt.Errorf("create status pipe: %w", err)
	}
	p := &Process{control: controlW, statusFile: statusR, status: bufio.NewReader(statusR)}
	cmd := exec.CommandContext(ctx, self)
	// The name the program dispatches on (a test binary registers "ktest"
	// with testscript).
	cmd.Args[0] = "ktest"
	// ktest's own environment (GORACE, GODEBUG, ... apply to it as to
	// ktest); go test gets the one Run hands over.
	cmd.Env = append(os.Environ(), EnvVar+"="+protocolVersion)
	cmd.Stderr = stderr
	cmd.ExtraFiles = []*os.File{controlR, statusW, stdout} // fds 3, 4, 5
	// Its own process group: a terminal's ^C reaches ktest only, which
	// forwards it once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { p.Kill(); return nil }
	cmd.WaitDelay = killBound
	p.cmd = cmd

	err = cmd.Start()
	controlR.Close()
	statusW.Close()
	if err != nil {
		controlW.Close()
		statusR.Close()
		return nil, fmt.Errorf("start ktest's supervisor of go test: %w", err)
	}
	return p, nil
}

// Run has the supervisor start c and returns once it runs, or with the
// reason it could not start.
func (p *Process) Run(c Command) error {
	msg, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode the command for the supervisor: %w", err)
	}
	if _, err := p.control.Write(append(msg, '\n')); err != nil {
		return fmt.Errorf("hand %s to the supervisor: %w", c.Path, err)
	}
	line := readLine(p.status)
	if rest, ok := strings.CutPrefix(line, "started "); ok {
		if pid, err := strconv.Atoi(rest); err == nil && pid > 0 {
			p.GoPid = pid
			return nil
		}
	}
	if err, ok := parseError(line); ok {
		return err
	}
	return fmt.Errorf("the supervisor ended without starting %s (status %q)", c.Path, line)
}

// Signal forwards sig to the command's process group, through the
// supervisor. After Wait it does nothing: os.Process signals through a
// pidfd and knows when the process is gone, so a reused pid is never hit.
func (p *Process) Signal(sig os.Signal) {
	_ = p.cmd.Process.Signal(sig)
}

// Kill makes the supervisor kill every process of the tree at once; Wait
// returns when they are gone. Safe to call more than once.
func (p *Process) Kill() {
	p.killOnce.Do(func() { p.control.Close() })
}

// Wait waits until the supervisor, the command and every process below it
// are gone and returns how the command ended. Without a Run it stops the
// supervisor.
func (p *Process) Wait() (Result, error) {
	if p.GoPid == 0 {
		p.Kill()
	}
	waitErr := p.cmd.Wait()
	p.Kill()
	defer p.statusFile.Close()
	if p.GoPid == 0 {
		return Result{}, nil
	}
	res := Result{Started: true}
	for {
		line := readLine(p.status)
		if line == "" {
			break
		}
		if l, ok := parseLeft(line); ok {
			res.Left = append(res.Left, l)
			continue
		}
		if code, ok := parseExit(line); ok {
			res.Code = code
			return res, nil
		}
	}
	// The supervisor died without its last word (killed by WaitDelay, or
	// by someone else): do what it would have done for the process group.
	if err := unix.Kill(-p.GoPid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return res, fmt.Errorf("kill go test's process group %d: %w", p.GoPid, err)
	}
	return res, fmt.Errorf("ktest's supervisor of go test ended without go's exit status (%v; %v)", p.cmd.ProcessState, waitErr)
}
