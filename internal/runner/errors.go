package runner

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ExitError reports that go test itself failed. Code is go's exit status and
// is passed through unchanged as ktest's exit status (docs/spec.md §2). Go has already
// explained the failure on the console, so the error carries no message of
// its own worth printing.
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("go test exited with status %d", e.Code)
}

// InterruptedError reports that the run was stopped by a signal. ktest exits
// 128+N for signal N (docs/spec.md §2) after printing the INTERRUPTED verdict.
type InterruptedError struct {
	Signal os.Signal
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("interrupted by %s", signalName(e.Signal))
}

// SignalNumber is the number N in the 128+N exit status.
func (e *InterruptedError) SignalNumber() int {
	if s, ok := e.Signal.(syscall.Signal); ok {
		return int(s)
	}
	return int(syscall.SIGINT)
}

func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}

// PolicyError reports that the skip policy fired (docs/spec.md §2): too many tests
// skipped, or every test skipped with --skip-exit-code set.
type PolicyError struct {
	Reason string
	Code   int
}

func (e *PolicyError) Error() string { return "skip policy: " + e.Reason }

// ExitCode is the status the policy asks for: Code, or 4 when unset.
func (e *PolicyError) ExitCode() int {
	if e.Code != 0 {
		return e.Code
	}
	return ExitPolicy
}

// Exit statuses of docs/spec.md §2 that ktest chooses itself.
const (
	ExitOK     = 0
	ExitKtest  = 3 // ktest could not do its own job
	ExitPolicy = 4 // the skip policy fired
)

// ExitCode maps a run's error to ktest's exit status (docs/spec.md §2). It is the
// only place exit statuses are decided; cmd/ktest exits with it and
// run.json records it.
func ExitCode(err error) int {
	var (
		goFailed    *ExitError
		interrupted *InterruptedError
		policy      *PolicyError
		boot        *BootFailureError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &boot):
		return ExitVMBoot
	case errors.As(err, &interrupted):
		return 128 + interrupted.SignalNumber()
	case errors.As(err, &goFailed):
		return goFailed.Code
	case errors.As(err, &policy):
		return policy.ExitCode()
	}
	return ExitKtest
}

// Reported reports whether the console already explains err: go explains
// its own failures, and ktest printed the INTERRUPTED or policy verdict.
func Reported(err error) bool {
	var (
		goFailed    *ExitError
		interrupted *InterruptedError
		policy      *PolicyError
		boot        *BootFailureError
	)
	return errors.As(err, &goFailed) || errors.As(err, &interrupted) || errors.As(err, &policy) || errors.As(err, &boot)
}

// ExitVMBoot is `ktest vm-exec`'s status, and ktest's, when a guest gave
// no verdict for a test binary: QEMU failed, the kernel panicked or hung,
// or the init could not start the binary (docs/spec.md §2, §14). No test
// binary's own status is ever turned into it.
const ExitVMBoot = 125

// BootFailureError reports a guest that gave no verdict. The BOOT FAILURE
// line with the console's tail is already on the console.
type BootFailureError struct {
	Release string
	Reason  string
}

func (e *BootFailureError) Error() string {
	if e.Release == "" {
		return "boot failure: " + e.Reason
	}
	return fmt.Sprintf("boot failure on kernel %s: %s", e.Release, e.Reason)
}
