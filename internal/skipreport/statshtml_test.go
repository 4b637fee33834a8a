package skipreport

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func fixtureHTML(t *testing.T, dirs []string, since time.Time) (string, *Stats) {
	t.Helper()
	s := loadStats(t, dirs, since)
	var page bytes.Buffer
	if err := WriteStatsHTML(&page, s); err != nil {
		t.Fatal(err)
	}
	return page.String(), s
}

// TestStatsHTMLSelfContained checks that the page loads nothing from
// anywhere, that its charts are well-formed SVG, and that it shows the
// report's numbers.
func TestStatsHTMLSelfContained(t *testing.T) {
	page, s := fixtureHTML(t, []string{shardA, shardB}, time.Time{})
	// The only URL allowed is the SVG namespace name, which is never fetched.
	rest := strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, "")
	for _, bad := range []string{"http://", "https://", "//fonts.", "<link", " src=", "@import", "url(", "@font-face"} {
		if strings.Contains(rest, bad) {
			t.Errorf("page refers to something outside itself: contains %q", bad)
		}
	}
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(page, -1)
	if len(svgs) != 2 {
		t.Fatalf("%d charts, want 2 (skip rate per day, tests per run)", len(svgs))
	}
	for _, svg := range svgs {
		dec := xml.NewDecoder(strings.NewReader(svg))
		for {
			if _, err := dec.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("chart is not well-formed SVG: %v\n%s", err, svg)
			}
		}
	}
	// One line per category with skips, plus "all"; one bar group per
	// complete run.
	for _, c := range []string{"all", "no-kvm", "contention", "no-kernel", "other"} {
		if !strings.Contains(svgs[0], `data-series="`+c+`"`) || !strings.Contains(page, `data-toggle-series="`+c+`"`) {
			t.Errorf("skip-rate chart has no line or legend entry for %s", c)
		}
	}
	if n := strings.Count(svgs[1], `<g class="run"`); n != s.Runs.Complete {
		t.Errorf("run chart has %d bars, want %d", n, s.Runs.Complete)
	}
	for _, want := range []string{"TestBoot", "TestNet/ipv6", "cargo ktstr kernel clean", "32.4%", "20261123T120003.000000000Z-v9.json", "no runs" /* absent */} {
		if want == "no runs" {
			if strings.Contains(page, `id="no-runs"`) {
				t.Errorf("page with runs says there are none")
			}
			continue
		}
		if !strings.Contains(page, want) {
			t.Errorf("page does not show %q", want)
		}
	}
	if strings.Contains(page, "ZgotmplZ") {
		t.Errorf("the template refused a value (ZgotmplZ in output)")
	}
}

// TestStatsHTMLEscapes checks that names from sidecars, which anyone can
// write, cannot inject markup into the page or its charts.
func TestStatsHTMLEscapes(t *testing.T) {
	d, err := CreateRunDir(t.TempDir(), statsNow)
	if err != nil {
		t.Fatal(err)
	}
	evil := `<script>alert("x")</script>&`
	if err := d.WriteRun(RunRecord{Start: statsNow, Verdict: "<b>PASS</b>", Counts: RunCounts{Passed: 1, Skipped: 1,
		SkippedByCategory: map[string]int{evil: 1}}, Host: HostSnapshot{Hostname: evil}, RunSource: "local"}); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteSkip(d.Path, SkipRecord{Package: evil, Test: evil, Category: Category(evil), Reason: evil,
		Holders: []HolderRecord{{Cmdline: evil}}}); err != nil {
		t.Fatal(err)
	}
	s := ComputeStats(ReadRunDirs([]string{d.Path}), StatsOptions{Dirs: []string{d.Path}, Now: statsNow, Top: 10})
	var page bytes.Buffer
	if err := WriteStatsHTML(&page, s); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(page.String(), "<script>"); n != 1 {
		t.Errorf("%d <script> elements, want only the page's own", n)
	}
	if strings.Contains(page.String(), "<b>PASS") {
		t.Errorf("verdict markup reached the page")
	}
	if !strings.Contains(page.String(), "&lt;script&gt;") {
		t.Errorf("escaped name not shown")
	}
}

func TestStatsHTMLNoRuns(t *testing.T) {
	page, _ := fixtureHTML(t, []string{filepath.Join(statsFixtures, "empty")}, time.Time{})
	if !strings.Contains(page, `id="no-runs"`) || !strings.Contains(page, "No runs found under testdata/stats/empty") || strings.Contains(page, "<svg") {
		t.Errorf("empty report page:\n%s", page)
	}
}

// chromiumArgs are the flags that make headless Chromium quiet, offline
// and runnable as root.
var chromiumArgs = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0"}

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestStatsHTMLInChromium opens the fixture report in a real headless
// browser: the page's script must run to its end (it then sets
// data-stats-ready to the number of charts) without logging anything to
// the console, and a screenshot must render. It skips when Chromium is not
// installed (CI need not have it); scripts/check-stats-html.sh does the
// same check from the command line and keeps the screenshot.
func TestStatsHTMLInChromium(t *testing.T) {
	chromium := findChromium()
	if chromium == "" {
		t.Skip("chromium not installed (apt-get install chromium)")
	}
	cases := []struct {
		name, marker string
		dirs         []string
	}{
		{"fixtures", `data-stats-ready="2"`, []string{shardA, shardB}},
		{"empty", `data-stats-ready="0"`, []string{filepath.Join(statsFixtures, "empty")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			page, _ := fixtureHTML(t, tc.dirs, time.Time{})
			dir := t.TempDir()
			file := filepath.Join(dir, "stats.html")
			if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
				t.Fatal(err)
			}
			run := func(extra ...string) (stdout, stderr string) {
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				defer cancel()
				args := append(append([]string{}, chromiumArgs...), "--user-data-dir="+t.TempDir())
				args = append(append(args, extra...), "file://"+file)
				cmd := exec.CommandContext(ctx, chromium, args...)
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				if err := cmd.Run(); err != nil {
					t.Fatalf("%s: %v\n%s", cmd, err, errb.String())
				}
				return out.String(), errb.String()
			}
			dom, logs := run("--dump-dom")
			if !strings.Contains(dom, tc.marker) {
				t.Errorf("script did not finish: no %s in the DOM", tc.marker)
			}
			for _, line := range strings.Split(logs, "\n") {
				if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Uncaught") {
					t.Errorf("console output: %s", line)
				}
			}
			shot := filepath.Join(dir, "stats.png")
			run("--screenshot="+shot, "--window-size=1280,1600")
			png, err := os.ReadFile(shot)
			if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) || len(png) < 10000 {
				t.Errorf("screenshot %s: %d bytes, %v", shot, len(png), err)
			}
		})
	}
}
