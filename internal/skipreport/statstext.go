package skipreport

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ktest-dev/ktest/internal/termtext"
)

// maxTextCell bounds a free-text cell (kernel paths, package and test
// names) that has columns after it in the text report, so that one long
// value does not push every column off the screen; --json has the full
// text. A last column (reasons, command lines) is not cut.
const maxTextCell = 72

// WriteStatsText writes the report as plain-text sections of aligned
// columns. With no runs it says "no runs found under DIR" instead, and
// still lists problems, if any.
func WriteStatsText(w io.Writer, s *Stats) error {
	var b strings.Builder
	// Everything below may come from sidecars others wrote: table cells,
	// and the few values outside tables, are made safe for the terminal.
	where := termtext.Line(strings.Join(s.Dirs, ", "))
	since := ""
	if s.Since != nil {
		since = " since " + s.Since.Format(time.RFC3339)
	}
	if s.Runs.Total == 0 {
		fmt.Fprintf(&b, "no runs found under %s%s\n", where, since)
		writeProblems(&b, s)
		_, err := io.WriteString(w, b.String())
		return err
	}

	fmt.Fprintf(&b, "ktest stats over %s%s\n\n", where, since)
	r := s.Runs
	fmt.Fprintf(&b, "Runs: %d (%d complete, %d incomplete, %d with an unusable run.json)", r.Total, r.Complete, r.Incomplete, r.Unusable)
	if r.First != nil && r.Last != nil {
		fmt.Fprintf(&b, ", started %s .. %s", r.First.Format("2006-01-02 15:04"), r.Last.Format("2006-01-02 15:04 MST"))
	}
	b.WriteString("\nVerdicts:")
	verdicts := slices.SortedFunc(maps.Keys(r.Verdicts), func(x, y string) int {
		ix, iy := slices.Index(statsVerdicts, x), slices.Index(statsVerdicts, y)
		if ix < 0 {
			ix = len(statsVerdicts)
		}
		if iy < 0 {
			iy = len(statsVerdicts)
		}
		return cmp.Or(cmp.Compare(ix, iy), cmp.Compare(x, y))
	})
	for i, v := range verdicts {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %s %d", termtext.Line(v), r.Verdicts[v])
	}
	t := s.Tests
	fmt.Fprintf(&b, "\nTests: %d (%d passed, %d failed, %d skipped), skip rate %s\nSkip sidecars: %d\n",
		t.Total, t.Passed, t.Failed, t.Skipped, pct(t.SkipRate), s.SkipSidecars)

	section(&b, "Skip rate by category", "", len(s.ByCategory))
	table(&b, []string{"CATEGORY", "SKIPPED", "TESTS", "RATE", "SIDECARS", "RUNS"}, len(s.ByCategory), func(i int) []any {
		c := s.ByCategory[i]
		return []any{c.Category, c.Skipped, c.Tests, pct(c.SkipRate), c.Sidecars, c.Runs}
	})
	groups := []struct {
		title, col string
		list       []GroupStats
		distinct   int
	}{
		{"By kernel", "KERNEL", s.ByKernel, s.Distinct.Kernels},
		{"Skip rate by host", "HOST", s.ByHost, s.Distinct.Hosts},
		{"Skip rate by run source", "RUN SOURCE", s.ByRunSource, len(s.ByRunSource)},
		{"Skip rate by package", "PACKAGE", s.ByPackage, s.Distinct.Packages},
	}
	for _, g := range groups {
		section(&b, g.title, topNote(len(g.list), g.distinct), len(g.list))
		if g.col == "KERNEL" {
			// A run over several kernels counts each kernel's pass
			// here: which kernel passes, fails and skips.
			table(&b, []string{g.col, "RUNS", "TESTS", "PASSED", "FAILED", "SKIPPED", "RATE"}, len(g.list), func(i int) []any {
				x := g.list[i]
				return []any{cell(x.Key), x.Runs, x.Tests, x.Passed, x.Failed, x.Skipped, pct(x.SkipRate)}
			})
			continue
		}
		table(&b, []string{g.col, "RUNS", "TESTS", "SKIPPED", "RATE"}, len(g.list), func(i int) []any {
			x := g.list[i]
			return []any{cell(x.Key), x.Runs, x.Tests, x.Skipped, pct(x.SkipRate)}
		})
	}

	section(&b, "Most-skipped tests", topNote(len(s.MostSkipped), s.Distinct.SkippedTests), len(s.MostSkipped))
	table(&b, []string{"PACKAGE", "TEST", "SKIPS", "SKIPPED RUNS", "RATE", "CATEGORIES", "LAST REASON"}, len(s.MostSkipped), func(i int) []any {
		m := s.MostSkipped[i]
		return []any{cell(orDash(m.Package)), cell(m.Test), m.Count, fmt.Sprintf("%d/%d", m.SkippedRuns, m.Runs), pct(m.SkipRate),
			categoryList(m.Categories), oneLineText(m.LastReason)}
	})

	l := s.LockWait
	b.WriteString("\nCache lock wait\n")
	if l.Samples == 0 {
		b.WriteString("  (no run took the cache lock)\n")
	} else {
		fmt.Fprintf(&b, "  %s asked for the lock: wait p50 %s, p95 %s, max %s; %d timed out without it\n",
			plural(l.Samples, "run"), ms(l.P50MS), ms(l.P95MS), ms(l.MaxMS), l.NotAcquired)
	}
	section(&b, "Lock holders", topNote(len(s.LockHolders), s.Distinct.LockHolders), len(s.LockHolders))
	table(&b, []string{"RUNS", "SIGHTINGS", "CMDLINE"}, len(s.LockHolders), func(i int) []any {
		h := s.LockHolders[i]
		return []any{h.Runs, h.Sightings, oneLineText(h.Cmdline)}
	})

	section(&b, "Per day (UTC)", "", len(s.Daily))
	table(&b, []string{"DAY", "RUNS", "TESTS", "PASSED", "FAILED", "SKIPPED", "RATE", "INCOMPLETE"}, len(s.Daily), func(i int) []any {
		d := s.Daily[i]
		return []any{d.Day, d.Runs, d.Tests, d.Passed, d.Failed, d.Skipped, pct(d.SkipRate), d.Incomplete}
	})
	writeProblems(&b, s)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeProblems(b *strings.Builder, s *Stats) {
	p := s.Problems
	if len(p.Files) == 0 && len(p.IncompleteRuns) == 0 {
		return
	}
	fmt.Fprintf(b, "\nProblems: %s", plural(len(p.Files), "unusable file"))
	if len(p.ByKind) > 0 {
		var kinds []string
		for _, k := range slices.Sorted(maps.Keys(p.ByKind)) {
			kinds = append(kinds, fmt.Sprintf("%d %s", p.ByKind[k], k))
		}
		fmt.Fprintf(b, " (%s)", strings.Join(kinds, ", "))
	}
	fmt.Fprintf(b, ", %s (no run.json)\n", plural(len(p.IncompleteRuns), "incomplete run"))
	table(b, []string{"KIND", "PATH", "REASON"}, len(p.Files)+len(p.IncompleteRuns), func(i int) []any {
		if i < len(p.Files) {
			f := p.Files[i]
			return []any{f.Kind, f.Path, oneLineText(f.Reason)}
		}
		return []any{"incomplete_run", p.IncompleteRuns[i-len(p.Files)], "no run.json: the run was killed or is still going"}
	})
}

func section(b *strings.Builder, title, note string, n int) {
	b.WriteString("\n" + title)
	if note != "" {
		b.WriteString(" " + note)
	}
	b.WriteByte('\n')
	if n == 0 {
		b.WriteString("  (none)\n")
	}
}

// table writes n rows under a header, aligned with tabwriter. It writes
// nothing for n == 0 (section said "(none)").
func table(b *strings.Builder, header []string, n int, row func(int) []any) {
	if n == 0 {
		return
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  "+strings.Join(header, "\t"))
	for i := range n {
		cells := row(i)
		parts := make([]string, len(cells))
		for j, c := range cells {
			parts[j] = termtext.Line(strings.ReplaceAll(fmt.Sprint(c), "\t", " "))
		}
		fmt.Fprintln(tw, "  "+strings.Join(parts, "\t"))
	}
	tw.Flush()
}

func topNote(shown, distinct int) string {
	if shown < distinct {
		return fmt.Sprintf("(top %d of %d)", shown, distinct)
	}
	return ""
}

func pct(r *float64) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", *r*100)
}

func ms(v int64) string {
	if v >= 10_000 {
		return fmt.Sprintf("%.1f s", float64(v)/1000)
	}
	return fmt.Sprintf("%d ms", v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLineText folds free text onto one line for a table cell.
func oneLineText(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// cell makes free text fit one table cell: one line, at most maxTextCell
// characters.
func cell(s string) string {
	s = oneLineText(s)
	if r := []rune(s); len(r) > maxTextCell {
		return string(r[:maxTextCell-3]) + "..."
	}
	return s
}

func categoryList(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return strings.Join(parts, ",")
}
