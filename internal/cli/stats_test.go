package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/skipreport"
)

// writeStatsRun writes one run with the real sidecar writers: run.json with the
// given counts and one skip sidecar per skipped test.
func writeStatsRun(t *testing.T, base string, start time.Time, passed int, skips ...string) *skipreport.RunDir {
	t.Helper()
	d, err := skipreport.CreateRunDir(base, start)
	if err != nil {
		t.Fatal(err)
	}
	rec := skipreport.RunRecord{Start: start, End: start.Add(time.Minute), Verdict: "PASS", RunSource: "ci",
		Counts: skipreport.RunCounts{Passed: passed, Skipped: len(skips), SkippedByCategory: map[string]int{"contention": len(skips)}},
		Lock:   &skipreport.LockRecord{Mode: "LOCK_SH", WaitedMS: 40, Acquired: true}}
	if len(skips) == 0 {
		rec.Counts.SkippedByCategory = nil
	}
	if err := d.WriteRun(rec); err != nil {
		t.Fatal(err)
	}
	for _, test := range skips {
		if _, err := skipreport.WriteSkip(d.Path, skipreport.SkipRecord{Time: start.Add(time.Second), Package: "example.com/p",
			Test: test, Category: skipreport.Contention, Reason: "KVM_CREATE_VM: EBUSY"}); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func runStatsCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = runStats(context.Background(), args, IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	return out.String(), errb.String(), err
}

func TestStatsJSONMergesDirs(t *testing.T) {
	now := time.Now().UTC()
	shard1, shard2 := t.TempDir(), t.TempDir()
	writeStatsRun(t, shard1, now.Add(-2*time.Hour), 3, "TestA")
	d := writeStatsRun(t, shard2, now.Add(-time.Hour), 4, "TestA", "TestB")
	if err := os.WriteFile(filepath.Join(d.Path, "skips", "broken.json"), []byte(`{"schema":"ktest.skip/v1",`), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runStatsCmd(t, "--dir", shard1, "--dir="+shard2, "--json")
	if err != nil {
		t.Fatalf("ktest stats: %v\n%s", err, stderr)
	}
	var s skipreport.Stats
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, stdout)
	}
	if s.Schema != "ktest.stats/v1" || s.Runs.Total != 2 || s.Tests.Total != 10 || s.Tests.Skipped != 3 ||
		s.SkipSidecars != 3 || len(s.MostSkipped) != 2 || s.MostSkipped[0].Test != "TestA" || s.MostSkipped[0].Count != 2 {
		t.Errorf("merged stats: runs %+v tests %+v sidecars %d most %+v", s.Runs, s.Tests, s.SkipSidecars, s.MostSkipped)
	}
	if len(s.Problems.Files) != 1 || filepath.Base(s.Problems.Files[0].Path) != "broken.json" || s.Problems.Files[0].Kind != "malformed" {
		t.Errorf("problems = %+v, want broken.json malformed", s.Problems.Files)
	}
	if len(s.Dirs) != 2 || s.Dirs[0] != shard1 || s.Dirs[1] != shard2 {
		t.Errorf("dirs = %v", s.Dirs)
	}
	// Every field is in the document, also when empty: consumers need not
	// guess at absent keys.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"schema", "generated_at", "dirs", "since", "top", "distinct", "runs", "tests", "skip_sidecars",
		"by_category", "by_package", "by_kernel", "by_host", "by_run_source", "most_skipped", "lock_wait", "lock_holders",
		"daily", "run_list", "problems"} {
		if _, ok := raw[key]; !ok {
			t.Errorf("JSON has no %q", key)
		}
	}
}

func TestStatsTextThroughRun(t *testing.T) {
	base := t.TempDir()
	writeStatsRun(t, base, time.Now().Add(-time.Hour), 5, "TestBoot")
	var out, errb bytes.Buffer
	if err := Run(context.Background(), []string{"stats", "--dir", base}, IO{Stdout: &out, Stderr: &errb}); err != nil {
		t.Fatalf("ktest stats: %v\n%s", err, errb.String())
	}
	for _, want := range []string{"ktest stats over " + base, "Runs: 1 (1 complete", "Tests: 6 (5 passed, 0 failed, 1 skipped), skip rate 16.7%",
		"Skip rate by category", "contention", "Most-skipped tests", "TestBoot", "p50 40 ms"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestStatsSinceFilters(t *testing.T) {
	base := t.TempDir()
	now := time.Now().UTC()
	writeStatsRun(t, base, now.Add(-3*24*time.Hour), 1, "TestOld")
	writeStatsRun(t, base, now.Add(-30*time.Minute), 2)
	for since, runs := range map[string]int{"1d": 1, "7d": 2, "10m": 0, "1d12h": 1} {
		stdout, _, err := runStatsCmd(t, "--dir", base, "--since", since, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var s skipreport.Stats
		if err := json.Unmarshal([]byte(stdout), &s); err != nil {
			t.Fatal(err)
		}
		if s.Runs.Total != runs || s.Since == nil {
			t.Errorf("--since %s: %d runs (since %v), want %d", since, s.Runs.Total, s.Since, runs)
		}
	}
}

func TestStatsHTMLFile(t *testing.T) {
	base := t.TempDir()
	writeStatsRun(t, base, time.Now().Add(-time.Hour), 5, "TestBoot")
	file := filepath.Join(t.TempDir(), "report.html")
	stdout, stderr, err := runStatsCmd(t, "--dir", base, "--html", file)
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("--html wrote no file: %v", err)
	}
	if !bytes.HasPrefix(page, []byte("<!DOCTYPE html>")) || !bytes.Contains(page, []byte(`<svg class="chart" id="run-chart"`)) ||
		!bytes.Contains(page, []byte("TestBoot")) || !bytes.Contains(page, []byte("data-stats-ready")) {
		t.Errorf("HTML report %s looks wrong (%d bytes)", file, len(page))
	}
	if !strings.Contains(stderr, "wrote HTML report "+file) || !strings.Contains(stdout, "Skip rate by category") {
		t.Errorf("stdout %q stderr %q", stdout, stderr)
	}
}

func TestStatsNoRuns(t *testing.T) {
	empty := t.TempDir()
	stdout, _, err := runStatsCmd(t, "--dir", empty)
	if err != nil || stdout != "no runs found under "+empty+"\n" {
		t.Errorf("empty dir: %q, %v", stdout, err)
	}
	stdout, stderr, err := runStatsCmd(t, "--dir", empty, "--json")
	var s skipreport.Stats
	if err != nil || json.Unmarshal([]byte(stdout), &s) != nil || s.Runs.Total != 0 || s.Tests.SkipRate != nil {
		t.Errorf("empty dir --json: %q, %v", stdout, err)
	}
	if !strings.Contains(stderr, "no runs found under "+empty) {
		t.Errorf("stderr %q does not say there were no runs", stderr)
	}
}

func TestStatsDefaultDir(t *testing.T) {
	// KTEST_SIDECAR_DIR comes before the module default.
	envDir := t.TempDir()
	writeStatsRun(t, envDir, time.Now().Add(-time.Hour), 7)
	t.Setenv("KTEST_SIDECAR_DIR", envDir)
	stdout, _, err := runStatsCmd(t)
	if err != nil || !strings.Contains(stdout, "ktest stats over "+envDir) || !strings.Contains(stdout, "Tests: 7") {
		t.Errorf("KTEST_SIDECAR_DIR: %v\n%s", err, stdout)
	}

	// Without it: .ktest/runs under the module root, found from a
	// subdirectory; missing is "no runs", not an error.
	t.Setenv("KTEST_SIDECAR_DIR", "")
	root := t.TempDir()
	sub := filepath.Join(root, "pkg", "deep")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	base := filepath.Join(root, ".ktest", "runs")
	stdout, _, err = runStatsCmd(t)
	if err != nil || stdout != "no runs found under "+base+"\n" {
		t.Errorf("missing default dir: %q, %v", stdout, err)
	}
	writeStatsRun(t, base, time.Now().Add(-time.Hour), 2, "TestX")
	stdout, _, err = runStatsCmd(t)
	if err != nil || !strings.Contains(stdout, "ktest stats over "+base) || !strings.Contains(stdout, "TestX") {
		t.Errorf("default dir: %v\n%s", err, stdout)
	}
}

func TestStatsBadInput(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	dir := t.TempDir()
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--dir", missing}, []string{"--dir " + missing, "no such directory"}},
		{[]string{"--dir", dir, "--dir", missing}, []string{"--dir " + missing, "no such directory"}},
		{[]string{"--dir", file}, []string{"not a directory"}},
		{[]string{"--dir", dir, "--since", "7days"}, []string{`invalid --since "7days"`, "7d, 24h, 30m"}},
		{[]string{"--dir", dir, "--since", "-1h"}, []string{"--since", "7d, 24h, 30m"}},
		{[]string{"--dir", dir, "--since"}, []string{"--since needs a value"}},
		{[]string{"--dir", dir, "--top", "-2"}, []string{"invalid --top -2"}},
		{[]string{"--dir", dir, "--top", "many"}, []string{`invalid value "many" for --top`}},
		{[]string{"--dirs", dir}, []string{"unknown ktest stats flag --dirs", "--dir, --since"}},
		{[]string{dir}, []string{"takes no arguments", "--dir DIR"}},
		{[]string{"--dir", dir, "--html", filepath.Join(missing, "r.html")}, []string{"--html " + filepath.Join(missing, "r.html") + ": directory", "does not exist; create it first"}},
	}
	for _, tc := range cases {
		stdout, _, err := runStatsCmd(t, tc.args...)
		if err == nil {
			t.Errorf("ktest stats %q: no error (stdout %q)", tc.args, stdout)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ktest stats %q: error %q lacks %q", tc.args, err, w)
			}
		}
	}
}

func TestStatsHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help"} {
		stdout, _, err := runStatsCmd(t, arg)
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		for _, want := range []string{"usage: ktest stats", "--dir DIR", "--since DUR", "--json", "--html FILE", "Examples:", exitCodeTable} {
			if !strings.Contains(stdout, want) {
				t.Errorf("ktest stats %s lacks %q", arg, want)
			}
		}
	}
}
