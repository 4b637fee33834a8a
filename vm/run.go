// Package vm boots a Linux kernel under QEMU with a generated initramfs
// whose /init is a static Go program (see package vm/guest), captures the
// serial console, and returns the guest's output and verdict.
//
// It is the engine behind the test-side library: it knows nothing about
// testing.T. Run reports failures as typed errors a caller can branch on
// with errors.As: NoQEMUError, HostBusyError (skip-worthy), TimeoutError,
// GuestError and BootError.
//
// Process contract: QEMU runs in its own process group with
// PR_SET_PDEATHSIG=SIGKILL; on timeout, context cancellation or any error
// Run kills the whole group and reaps it before returning, so no QEMU
// outlives Run. If the calling process itself dies, the kernel kills QEMU.
//
// Signals: being a library, vm installs no signal handlers (that would
// change SIGINT for the whole test binary). Because QEMU has its own
// process group, a terminal's Ctrl-C reaches only the caller; the caller
// either cancels the context (Run then kills QEMU) or dies, and
// PDEATHSIG takes QEMU with it. (PDEATHSIG follows the OS thread that
// started QEMU; Go only retires a thread when a goroutine locked to it
// exits, and no such goroutine runs Run.)
package vm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ktest-dev/ktest/vm/internal/protocol"
)

// Result is what a boot produced. Run returns a non-nil Result whenever
// QEMU was started, also together with an error.
type Result struct {
	// Console is the whole serial console (kernel log and guest output),
	// with CRLF line ends turned into LF.
	Console string
	// Output is what the guest program printed between the begin and
	// result lines, without kernel log lines (lines starting with a
	// printk timestamp) that interleaved with it.
	Output string
	// ExitCode is the guest's exit status from its verdict; -1 if there
	// was no verdict.
	ExitCode int
	// GuestMessage is the error text the guest reported ("" on success).
	GuestMessage string
	// BootToVerdict is the time from starting QEMU to reading the verdict
	// on the console (0 without a verdict).
	BootToVerdict time.Duration
	// Duration is the time from starting QEMU until it was reaped.
	Duration time.Duration
	// QEMUExitCode is QEMU's exit status; -1 if it was killed.
	QEMUExitCode int
	// QEMUStderr is QEMU's own diagnostics (warnings, load errors).
	QEMUStderr string
	// Command is the QEMU command line that was run.
	Command []string
}

// afterVerdictGrace is how long QEMU may take to exit once the guest has
// reported; power-off takes milliseconds, so hitting this means the guest
// could not power off, and QEMU is killed with the verdict kept.
const afterVerdictGrace = 10 * time.Second

// Run boots cfg.Kernel with cfg.Guest as /init and waits for the guest's
// verdict and QEMU's exit. It returns nil error only if the guest reported
// exit status 0. See the package doc for the error types.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	qemuPath, err := exec.LookPath(c.QEMU)
	if err != nil {
		return nil, &NoQEMUError{Binary: c.QEMU, Err: err}
	}
	if st, err := os.Stat(c.Kernel); err != nil {
		return nil, fmt.Errorf("kernel image: %w", err)
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("kernel image %s is a %v, not a file", c.Kernel, st.Mode().Type())
	}
	guestBin, err := resolveGuest(ctx, c.Guest)
	if err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp(c.TempDir, "ktest-vm-")
	if err != nil {
		return nil, fmt.Errorf("create vm scratch directory: %w", err)
	}
	// Removed only after QEMU is reaped (boot returns after Wait).
	defer os.RemoveAll(scratch)

	nonce, err := newNonce()
	if err != nil {
		return nil, err
	}
	initrd := filepath.Join(scratch, "initramfs.cpio")
	gcfg := protocol.Config{Nonce: nonce, Args: c.Args, TimeoutMS: c.Timeout.Milliseconds()}
	if err := writeInitramfs(initrd, guestBin, c.Files, gcfg); err != nil {
		return nil, fmt.Errorf("build initramfs: %w", err)
	}
	return boot(ctx, c, qemuPath, qemuArgs(c, initrd), nonce)
}

func newNonce() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate console nonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// boot runs QEMU and turns what happened into a Result and error.
func boot(ctx context.Context, c Config, qemuPath string, args []string, nonce string) (*Result, error) {
	runCtx, kill := context.WithCancel(ctx)
	defer kill()

	// The parser and watcher close these from exec's copy goroutines; the
	// select loop below receives from (and then disables) its own copies.
	verdictCh, fatalCh := make(chan struct{}), make(chan struct{})
	console := newConsoleParser(nonce, c.Stdout, func() { close(verdictCh) })
	stderr := newStderrWatcher(func() { close(fatalCh) })
	var verdictSeen, qemuFatal <-chan struct{} = verdictCh, fatalCh

	cmd := exec.CommandContext(runCtx, qemuPath, args...)
	cmd.Stdin = nil // /dev/null: the console is output-only
	cmd.Stdout = console
	cmd.Stderr = stderr
	// Own process group so the kill reaches everything QEMU may start;
	// PDEATHSIG so that QEMU dies with us even if we are SIGKILLed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killProcessGroup(cmd.Process.Pid) }
	// After the kill, give the console copy goroutines this long to drain.
	cmd.WaitDelay = 2 * time.Second

	res := &Result{ExitCode: -1, QEMUExitCode: -1, Command: append([]string{qemuPath}, args...)}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
			return nil, &HostBusyError{Reason: fmt.Sprintf("start %s: %v", qemuPath, err), Err: err}
		}
		return nil, fmt.Errorf("start %s: %w", qemuPath, err)
	}
	waitDone := make(chan error, 1)
	go func() { waitDone <- cmd.Wait() }()

	timeout := time.NewTimer(c.Timeout)
	defer timeout.Stop()
	var grace <-chan time.Time
	timedOut := false
	var waitErr error
wait:
	for {
		select {
		case waitErr = <-waitDone:
			break wait
		case <-verdictSeen:
			res.BootToVerdict = time.Since(start)
			verdictSeen = nil
			g := time.NewTimer(afterVerdictGrace)
			defer g.Stop()
			grace = g.C
		case <-grace:
			grace = nil
			kill()
		case <-qemuFatal:
			// The reason is in stderr; classifyFailure reports it.
			qemuFatal = nil
			kill()
		case <-timeout.C:
			timedOut = true
			kill()
		}
	}
	res.Duration = time.Since(start)
	console.Close() // safe: Wait has returned, so the copy goroutine is done
	res.Console = console.console.String()
	res.Output = console.Output()
	res.QEMUStderr = stderr.String()
	res.QEMUExitCode = cmd.ProcessState.ExitCode()

	if v := console.verdict; v != nil {
		res.ExitCode = v.Exit
		res.GuestMessage = v.Error
		return res, verdictError(*v, res.Output)
	}
	tail := tailLines(res.Console, errorTailLines)
	if timedOut {
		return res, &TimeoutError{Timeout: c.Timeout, Accel: c.Accel, Phase: bootPhase(console.begun, res.Console), ConsoleTail: tail}
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("run vm: stopped QEMU because the context ended (%w); console tail:\n%s", context.Cause(ctx), tail)
	}
	signal := ""
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		signal = ws.Signal().String()
	}
	if waitErr != nil && !errors.As(waitErr, new(*exec.ExitError)) {
		// I/O trouble on the console pipes (e.g. WaitDelay expired).
		res.QEMUStderr += fmt.Sprintf("\n[ktest: wait for qemu: %v]", waitErr)
	}
	return res, classifyFailure(bootOutcome{
		kernel:       c.Kernel,
		stderr:       res.QEMUStderr,
		console:      res.Console,
		qemuExit:     res.QEMUExitCode,
		signal:       signal,
		guestStarted: console.begun,
		badVerdict:   console.badVerdict,
		output:       res.Output,
	})
}

// verdictError is Run's error for a boot that produced a verdict.
func verdictError(v protocol.Verdict, output string) error {
	if v.Exit == 0 {
		return nil
	}
	return &GuestError{ExitCode: v.Exit, Message: v.Error, Panicked: v.Panic, TimedOut: v.TimedOut, Output: output}
}

// bootPhase tells how far a boot got, for TimeoutError.
func bootPhase(guestStarted bool, console string) string {
	switch {
	case guestStarted:
		return PhaseGuest
	case initStartedRe.MatchString(console):
		return PhaseInit
	default:
		return PhaseKernel
	}
}

// killProcessGroup sends SIGKILL to the process group led by pid. A group
// that is already gone is not an error.
func killProcessGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill qemu process group %d: %w", pid, err)
	}
	// os.ErrProcessDone tells exec the process is gone; harmless otherwise.
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return nil
}
