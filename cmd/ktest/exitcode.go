package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/runner"
)

// exitCode maps the error returned by run to the process exit status
// (SPEC §2); runner.ExitCode is the single place that decides it.
func exitCode(err error) int { return runner.ExitCode(err) }

// reportError prints what went wrong with its hints, unless the console
// already shows it.
func reportError(w io.Writer, err error) {
	if err == nil || runner.Reported(err) {
		return
	}
	fmt.Fprintf(w, "ktest: error: %s\n", strings.TrimSpace(err.Error()))
	for _, h := range hint.Of(err) {
		fmt.Fprintf(w, "  hint: %s\n", strings.TrimSpace(h))
	}
}
