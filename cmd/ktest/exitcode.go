package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ktest-dev/ktest/runner"
)

// Exit statuses of SPEC §2 that ktest chooses itself; go's own status is
// passed through and signals give 128+N.
const (
	exitOK     = 0
	exitKtest  = 3 // ktest could not do its own job
	exitPolicy = 4 // the skip policy fired
)

// exitCode maps the error returned by run to the process exit status. This
// is the only place that decides exit codes.
func exitCode(err error) int {
	var (
		goFailed    *runner.ExitError
		interrupted *runner.InterruptedError
		policy      *runner.PolicyError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &interrupted):
		return 128 + interrupted.SignalNumber()
	case errors.As(err, &goFailed):
		return goFailed.Code
	case errors.As(err, &policy):
		return policy.ExitCode()
	}
	return exitKtest
}

// reportError prints what went wrong, unless the console already shows it:
// go explains its own failures, and ktest printed the INTERRUPTED verdict.
func reportError(w io.Writer, err error) {
	var (
		goFailed    *runner.ExitError
		interrupted *runner.InterruptedError
		policy      *runner.PolicyError
	)
	if err == nil || errors.As(err, &goFailed) || errors.As(err, &interrupted) || errors.As(err, &policy) {
		return
	}
	fmt.Fprintf(w, "ktest: error: %s\n", err)
	var h interface{ Hints() []string }
	if errors.As(err, &h) {
		for _, hint := range h.Hints() {
			fmt.Fprintf(w, "  hint: %s\n", strings.TrimSpace(hint))
		}
	}
}
