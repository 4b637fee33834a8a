package runner

import (
	"fmt"
	"strings"
	"time"

	"gotest.tools/gotestsum/testjson"
)

// Verdict is the one-word outcome of a run.
type Verdict string

// Verdicts, as printed in the summary line and recorded in run.json.
const (
	VerdictPass        Verdict = "PASS"
	VerdictFail        Verdict = "FAIL"
	VerdictSkip        Verdict = "SKIP"
	VerdictInterrupted Verdict = "INTERRUPTED"
)

// Counts are test results over every package, subtests included. A skipped
// test is counted as skipped only, never as passed.
type Counts struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	// PackagesFailed counts packages that failed without a failing test:
	// build errors, a failing TestMain, a crash outside a test.
	PackagesFailed int `json:"packages_failed"`
}

func countExecution(exec *testjson.Execution) Counts {
	var c Counts
	if exec == nil {
		return c
	}
	for _, name := range exec.Packages() {
		p := exec.Package(name)
		c.Passed += len(p.Passed)
		c.Failed += len(p.Failed)
		c.Skipped += len(p.Skipped)
		if p.Result() == testjson.ActionFail && len(p.Failed) == 0 {
			c.PackagesFailed++
		}
	}
	// Build failures arrive as build-output events of packages that never
	// ran; testjson records them as errors rather than packages.
	if len(exec.Errors()) > 0 && c.PackagesFailed == 0 && c.Failed == 0 {
		c.PackagesFailed = 1
	}
	return c
}

func verdictOf(c Counts, goExit int, interrupted bool) Verdict {
	switch {
	case interrupted:
		return VerdictInterrupted
	case goExit != 0 || c.Failed > 0:
		return VerdictFail
	case c.Passed == 0 && c.Skipped > 0:
		return VerdictSkip
	}
	return VerdictPass
}

// summaryLine renders `ktest: VERDICT  N passed, N failed, N skipped in D`.
// extras are appended in parentheses, e.g. skip categories.
func summaryLine(v Verdict, c Counts, elapsed time.Duration, extras []string) string {
	line := fmt.Sprintf("ktest: %s  %d passed, %d failed, %d skipped in %s",
		v, c.Passed, c.Failed, c.Skipped, formatElapsed(elapsed))
	if len(extras) > 0 {
		line += " (" + strings.Join(extras, "; ") + ")"
	}
	return line
}

func formatElapsed(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
