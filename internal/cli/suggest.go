package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ktest-dev/ktest/internal/termtext"
)

// closest returns the candidate nearest to s by edit distance, if it is near
// enough to be a plausible typo (at most 2 edits, or a prefix), else "".
func closest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		d := editDistance(s, c)
		if len(s) >= 3 && len(c) > len(s) && c[:len(s)] == s {
			d = 1
		}
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// packageLookupTimeout bounds the `go list` that tells a mistyped
// subcommand from a package of that name.
const packageLookupTimeout = 10 * time.Second

// subcommandTypo returns an error suggesting a subcommand when arg, ktest's
// first argument, looks like a mistyped one (`ktest kernal list`) rather
// than the start of go test arguments. It is nil for a flag, for anything
// path-like (./kernel, ./..., example.com/x), for a word not near any
// subcommand, and for a word that names a package go can find (a module
// named kernal): those go to go test as they always did.
func subcommandTypo(ctx context.Context, arg string, names []string) error {
	if arg == "" || strings.HasPrefix(arg, "-") || strings.ContainsAny(arg, "/.\\@") {
		return nil
	}
	near := closest(arg, names)
	if near == "" || packageExists(ctx, arg) {
		return nil
	}
	return fmt.Errorf("unknown command %s; did you mean ktest %s? (go has no package of that name either; to pass it to go test anyway: ktest -- %s)",
		termtext.Quote(arg), near, echo(arg))
}

// packageExists asks go whether pattern names a package (without building
// or downloading anything). When go cannot be asked in time, it answers
// yes: the word then goes to go test, as before, and go explains.
func packageExists(ctx context.Context, pattern string) bool {
	name := os.Getenv("KTEST_GO")
	if name == "" {
		name = "go"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return false // no go: a run could not start; the typo is the likelier story
	}
	ctx, cancel := context.WithTimeout(ctx, packageLookupTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "list", "-find", "--", pattern)
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && ctx.Err() == nil {
		return false
	}
	return true
}
