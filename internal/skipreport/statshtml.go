package skipreport

import (
	_ "embed"
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strings"
	"sync"
	"time"
)

//go:embed statshtml.tmpl
var statsHTMLTemplate string

// statsPage is parsed on first use, not in package init: every ktest
// process, also each run's supervisor of go test, links this package.
var statsPage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("stats").Funcs(statsFuncs).Parse(statsHTMLTemplate))
})

var statsFuncs = template.FuncMap{
	"pct":      pct,
	"ms":       ms,
	"catColor": categoryColor,
	"cats":     categoryList,
	"join":     strings.Join,
	"orDash":   orDash,
	"count":    groupDigits,
	"time": func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"barWidth": func(r *float64) string {
		if r == nil {
			return "0%"
		}
		return fmt.Sprintf("%.1f%%", min(max(*r, 0), 1)*100)
	},
	"groupTable": func(id, title string, rows []GroupStats, distinct int) groupTable {
		t := groupTable{ID: id, Title: title, Rows: rows}
		if distinct > len(rows) {
			t.More = distinct
		}
		return t
	},
	"rateAttr": func(r *float64) string { // sort key for the table script
		if r == nil {
			return "-1"
		}
		return fmt.Sprintf("%.6f", *r)
	},
}

// statsPageData is what the template renders.
type statsPageData struct {
	S *Stats
	// SkipRateChart and RunChart are inline SVG built by this file; they
	// are empty when there is nothing to draw.
	SkipRateChart template.HTML
	RunChart      template.HTML
	// Series names the skip-rate chart's lines, for its legend.
	Series     []chartSeries
	Incomplete int
}

// groupTable is one "skip rate by" table; More is the number of groups
// before --top cut the list, or 0 when it was not cut.
type groupTable struct {
	ID, Title string
	Rows      []GroupStats
	More      int
}

type chartSeries struct {
	Name, Color string
}

// WriteStatsHTML writes the report as one self-contained HTML page: inline
// CSS, inline SVG charts (skip rate per UTC day by category, and passed,
// failed and skipped tests per run) and a small inline script that makes
// tables sortable and chart series toggleable. It loads nothing from the
// network, so it can be archived as a CI artifact and opened offline.
func WriteStatsHTML(w io.Writer, s *Stats) error {
	data := statsPageData{S: s, Incomplete: s.Runs.Incomplete + s.Runs.Unusable}
	data.SkipRateChart, data.Series = skipRateChart(s)
	data.RunChart = runChart(s)
	if err := statsPage().Execute(w, data); err != nil {
		return fmt.Errorf("render stats HTML: %w", err)
	}
	return nil
}

// categoryColors are fixed per category so that a category keeps its color
// from one report to the next.
var categoryColors = map[string]string{
	"all":        "#1f2937",
	"contention": "#d97706",
	"no-kernel":  "#7c3aed",
	"no-kvm":     "#2563eb",
	"no-qemu":    "#0d9488",
	"other":      "#6b7280",
	"(none)":     "#a8a29e",
}

// extraColors serve categories this ktest does not know, in order of a
// hash of the name.
var extraColors = []string{"#db2777", "#65a30d", "#0284c7", "#b45309", "#9333ea", "#be123c"}

func categoryColor(name string) string {
	if c, ok := categoryColors[name]; ok {
		return c
	}
	h := 0
	for _, r := range name {
		h = h*31 + int(r)
	}
	return extraColors[(h%len(extraColors)+len(extraColors))%len(extraColors)]
}

// Chart geometry, in SVG user units; the SVG scales to its container.
const (
	chartW      = 960
	chartH      = 300
	chartLeft   = 56
	chartRight  = 16
	chartTop    = 16
	chartBottom = 44
)

// svgBuilder collects SVG markup; every piece of text goes through esc.
type svgBuilder struct{ strings.Builder }

func (b *svgBuilder) f(format string, args ...any) { fmt.Fprintf(&b.Builder, format, args...) }

func esc(s string) string { return html.EscapeString(s) }

// niceCeil rounds a rate (0..1) up to a readable axis maximum.
func niceCeil(v float64) float64 {
	// Each maximum's quarters are round percentages.
	for _, c := range []float64{0.02, 0.04, 0.08, 0.12, 0.2, 0.4, 0.6, 0.8, 1} {
		if v <= c+1e-12 {
			return c
		}
	}
	return math.Ceil(v)
}

// skipRateChart draws the skip rate per UTC day: one line for all tests and
// one per category that had skips. Days without complete runs are gaps.
func skipRateChart(s *Stats) (template.HTML, []chartSeries) {
	type point struct {
		day  time.Time
		rate float64
		num  int
		den  int
	}
	var days []DayStats
	for _, d := range s.Daily {
		if d.Tests > 0 {
			days = append(days, d)
		}
	}
	if len(days) == 0 {
		return "", nil
	}
	series := []chartSeries{{Name: "all", Color: categoryColor("all")}}
	for _, c := range s.ByCategory {
		if c.Skipped > 0 {
			series = append(series, chartSeries{Name: c.Category, Color: categoryColor(c.Category)})
		}
	}
	points := make([][]point, len(series))
	maxRate := 0.0
	for _, d := range days {
		day, _ := time.Parse(time.DateOnly, d.Day)
		for i, se := range series {
			n := d.Skipped
			if se.Name != "all" {
				n = d.SkippedByCategory[se.Name]
			}
			r := float64(n) / float64(d.Tests)
			points[i] = append(points[i], point{day, r, n, d.Tests})
			maxRate = max(maxRate, r)
		}
	}
	yMax := niceCeil(max(maxRate, 0.01))
	first, _ := time.Parse(time.DateOnly, days[0].Day)
	last, _ := time.Parse(time.DateOnly, days[len(days)-1].Day)
	span := last.Sub(first).Hours() / 24
	plotW, plotH := float64(chartW-chartLeft-chartRight), float64(chartH-chartTop-chartBottom)
	x := func(t time.Time) float64 {
		if span == 0 {
			return chartLeft + plotW/2
		}
		return chartLeft + plotW*(t.Sub(first).Hours()/24)/span
	}
	y := func(r float64) float64 { return chartTop + plotH*(1-r/yMax) }

	var b svgBuilder
	b.f(`<svg class="chart" id="skip-rate-chart" viewBox="0 0 %d %d" role="img" aria-label="Skip rate per UTC day by category" xmlns="http://www.w3.org/2000/svg">`, chartW, chartH)
	for i := 0; i <= 4; i++ {
		r := yMax * float64(i) / 4
		b.f(`<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, chartLeft, chartW-chartRight, y(r), y(r))
		b.f(`<text class="axis" x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, chartLeft-8, y(r), esc(axisPct(r)))
	}
	for _, t := range dayTicks(first, last, 8) {
		b.f(`<line class="tick" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>`, x(t), x(t), chartH-chartBottom, chartH-chartBottom+5)
		b.f(`<text class="axis" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x(t), chartH-chartBottom+20, anchorAt(x(t)), esc(t.Format("Jan 2")))
	}
	b.f(`<line class="axisline" x1="%d" x2="%d" y1="%d" y2="%d"/>`, chartLeft, chartW-chartRight, chartH-chartBottom, chartH-chartBottom)
	// Draw "all" last so that it stays on top.
	for i := len(series) - 1; i >= 0; i-- {
		se := series[i]
		b.f(`<g class="series" data-series="%s" style="--c:%s">`, esc(se.Name), se.Color)
		var path strings.Builder
		prev := time.Time{}
		for j, p := range points[i] {
			cmd := "L"
			// A day without complete runs between two points breaks the
			// line, so that a gap does not look like a trend.
			if j == 0 || p.day.Sub(prev) > 24*time.Hour {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, x(p.day), y(p.rate))
			prev = p.day
		}
		width := 2.0
		if se.Name == "all" {
			width = 3
		}
		b.f(`<path d="%s" fill="none" stroke="%s" stroke-width="%.0f" stroke-linejoin="round" stroke-linecap="round"/>`, strings.TrimSpace(path.String()), se.Color, width)
		if len(points[i]) <= 120 {
			for _, p := range points[i] {
				b.f(`<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s"><title>%s</title></circle>`, x(p.day), y(p.rate), width+1, se.Color,
					esc(fmt.Sprintf("%s %s: %.1f%% (%d of %d tests)", p.day.Format(time.DateOnly), se.Name, p.rate*100, p.num, p.den)))
			}
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()), series
}

// runChart draws passed, failed and skipped tests of each complete run as
// stacked bars, oldest run first.
func runChart(s *Stats) template.HTML {
	var runs []RunSummary
	maxTotal := 0
	for _, r := range s.RunList {
		if r.Complete {
			runs = append(runs, r)
			maxTotal = max(maxTotal, r.Passed+r.Failed+r.Skipped)
		}
	}
	if len(runs) == 0 {
		return ""
	}
	yMax := niceCount(max(maxTotal, 1))
	plotW, plotH := float64(chartW-chartLeft-chartRight), float64(chartH-chartTop-chartBottom)
	slot := plotW / float64(len(runs))
	gap := min(slot*0.2, 4)
	if slot < 3 {
		gap = 0 // thousands of runs: bars touch
	}
	barW := math.Min(slot-gap, 48)
	y := func(n float64) float64 { return chartTop + plotH*(1-n/float64(yMax)) }

	var b svgBuilder
	b.f(`<svg class="chart" id="run-chart" viewBox="0 0 %d %d" role="img" aria-label="Passed, failed and skipped tests per run" xmlns="http://www.w3.org/2000/svg">`, chartW, chartH)
	for i := 0; i <= 4; i++ {
		n := float64(yMax) * float64(i) / 4
		b.f(`<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, chartLeft, chartW-chartRight, y(n), y(n))
		b.f(`<text class="axis" x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, chartLeft-8, y(n), esc(trimFloat(n)))
	}
	labelEvery := max(1, int(math.Ceil(float64(len(runs))/8)))
	for i, r := range runs {
		cx := chartLeft + slot*(float64(i)+0.5)
		x0 := cx - barW/2
		base := 0.0
		title := fmt.Sprintf("%s  %s  %s: %d passed, %d failed, %d skipped", r.ID, startLabel(r.Start), orDash(r.Verdict), r.Passed, r.Failed, r.Skipped)
		if r.Shard != "" {
			title += ", shard " + r.Shard
		}
		b.f(`<g class="run" data-verdict="%s"><title>%s</title>`, esc(r.Verdict), esc(title))
		for _, part := range []struct {
			class string
			n     int
		}{{"pass", r.Passed}, {"fail", r.Failed}, {"skip", r.Skipped}} {
			if part.n == 0 {
				continue
			}
			top := base + float64(part.n)
			b.f(`<rect class="%s" x="%.2f" y="%.2f" width="%.2f" height="%.2f"/>`, part.class, x0, y(top), barW, y(base)-y(top))
			base = top
		}
		if base == 0 {
			// A run with no test results still shows where it was.
			b.f(`<rect class="none" x="%.2f" y="%.2f" width="%.2f" height="2"/>`, x0, y(0)-2, barW)
		}
		b.WriteString(`</g>`)
		if i%labelEvery == 0 && r.Start != nil {
			b.f(`<text class="axis" x="%.1f" y="%d" text-anchor="%s">%s</text>`, cx, chartH-chartBottom+20, anchorAt(cx), esc(r.Start.UTC().Format("Jan 2 15:04")))
		}
	}
	b.f(`<line class="axisline" x1="%d" x2="%d" y1="%d" y2="%d"/>`, chartLeft, chartW-chartRight, chartH-chartBottom, chartH-chartBottom)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCount rounds a test count up to an axis maximum whose quarters are
// whole, round numbers: 4, 8, 12, 16 or 20 times a power of ten.
func niceCount(n int) int {
	for p := 1; ; p *= 10 {
		for _, m := range []int{4, 8, 12, 16, 20} {
			if m*p >= n {
				return m * p
			}
		}
	}
}

// anchorAt keeps an x-axis label inside the chart: labels near an edge are
// anchored at their end or start instead of their middle.
func anchorAt(x float64) string {
	switch {
	case x > chartW-chartRight-40:
		return "end"
	case x < chartLeft+40:
		return "start"
	}
	return "middle"
}

// dayTicks picks at most n evenly spaced days from first to last.
func dayTicks(first, last time.Time, n int) []time.Time {
	days := int(last.Sub(first).Hours()/24) + 1
	step := max(1, int(math.Ceil(float64(days)/float64(n))))
	var out []time.Time
	for i := 0; i < days; i += step {
		out = append(out, first.AddDate(0, 0, i))
	}
	return out
}

func axisPct(r float64) string {
	return trimFloat(r*100) + "%"
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}

func startLabel(t *time.Time) string {
	if t == nil {
		return "start unknown"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// groupDigits writes a count with thousands separators (400,000) for the
// summary cards.
func groupDigits(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
