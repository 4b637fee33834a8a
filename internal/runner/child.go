package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// childProcess is go test running in its own process group. Its stdout and
// stderr are pipes whose read ends the caller drains.
type childProcess struct {
	cmd    *exec.Cmd
	stdout *os.File // read end; closed by the caller after draining
	stderr *os.File // read end; closed by the caller after draining

	// cancel asks the child to stop with the signal given as the cause; the
	// command's Cancel forwards it to the whole process group.
	cancel context.CancelCauseFunc
}

// signalCause carries the signal to forward through context.Cause.
type signalCause struct{ sig os.Signal }

func (s signalCause) Error() string { return "forwarding " + signalName(s.sig) }

// startChild starts the command in a new process group. The pipes' write ends
// belong to the child only: the parent closes its copies after Start so that
// EOF arrives once every process holding them has exited.
func startChild(ctx context.Context, c goCommand, env []string, dir string, grace time.Duration) (*childProcess, error) {
	childCtx, cancel := context.WithCancelCause(ctx)
	cmd := exec.CommandContext(childCtx, c.Path, c.Args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdin = nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Cancel runs once, when childCtx is done: forward the signal that caused
	// it to the whole group. WaitDelay is the grace period: if go test has
	// not exited by then, os/exec kills it, and wait kills the rest of the
	// group.
	cmd.Cancel = func() error {
		sig := syscall.SIGTERM
		var sc signalCause
		if errors.As(context.Cause(childCtx), &sc) {
			sig = sc.sig.(syscall.Signal)
		}
		return signalGroup(cmd.Process.Pid, sig)
	}
	cmd.WaitDelay = grace

	outR, outW, err := os.Pipe()
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("create stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		cancel(nil)
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("create stderr pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	startErr := cmd.Start()
	outW.Close()
	errW.Close()
	if startErr != nil {
		cancel(nil)
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("start %s: %w", c.Path, startErr)
	}
	return &childProcess{cmd: cmd, stdout: outR, stderr: errR, cancel: cancel}, nil
}

// interrupt forwards sig to the group, through the command's Cancel so that
// the grace period (WaitDelay) starts counting.
func (p *childProcess) interrupt(sig os.Signal) {
	p.cancel(signalCause{sig})
}

// kill sends SIGKILL to every process left in the group.
func (p *childProcess) kill() {
	_ = signalGroup(p.cmd.Process.Pid, syscall.SIGKILL)
}

// wait waits for go test to exit, then kills whatever is left of its process
// group so that no process of the run outlives it. It returns go's exit code.
func (p *childProcess) wait() (int, error) {
	err := p.cmd.Wait()
	p.kill()
	p.cancel(nil)
	// After a Cancel, Wait may report the context's error or ErrWaitDelay
	// even though the process exited: the ProcessState is what counts.
	state := p.cmd.ProcessState
	if state == nil {
		return -1, fmt.Errorf("wait for go test: %w", err)
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return state.ExitCode(), nil
}

func signalGroup(pgid int, sig syscall.Signal) error {
	err := unix.Kill(-pgid, sig)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	return err
}
