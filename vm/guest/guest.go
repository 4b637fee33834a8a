// Package guest is the guest side of package vm: it turns a Go program into
// the /init (PID 1) of a throw-away VM.
//
// A guest program is a static main package (CGO_ENABLED=0) that calls Main:
//
//	func main() {
//		os.Exit(guest.Main(func(env *guest.Env) error {
//			rel, err := guest.KernelRelease()
//			if err != nil {
//				return err
//			}
//			fmt.Println("running on", rel)
//			return nil
//		}))
//	}
//
// As PID 1, Main mounts proc, sysfs, devtmpfs and tmpfs, makes
// /dev/console its stdin, stdout and stderr, runs the function under a
// timeout guard, prints the verdict line the host parses, syncs and powers
// the VM off; it never returns there. Outside a VM (not PID 1) it skips the
// mounts and the power-off and returns the exit status, which lets a guest
// program be run and tested as an ordinary process.
package guest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/ktest-dev/ktest/vm/internal/protocol"
)

// Env is what the guest function gets from Main.
type Env struct {
	// Args are the arguments the host passed in vm.Config.Args.
	Args []string
	// Stdout and Stderr write to the console (os.Stdout and os.Stderr
	// after Main has redirected them). Output written through either,
	// or straight to os.Stdout/os.Stderr, reaches the host as guest output.
	Stdout, Stderr io.Writer
	// InVM reports whether the program runs as PID 1 of a VM.
	InVM bool
	// Deadline is when Context is cancelled (zero: never). Main stops
	// waiting for the function a little later and reports a timeout.
	Deadline time.Time

	ctx context.Context
}

// Context returns a context that is cancelled at Deadline, shortly before
// Main's guard gives up, so that guest code can stop and return its own
// error before the guard reports a timeout and the VM is powered off.
func (e *Env) Context() context.Context {
	if e.ctx == nil {
		return context.Background()
	}
	return e.ctx
}

// exitCoder is implemented by errors that choose the guest's exit status.
type exitCoder interface{ ExitCode() int }

// exitError attaches an exit status to an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
func (e *exitError) ExitCode() int { return e.code }

// WithExitCode returns an error that makes the guest report exit status
// code (1..255) instead of the default 1. Any error with an ExitCode() int
// method has the same effect.
func WithExitCode(err error, code int) error {
	if err == nil {
		err = fmt.Errorf("guest exited with status %d", code)
	}
	return &exitError{code: code, err: err}
}

// Main runs fn as the guest program and reports its verdict to the host.
// In a VM (PID 1) it never returns: it powers the VM off. Otherwise it
// returns the exit status for the caller to pass to os.Exit.
//
// Verdicts: fn returns nil → 0; an error → 1 or the error's ExitCode();
// a panic → 2 (the stack is printed); the guard expires → 124 (all
// goroutine stacks are printed); the VM could not be prepared → 125.
func Main(fn func(*Env) error) int {
	inVM := os.Getpid() == 1
	var setupErr error
	if inVM {
		setupErr = setupVM()
	}
	cfg, cfgErr := loadConfig()
	if setupErr == nil {
		setupErr = cfgErr
	}
	var uptime time.Duration
	if inVM {
		uptime = readUptime()
	}
	out := os.Stdout
	fmt.Fprintln(out, protocol.BeginLine(cfg.Nonce))

	var v protocol.Verdict
	if setupErr != nil {
		fmt.Fprintf(os.Stderr, "ktest guest: %v\n", setupErr)
		v = protocol.Verdict{Exit: protocol.ExitSetup, Error: setupErr.Error()}
	} else {
		env := &Env{Args: cfg.Args, Stdout: os.Stdout, Stderr: os.Stderr, InVM: inVM}
		v = runGuarded(fn, env, guardFor(time.Duration(cfg.TimeoutMS)*time.Millisecond, uptime))
	}
	if inVM {
		// Keep late kernel messages off the console so they cannot split the
		// verdict line; the power-off messages are of no use to anyone.
		quietKernelConsole()
	}
	// The leading newline ends any partial line of guest output; the host
	// removes exactly this one newline again.
	fmt.Fprint(out, "\n"+protocol.ResultLine(cfg.Nonce, v)+"\n")
	if inVM {
		powerOff() // does not return
	}
	return v.Exit
}

// loadConfig reads the host's run configuration. A missing file is not an
// error outside a VM (an ordinary process has no host), so the zero Config
// is returned with it; a present but unreadable file is.
func loadConfig() (protocol.Config, error) {
	var cfg protocol.Config
	path := protocol.ConfigPath
	if p := os.Getenv(protocol.ConfigEnv); p != "" {
		path = p
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && os.Getpid() != 1 {
			return cfg, nil
		}
		return cfg, fmt.Errorf("read guest config %s: %w", path, err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("parse guest config %s: %w", path, err)
	}
	return cfg, nil
}

// guardFor derives the function's time budget from the host's whole-boot
// timeout: what is left after booting, minus a margin to print stacks and
// power off before the host's own timer kills the VM.
func guardFor(hostTimeout, uptime time.Duration) time.Duration {
	if hostTimeout <= 0 {
		return 0
	}
	margin := min(max(hostTimeout/10, 500*time.Millisecond), 5*time.Second)
	left := hostTimeout - uptime
	return max(left-margin, left/2, 100*time.Millisecond)
}

// runGuarded runs fn in its own goroutine so that a hung function cannot
// keep the verdict from being reported.
func runGuarded(fn func(*Env) error, env *Env, guard time.Duration) protocol.Verdict {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var timer <-chan time.Time
	if guard > 0 {
		// The context ends first; the hard guard waits a little longer for
		// a function that honours it to return.
		grace := min(max(guard/10, 250*time.Millisecond), 2*time.Second, guard/2)
		env.Deadline = time.Now().Add(guard - grace)
		var cancelT context.CancelFunc
		ctx, cancelT = context.WithDeadline(ctx, env.Deadline)
		defer cancelT()
		t := time.NewTimer(guard)
		defer t.Stop()
		timer = t.C
	}
	env.ctx = ctx

	done := make(chan protocol.Verdict, 1)
	go func() {
		returned := false
		defer func() {
			if returned {
				return
			}
			if p := recover(); p != nil {
				fmt.Fprintf(env.Stderr, "panic: %v\n\n%s", p, debug.Stack())
				done <- protocol.Verdict{Exit: protocol.ExitPanic, Error: fmt.Sprintf("panic: %v", p), Panic: true}
				return
			}
			done <- protocol.Verdict{Exit: protocol.ExitFailure, Error: "guest function called runtime.Goexit"}
		}()
		err := fn(env)
		returned = true
		done <- verdictFor(err)
	}()

	select {
	case v := <-done:
		return v
	case <-timer:
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		fmt.Fprintf(env.Stderr, "ktest guest: function still running after %v; goroutine stacks:\n%s\n", guard, buf[:n])
		return protocol.Verdict{
			Exit:     protocol.ExitTimeout,
			Error:    fmt.Sprintf("guest function did not return within %v (goroutine stacks printed above)", guard.Round(time.Millisecond)),
			TimedOut: true,
		}
	}
}

func verdictFor(err error) protocol.Verdict {
	if err == nil {
		return protocol.Verdict{}
	}
	code := protocol.ExitFailure
	var ec exitCoder
	if errors.As(err, &ec) && ec.ExitCode() > 0 && ec.ExitCode() < 256 {
		code = ec.ExitCode()
	}
	return protocol.Verdict{Exit: code, Error: err.Error()}
}
