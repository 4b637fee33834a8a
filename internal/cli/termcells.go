package cli

import (
	"fmt"
	"strings"

	"github.com/ktest-dev/ktest/internal/termtext"
)

// row joins table cells with tabs for a tabwriter, each cell made safe for
// the terminal: keys, versions, command lines and reasons come from files
// and processes that others control, and an ESC, a newline or a tab in
// one would act on the terminal, forge a line, or break the table.
func row(cells ...any) string {
	parts := make([]string, len(cells))
	for i, c := range cells {
		parts[i] = termtext.Line(fmt.Sprint(c))
	}
	return strings.Join(parts, "\t")
}

// echo is a value an error message repeats (a path, a name): made safe
// for the terminal and cut to termtext.MaxEcho bytes.
func echo(s string) string {
	return termtext.Line(termtext.Clip(s, 0))
}
