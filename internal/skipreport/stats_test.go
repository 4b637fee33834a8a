package skipreport

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	shardA = filepath.Join(statsFixtures, "shard-a")
	shardB = filepath.Join(statsFixtures, "shard-b")
)

// loadStats is what `ktest stats` does before printing.
func loadStats(t *testing.T, dirs []string, since time.Time) *Stats {
	t.Helper()
	runDirs, err := FindRunDirs(dirs)
	if err != nil {
		t.Fatal(err)
	}
	return ComputeStats(ReadRunDirs(runDirs), StatsOptions{Dirs: dirs, Since: since, Now: statsNow, Top: 10})
}

// TestStatsGolden pins the text and JSON reports of the fixture sets.
// -update-stats rewrites the golden files; review the diff.
func TestStatsGolden(t *testing.T) {
	cases := []struct {
		name  string
		dirs  []string
		since string
	}{
		{"all", []string{shardA, shardB}, ""},
		{"shard-a", []string{shardA}, ""},
		{"since", []string{shardA, shardB}, "2026-11-24"},
		{"rundir", []string{filepath.Join(shardB, "20261128T160000Z-0000b003")}, ""},
		{"empty", []string{filepath.Join(statsFixtures, "empty")}, ""},
		{"since-nothing", []string{shardA}, "1h"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var since time.Time
			if tc.since != "" {
				var err error
				if since, err = ParseSince(tc.since, statsNow); err != nil {
					t.Fatal(err)
				}
			}
			s := loadStats(t, tc.dirs, since)
			var text bytes.Buffer
			if err := WriteStatsText(&text, s); err != nil {
				t.Fatal(err)
			}
			js, err := json.MarshalIndent(s, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join(statsFixtures, "golden", tc.name+".txt"), text.Bytes())
			checkGolden(t, filepath.Join(statsFixtures, "golden", tc.name+".json"), append(js, '\n'))
		})
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *updateStats {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update-stats to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (-update-stats rewrites it)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// TestStatsAggregatesExact checks the merged report of both shards against
// numbers worked out by hand from the fixture generator, so that a golden
// file cannot bless a wrong count.
func TestStatsAggregatesExact(t *testing.T) {
	s := loadStats(t, []string{shardA, shardB}, time.Time{})
	if s.Schema != "ktest.stats/v1" {
		t.Errorf("schema %q", s.Schema)
	}
	// 8 run dirs: a001 a002 b001 b002 b003 complete; a003 has no
	// run.json; a004 (truncated run.json) and a005 (ktest.run/v2) are
	// unusable.
	wantRuns := RunTotals{Total: 8, Complete: 5, Incomplete: 1, Unusable: 2,
		Verdicts: map[string]int{"PASS": 2, "FAIL": 1, "SKIP": 1, "INTERRUPTED": 1}}
	gotRuns := s.Runs
	gotRuns.First, gotRuns.Last = nil, nil
	if !reflect.DeepEqual(gotRuns, wantRuns) {
		t.Errorf("runs = %+v, want %+v", gotRuns, wantRuns)
	}
	if s.Runs.First == nil || !s.Runs.First.Equal(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)) ||
		s.Runs.Last == nil || !s.Runs.Last.Equal(time.Date(2026, 11, 28, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("first/last = %v/%v", s.Runs.First, s.Runs.Last)
	}
	if tt := s.Tests; tt.Total != 37 || tt.Passed != 24 || tt.Failed != 1 || tt.Skipped != 12 || !rateIs(tt.SkipRate, 12, 37) {
		t.Errorf("tests = %+v", tt)
	}
	if s.SkipSidecars != 11 {
		t.Errorf("skip sidecars = %d, want 11", s.SkipSidecars)
	}
	wantCats := []struct {
		cat                     string
		skipped, sidecars, runs int
	}{
		{"no-kvm", 5, 3, 2},     // b001 counts; sidecars b001 x2, a004 x1
		{"contention", 3, 4, 3}, // a001 2 + b002 1; sidecars a001 x2, a003, b002
		{"no-kernel", 3, 4, 1},  // a002, including its run-level sidecar
		{"other", 1, 0, 1},      // a002's skip without a banner
	}
	if len(s.ByCategory) != len(wantCats) {
		t.Fatalf("by_category = %+v", s.ByCategory)
	}
	for i, w := range wantCats {
		c := s.ByCategory[i]
		if c.Category != w.cat || c.Skipped != w.skipped || c.Sidecars != w.sidecars || c.Runs != w.runs || c.Tests != 37 || !rateIs(c.SkipRate, w.skipped, 37) {
			t.Errorf("by_category[%d] = %+v, want %+v", i, c, w)
		}
	}
	checkGroups(t, "by_package", s.ByPackage, []GroupStats{
		{Key: "example.com/suite/boot", Runs: 5, Tests: 25, Skipped: 6},
		{Key: "example.com/suite/net", Runs: 3, Tests: 12, Skipped: 2},
	})
	checkGroups(t, "by_kernel", s.ByKernel, []GroupStats{
		{Key: "(none)", Runs: 2, Tests: 15, Skipped: 9},
		{Key: "6.1.0-56-cloud-amd64", Runs: 2, Tests: 20, Skipped: 2},
		{Key: "/src/linux/arch/x86/boot/bzImage", Runs: 1, Tests: 2, Skipped: 1},
	})
	checkGroups(t, "by_host", s.ByHost, []GroupStats{
		{Key: "ci-2", Runs: 1, Tests: 5, Skipped: 5},
		{Key: "ci-1", Runs: 2, Tests: 20, Skipped: 4},
		{Key: "dev-laptop", Runs: 2, Tests: 12, Skipped: 3},
	})
	checkGroups(t, "by_run_source", s.ByRunSource, []GroupStats{
		{Key: "ci", Runs: 3, Tests: 25, Skipped: 9},
		{Key: "local", Runs: 2, Tests: 12, Skipped: 3},
	})

	if len(s.MostSkipped) != 3 {
		t.Fatalf("most_skipped = %+v", s.MostSkipped)
	}
	boot := s.MostSkipped[0]
	if boot.Test != "TestBoot" || boot.Count != 6 || boot.Runs != 5 || boot.SkippedRuns != 4 || !rateIs(boot.SkipRate, 4, 5) ||
		!reflect.DeepEqual(boot.Categories, map[string]int{"contention": 3, "no-kernel": 1, "no-kvm": 2}) ||
		!strings.Contains(boot.LastReason, "timed out after 10s") || !boot.LastTime.Equal(time.Date(2026, 11, 26, 15, 0, 1, 0, time.UTC)) {
		t.Errorf("most_skipped[0] = %+v", boot)
	}
	if smp, ipv6 := s.MostSkipped[1], s.MostSkipped[2]; smp.Test != "TestBootSMP" || smp.Count != 2 || smp.Runs != 5 || smp.SkippedRuns != 2 ||
		ipv6.Test != "TestNet/ipv6" || ipv6.Count != 2 || ipv6.Runs != 3 || ipv6.SkippedRuns != 2 {
		t.Errorf("most_skipped[1:] = %+v", s.MostSkipped[1:])
	}

	// Waits 120, 10000 and 5 ms: nearest-rank p50 is the 2nd of 3, p95 the 3rd.
	if want := (LockWaitStats{Samples: 3, P50MS: 120, P95MS: 10000, MaxMS: 10000, NotAcquired: 1}); s.LockWait != want {
		t.Errorf("lock_wait = %+v, want %+v", s.LockWait, want)
	}
	wantHolders := []HolderCount{
		{Cmdline: "cargo ktstr kernel clean", Sightings: 3, Runs: 2},
		{Cmdline: "ktest kernel add /tmp/linux/arch/x86/boot/bzImage", Sightings: 3, Runs: 2},
	}
	if !reflect.DeepEqual(s.LockHolders, wantHolders) {
		t.Errorf("lock_holders = %+v, want %+v", s.LockHolders, wantHolders)
	}

	days := map[string]DayStats{}
	for _, d := range s.Daily {
		days[d.Day] = d
	}
	if len(s.Daily) != 8 || days["2026-11-21"].Tests != 10 || days["2026-11-21"].SkippedByCategory["other"] != 1 ||
		days["2026-11-22"].Incomplete != 1 || days["2026-11-22"].Runs != 0 || days["2026-11-27"].Day != "" {
		t.Errorf("daily = %+v", s.Daily)
	}

	kinds := map[string]string{}
	for _, p := range s.Problems.Files {
		kinds[strings.TrimPrefix(p.Path, statsFixtures+"/")] = p.Kind
	}
	wantKinds := map[string]string{
		"shard-a/20261123T120000Z-0000a004/run.json":                                    "malformed",
		"shard-a/20261123T120000Z-0000a004/core.4242":                                   "unknown_file",
		"shard-a/20261123T120000Z-0000a004/skips/20261123T120001.000000000Z-trunc.json": "malformed",
		"shard-a/20261123T120000Z-0000a004/skips/20261123T120002.000000000Z-junk.json":  "malformed",
		"shard-a/20261123T120000Z-0000a004/skips/20261123T120003.000000000Z-v9.json":    "unknown_schema",
		"shard-a/20261123T120000Z-0000a004/skips/notes.txt":                             "unknown_file",
		"shard-a/20261124T130000Z-0000a005/run.json":                                    "unknown_schema",
	}
	if !reflect.DeepEqual(kinds, wantKinds) {
		t.Errorf("problem files = %v\nwant %v", kinds, wantKinds)
	}
	if want := map[string]int{"malformed": 3, "unknown_schema": 2, "unknown_file": 2}; !reflect.DeepEqual(s.Problems.ByKind, want) {
		t.Errorf("problems by kind = %v, want %v", s.Problems.ByKind, want)
	}
	if want := []string{filepath.Join(shardA, "20261122T110000Z-0000a003")}; !reflect.DeepEqual(s.Problems.IncompleteRuns, want) {
		t.Errorf("incomplete runs = %v, want %v", s.Problems.IncompleteRuns, want)
	}
	if len(s.RunList) != 8 || s.RunList[0].ID != "20261120T090000Z-0000a001" || s.RunList[7].Verdict != "PASS" || s.RunList[2].Complete {
		t.Errorf("run_list = %+v", s.RunList)
	}
}

func rateIs(r *float64, num, den int) bool {
	return r != nil && *r == float64(num)/float64(den)
}

func checkGroups(t *testing.T, what string, got, want []GroupStats) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
		return
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Key != w.Key || g.Runs != w.Runs || g.Tests != w.Tests || g.Skipped != w.Skipped || !rateIs(g.SkipRate, w.Skipped, w.Tests) {
			t.Errorf("%s[%d] = %+v (rate %v), want %+v", what, i, g, pct(g.SkipRate), w)
		}
	}
}

// TestStatsMergesShards checks that two shard directories add up, and that
// naming a directory twice, or a run directory and its base, counts each
// run once.
func TestStatsMergesShards(t *testing.T) {
	a := loadStats(t, []string{shardA}, time.Time{})
	b := loadStats(t, []string{shardB}, time.Time{})
	both := loadStats(t, []string{shardA, shardB}, time.Time{})
	if both.Runs.Total != a.Runs.Total+b.Runs.Total || both.Runs.Total != 8 ||
		both.Tests.Total != a.Tests.Total+b.Tests.Total ||
		both.Tests.Skipped != a.Tests.Skipped+b.Tests.Skipped ||
		both.SkipSidecars != a.SkipSidecars+b.SkipSidecars ||
		both.LockWait.Samples != a.LockWait.Samples+b.LockWait.Samples {
		t.Errorf("merge: a=%+v/%+v b=%+v/%+v both=%+v/%+v", a.Runs, a.Tests, b.Runs, b.Tests, both.Runs, both.Tests)
	}
	if both.MostSkipped[0].Count != 6 || a.MostSkipped[0].Count != 4 || b.MostSkipped[0].Count != 2 {
		t.Errorf("TestBoot skips: a=%d b=%d both=%d", a.MostSkipped[0].Count, b.MostSkipped[0].Count, both.MostSkipped[0].Count)
	}
	dup := loadStats(t, []string{shardA, shardB, shardA + "/", filepath.Join(shardB, "20261128T160000Z-0000b003")}, time.Time{})
	if dup.Runs.Total != 8 || dup.Tests.Total != both.Tests.Total {
		t.Errorf("repeated directories counted twice: %+v", dup.Runs)
	}
}

func TestStatsSince(t *testing.T) {
	since := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	s := loadStats(t, []string{shardA, shardB}, since)
	// a005 (unusable), b001, b002, b003 start on or after Nov 24.
	if s.Runs.Total != 4 || s.Runs.Complete != 3 || s.Runs.Unusable != 1 || s.Tests.Total != 17 || s.SkipSidecars != 3 {
		t.Errorf("since %v: runs %+v tests %+v sidecars %d", since, s.Runs, s.Tests, s.SkipSidecars)
	}
	if s.Since == nil || !s.Since.Equal(since) {
		t.Errorf("since = %v", s.Since)
	}
	for _, p := range s.Problems.Files {
		if strings.Contains(p.Path, "a004") {
			t.Errorf("problem of a run before --since reported: %+v", p)
		}
	}
	// The boundary is inclusive: a run starting exactly at the cutoff counts.
	at := loadStats(t, []string{shardB}, time.Date(2026, 11, 28, 16, 0, 0, 0, time.UTC))
	if at.Runs.Total != 1 {
		t.Errorf("run at the cutoff: %d runs, want 1", at.Runs.Total)
	}
	none := loadStats(t, []string{shardA, shardB}, statsNow)
	if none.Runs.Total != 0 || none.Tests.Total != 0 || none.Tests.SkipRate != nil || len(none.RunList) != 0 {
		t.Errorf("since now: %+v", none.Runs)
	}
}

// TestStatsInputOrder checks that ComputeStats does not depend on the order
// of its input, as concurrent reading and directory order may vary.
func TestStatsInputOrder(t *testing.T) {
	dirs, err := FindRunDirs([]string{shardA, shardB})
	if err != nil {
		t.Fatal(err)
	}
	runs := ReadRunDirs(dirs)
	opts := StatsOptions{Now: statsNow, Top: 10}
	want, _ := json.Marshal(ComputeStats(runs, opts))
	for i, j := 0, len(runs)-1; i < j; i, j = i+1, j-1 {
		runs[i], runs[j] = runs[j], runs[i]
	}
	for i := range runs {
		sk := runs[i].Skips
		for a, b := 0, len(sk)-1; a < b; a, b = a+1, b-1 {
			sk[a], sk[b] = sk[b], sk[a]
		}
	}
	got, _ := json.Marshal(ComputeStats(runs, opts))
	if !bytes.Equal(got, want) {
		t.Errorf("reversed input gives a different report:\n%s\nwant\n%s", got, want)
	}
}

func TestStatsTopLimits(t *testing.T) {
	dirs, _ := FindRunDirs([]string{shardA, shardB})
	s := ComputeStats(ReadRunDirs(dirs), StatsOptions{Now: statsNow, Top: 1})
	if len(s.MostSkipped) != 1 || len(s.ByKernel) != 1 || len(s.ByHost) != 1 || len(s.LockHolders) != 1 || len(s.ByPackage) != 1 {
		t.Errorf("top 1 left %d/%d/%d/%d/%d entries", len(s.MostSkipped), len(s.ByKernel), len(s.ByHost), len(s.LockHolders), len(s.ByPackage))
	}
	if s.Distinct != (DistinctCount{Packages: 2, Kernels: 3, Hosts: 3, SkippedTests: 3, LockHolders: 2}) {
		t.Errorf("distinct = %+v", s.Distinct)
	}
	var text bytes.Buffer
	if err := WriteStatsText(&text, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "Most-skipped tests (top 1 of 3)") {
		t.Errorf("text does not say the list was cut:\n%s", text.String())
	}
}

// TestReadRunDirsMatchesReadRunDir checks the fast reader against the plain
// one on every fixture run: same run record, same skip fields, same
// problems, plus the unknown files only the fast reader reports.
func TestReadRunDirsMatchesReadRunDir(t *testing.T) {
	dirs, err := FindRunDirs([]string{shardA, shardB})
	if err != nil {
		t.Fatal(err)
	}
	fast := ReadRunDirs(dirs)
	for i, dir := range dirs {
		slow := ReadRunDir(dir)
		got := fast[i]
		if got.Dir != slow.Dir || !reflect.DeepEqual(got.Run, slow.Run) {
			t.Errorf("%s: run %+v, want %+v", dir, got.Run, slow.Run)
		}
		if len(got.Skips) != len(slow.Skips) {
			t.Errorf("%s: %d skips, want %d", dir, len(got.Skips), len(slow.Skips))
			continue
		}
		for j := range slow.Skips {
			want := slow.Skips[j]
			want = forStats(want)
			if !reflect.DeepEqual(got.Skips[j], want) {
				t.Errorf("%s: skip %d = %+v, want %+v", dir, j, got.Skips[j], want)
			}
		}
		var known []FileProblem
		for _, p := range got.Problems {
			if p.Kind != "unknown_file" {
				known = append(known, p)
			}
		}
		if !reflect.DeepEqual(known, slow.Problems) {
			t.Errorf("%s: problems %+v, want %+v", dir, known, slow.Problems)
		}
	}
}

// TestReadRunDirsOddFiles covers files the fixtures cannot hold in git: a
// sidecar larger than the read buffer, one larger than any sidecar, a FIFO
// (which must not hang the reader) and a subdirectory in skips/.
func TestReadRunDirsOddFiles(t *testing.T) {
	d, err := CreateRunDir(t.TempDir(), statsNow)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 100<<10)
	if _, err := WriteSkip(d.Path, SkipRecord{Package: "p", Test: "TestLong", Category: Contention, Reason: long}); err != nil {
		t.Fatal(err)
	}
	huge := `{"schema":"ktest.skip/v1","reason":"` + strings.Repeat("y", maxSidecarSize) + `"}`
	if err := os.WriteFile(filepath.Join(d.Path, "skips", "huge.json"), []byte(huge), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := mkfifo(filepath.Join(d.Path, "skips", "fifo.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(d.Path, "skips", "dir.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	rc := ReadRunDirs([]string{d.Path})[0]
	if len(rc.Skips) != 1 || rc.Skips[0].Reason != long {
		t.Errorf("long sidecar not read whole: %d skips", len(rc.Skips))
	}
	kinds := map[string]string{}
	for _, p := range rc.Problems {
		kinds[filepath.Base(p.Path)] = p.Kind
	}
	want := map[string]string{"huge.json": "malformed", "fifo.json": "unreadable", "dir.json": "unknown_file"}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("problems %+v, want kinds %v", rc.Problems, want)
	}
	if rc.Run != nil {
		t.Errorf("run.json from nowhere: %+v", rc.Run)
	}
}

func TestFindRunDirsErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := FindRunDirs([]string{missing}); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing dir: %v", err)
	}
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FindRunDirs([]string{file}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file as dir: %v", err)
	}
	// A run directory with an arbitrary name is recognised by its run.json.
	d := filepath.Join(t.TempDir(), "my-run")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := (&RunDir{ID: "x", Path: d}).WriteRun(RunRecord{Verdict: "PASS"}); err != nil {
		t.Fatal(err)
	}
	got, err := FindRunDirs([]string{d})
	if err != nil || len(got) != 1 || got[0] != d {
		t.Errorf("FindRunDirs(%s) = %v, %v", d, got, err)
	}
}

func FuzzDecodeSidecar(f *testing.F) {
	for _, path := range []string{
		"shard-a/20261120T090000Z-0000a001/run.json",
		"shard-a/20261120T090000Z-0000a001/skips/20261120T090001.000000000Z-fixture.json",
		"shard-a/20261123T120000Z-0000a004/skips/20261123T120003.000000000Z-v9.json",
		"shard-a/20261124T130000Z-0000a005/run.json",
	} {
		data, err := os.ReadFile(filepath.Join(statsFixtures, path))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"schema":"ktest.skip/v1","time":"yesterday"}`))
	f.Add([]byte(`{"schema":"ktest.skip/v1"} {}`))
	f.Add([]byte(`{"SCHEMA":"ktest.skip/v1","holders":[{"pid":"1"}]}`))
	f.Add([]byte(`{"sChemA":"ktest.skip/v1","host":""}`))
	f.Add([]byte(`{"sChemA":"ktest.skip/v1","reAson":{}}`))
	f.Add([]byte(`{"sChemA":"ktest.skip/v1","host":{"tAken_At":""}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Runs: the one-pass decoder accepts exactly what ParseRun
		// accepts, with the same problem kind and the same fields.
		wantRun, wantErr := ParseRun(data)
		var gotRun RunRecord
		gotErr := decodeSidecar(data, runSchemaFamily, &gotRun, &gotRun.Schema)
		if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && problemOf("x", gotErr).Kind != problemOf("x", wantErr).Kind) {
			t.Fatalf("run: decodeSidecar error %v, ParseRun error %v", gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(gotRun, wantRun) {
			t.Fatalf("run decoded as %+v, ParseRun gives %+v", gotRun, wantRun)
		}
		// Skips: the same against the two-pass parser into the same
		// partial record...
		var got, ref skipForStats
		gotErr = decodeSidecar(data, SkipSchema, &got, &got.Schema)
		refErr := parseSidecar(data, SkipSchema, &ref)
		if (gotErr == nil) != (refErr == nil) || (gotErr != nil && problemOf("x", gotErr).Kind != problemOf("x", refErr).Kind) {
			t.Fatalf("skip: decodeSidecar error %v, parseSidecar error %v", gotErr, refErr)
		}
		// ...and whatever ParseSkip accepts, stats reads the same. (Not
		// the converse: stats does not check the types of the fields it
		// leaves out.)
		want, wantErr := ParseSkip(data)
		if wantErr == nil {
			want = forStats(want)
			if g := got.skipRecord(); gotErr != nil || !reflect.DeepEqual(g, want) {
				t.Fatalf("skip decoded as %+v (%v), ParseSkip gives %+v", g, gotErr, want)
			}
		}
	})
}

func mkfifo(path string) error {
	if err := unix.Mkfifo(path, 0o644); err != nil {
		return &os.PathError{Op: "mkfifo", Path: path, Err: err}
	}
	return nil
}

// forStats is a skip record as ReadRunDirs returns it: the fields stats
// does not use left zero.
func forStats(r SkipRecord) SkipRecord {
	r.Host, r.Kernel, r.RunID, r.Errno, r.RunSource = HostSnapshot{}, nil, "", "", ""
	return r
}

// TestStatsSchemaDocumented checks that docs/stats-schema.md names every
// field of the JSON document, so that the schema reference cannot fall
// behind the code.
func TestStatsSchemaDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "stats-schema.md"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == reflect.TypeOf(time.Time{}) || seen[typ] {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				t.Errorf("%s.%s has no JSON name", typ.Name(), f.Name)
				continue
			}
			if !bytes.Contains(doc, []byte("`"+name+"`")) {
				t.Errorf("docs/stats-schema.md does not document %s.%s (`%s`)", typ.Name(), f.Name, name)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeOf(Stats{}))
	if len(seen) < 10 {
		t.Errorf("walked only %d types", len(seen))
	}
}

// TestStatsPackageSkipsFromRunJSON checks that a package's skips come from
// run.json's per-package count when no skip sidecar records them (a plain
// t.Skip writes none), and from the sidecars when run.json has no count.
func TestStatsPackageSkipsFromRunJSON(t *testing.T) {
	base := t.TempDir()
	d, err := CreateRunDir(base, statsNow.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rec := RunRecord{Start: statsNow.Add(-time.Hour), Verdict: "PASS",
		Counts: RunCounts{Passed: 1, Skipped: 3},
		Packages: []PackageRecord{
			{Name: "example.com/a", Result: "pass", Tests: 3, Passed: 1, Skipped: 2},
			{Name: "example.com/b", Result: "skip", Tests: 1, Skipped: 1},
		}}
	if err := d.WriteRun(rec); err != nil {
		t.Fatal(err)
	}
	s := loadStats(t, []string{base}, time.Time{})
	got := map[string][2]int{}
	for _, g := range s.ByPackage {
		got[g.Key] = [2]int{g.Tests, g.Skipped}
	}
	want := map[string][2]int{"example.com/a": {3, 2}, "example.com/b": {1, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("by_package (tests, skipped) = %v, want %v", got, want)
	}
}

// TestStatsByKernelPasses: a run over several kernels counts under each
// kernel its own pass (a pass whose tests did not get the kernel too, a
// pass that never ran not at all), next to a run on one kernel.
func TestStatsByKernelPasses(t *testing.T) {
	base := t.TempDir()
	k61 := &KernelRecord{Path: "/c/k61/bzImage", CacheKey: "k61", Version: "6.1.0-50-cloud-amd64"}
	k612 := &KernelRecord{Path: "/c/k612/bzImage", CacheKey: "k612", Version: "6.12.48-cloud-amd64"}
	k72 := &KernelRecord{Path: "/c/k72/bzImage", CacheKey: "k72", Version: "7.2.0-cloud-amd64"}
	write := func(at time.Time, rec RunRecord) {
		d, err := CreateRunDir(base, at)
		if err != nil {
			t.Fatal(err)
		}
		rec.Start = at
		if err := d.WriteRun(rec); err != nil {
			t.Fatal(err)
		}
		d.Close()
	}
	write(statsNow.Add(-2*time.Hour), RunRecord{Verdict: "FAIL", ExitCode: 1,
		Counts: RunCounts{Passed: 7, Failed: 1, Skipped: 4, SkippedByCategory: map[string]int{"contention": 4}},
		Kernels: []KernelPass{
			{ID: "6.1", Label: k61.Version, Kernel: k61, Verdict: "FAIL", GoExitCode: 1, Counts: RunCounts{Passed: 3, Failed: 1}},
			{ID: "6.12", Label: k612.Version, Kernel: k612, Verdict: "PASS", Counts: RunCounts{Passed: 4}},
			{ID: "7.2", Label: k72.Version, Kernel: k72, Verdict: "SKIP", Counts: RunCounts{Skipped: 4, SkippedByCategory: map[string]int{"contention": 4}},
				Unavailable: &Unavailability{Category: Contention, Reason: "lock timed out"}},
		}})
	write(statsNow.Add(-time.Hour), RunRecord{Verdict: "INTERRUPTED", ExitCode: 130,
		Counts: RunCounts{Passed: 2},
		Kernels: []KernelPass{
			{ID: "6.1", Label: k61.Version, Kernel: k61, Verdict: "INTERRUPTED", Counts: RunCounts{Passed: 2}},
			{ID: "6.12", Label: k612.Version, Kernel: k612, Verdict: VerdictNotRun},
		}})
	// A v1 run.json: no passes, the top-level kernel.
	write(statsNow.Add(-30*time.Minute), RunRecord{Verdict: "PASS", Kernel: k61, Counts: RunCounts{Passed: 5}})

	s := loadStats(t, []string{base}, time.Time{})
	got := map[string][5]int{}
	for _, g := range s.ByKernel {
		got[g.Key] = [5]int{g.Runs, g.Tests, g.Passed, g.Failed, g.Skipped}
	}
	want := map[string][5]int{
		"6.1.0-50-cloud-amd64": {3, 11, 10, 1, 0},
		"6.12.48-cloud-amd64":  {1, 4, 4, 0, 0},
		"7.2.0-cloud-amd64":    {1, 4, 0, 0, 4},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("by_kernel (runs, tests, passed, failed, skipped) = %v, want %v", got, want)
	}
	if s.Tests.Total != 19 || s.Runs.Complete != 3 {
		t.Errorf("totals come from the runs' counts: %+v %+v", s.Tests, s.Runs)
	}
	var text bytes.Buffer
	if err := WriteStatsText(&text, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "By kernel\n  KERNEL                RUNS  TESTS  PASSED  FAILED  SKIPPED  RATE\n") {
		t.Errorf("text report lacks the by-kernel table:\n%s", text.String())
	}
}

// TestReadRunDirsVMDumps: a run's vm-dumps/ (ktest --vm's hard-bound
// dumps) is ktest's own, not an unknown file; a file of that name is.
func TestReadRunDirsVMDumps(t *testing.T) {
	d, err := CreateRunDir(t.TempDir(), statsNow)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := os.MkdirAll(filepath.Join(d.Path, VMDumpsDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.Path, VMDumpsDir, "pkg-1.txt"), []byte("dump"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := ReadRunDirs([]string{d.Path})[0].Problems; len(got) != 0 {
		t.Errorf("problems %+v, want none", got)
	}
	other := filepath.Join(t.TempDir(), "r")
	os.Mkdir(other, 0o755)
	os.WriteFile(filepath.Join(other, VMDumpsDir), nil, 0o644)
	if got := ReadRunDirs([]string{other})[0].Problems; len(got) != 1 || got[0].Kind != "unknown_file" {
		t.Errorf("a file named %s: problems %+v, want unknown_file", VMDumpsDir, got)
	}
}
