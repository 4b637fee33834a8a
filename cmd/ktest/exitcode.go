package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ktest-dev/ktest/internal/fdlimit"
	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/runner"
	"github.com/ktest-dev/ktest/internal/termtext"
)

// exitCode maps the error returned by run to the process exit status
// (docs/spec.md §2); runner.ExitCode is the single place that decides it.
func exitCode(err error) int { return runner.ExitCode(err) }

// reportError prints what went wrong with its hints, unless the console
// already shows it.
func reportError(w io.Writer, err error) {
	if err == nil || runner.Reported(err) {
		return
	}
	// Messages may quote names, versions and command lines others
	// control, and arguments of any size: no line may act on the
	// terminal, and none is longer than maxErrorLine.
	fmt.Fprintf(w, "ktest: error: %s\n", safeLines(strings.TrimSpace(err.Error())))
	hints := hint.Of(err)
	if h := fdlimit.Hint(err); h != "" && !slices.Contains(hints, h) {
		hints = append(hints, h)
	}
	for _, h := range hints {
		fmt.Fprintf(w, "  hint: %s\n", safeLines(strings.TrimSpace(h)))
	}
}

// maxErrorLine bounds one line of an error message; call sites cut the
// values they echo (termtext.Quote), this is the net under them.
const maxErrorLine = 2000

func safeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = termtext.Line(termtext.Clip(l, maxErrorLine))
	}
	return strings.Join(lines, "\n")
}
