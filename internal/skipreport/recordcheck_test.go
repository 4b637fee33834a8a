package skipreport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStatsRejectsImpossibleCounts: a run.json claiming 2^62 passed tests
// (which made the total negative) is an "invalid" problem naming the file
// and the field; the other runs, and that run's skip sidecars, still count.
func TestStatsRejectsImpossibleCounts(t *testing.T) {
	base := t.TempDir()
	write := func(rel, content string) string {
		path := filepath.Join(base, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("20261101T000000Z-00000001/run.json", `{"schema":"ktest.run/v1","start":"2026-11-01T00:00:00Z","verdict":"PASS","counts":{"passed":3,"failed":1,"skipped":2,"skipped_by_category":{"no-kernel":2}}}`)
	bad := map[string]string{
		"20261102T000000Z-00000001": `"counts":{"passed":4611686018427387904,"failed":0,"skipped":0}`,
		"20261102T000000Z-00000002": `"counts":{"passed":1,"failed":-3,"skipped":0}`,
		"20261102T000000Z-00000003": `"counts":{"skipped":1,"skipped_by_category":{"no-kernel":5}}`,
		"20261102T000000Z-00000004": `"packages":[{"name":"p","tests":9,"passed":1,"failed":0,"skipped":0}]`,
		"20261102T000000Z-00000005": `"lock":{"path":"x","waited_ms":-20}`,
	}
	want := map[string]string{
		"20261102T000000Z-00000001": "counts.passed is 4611686018427387904: more tests than any run has",
		"20261102T000000Z-00000002": "counts.failed is -3: a count cannot be negative",
		"20261102T000000Z-00000003": "counts.skipped_by_category is 5: the categories add up to more than counts.skipped (1)",
		"20261102T000000Z-00000004": "packages[0].tests is 9: passed + failed + skipped is 1",
		"20261102T000000Z-00000005": "lock.waited_ms is -20: a duration cannot be negative",
	}
	for dir, fields := range bad {
		write(dir+"/run.json", `{"schema":"ktest.run/v1","start":"2026-11-02T00:00:00Z","verdict":"PASS",`+fields+`}`)
	}
	write("20261102T000000Z-00000001/skips/a.json", `{"schema":"ktest.skip/v1","time":"2026-11-02T00:00:01Z","test":"TestA","category":"contention"}`)

	dirs, err := FindRunDirs([]string{base})
	if err != nil {
		t.Fatal(err)
	}
	s := ComputeStats(ReadRunDirs(dirs), StatsOptions{Now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	if s.Tests.Passed != 3 || s.Tests.Failed != 1 || s.Tests.Skipped != 2 || s.Tests.Total != 6 {
		t.Errorf("tests %+v, want only the valid run's 3/1/2", s.Tests)
	}
	if s.Runs.Total != 6 || s.Runs.Complete != 1 || s.Runs.Unusable != 5 {
		t.Errorf("runs %+v", s.Runs)
	}
	if s.SkipSidecars != 1 {
		t.Errorf("skip sidecars %d: the invalid run's skips still count", s.SkipSidecars)
	}
	got := map[string]string{}
	for _, p := range s.Problems.Files {
		if p.Kind != "invalid" {
			t.Errorf("problem %+v, want kind invalid", p)
			continue
		}
		got[filepath.Base(filepath.Dir(p.Path))] = p.Reason
	}
	for dir, reason := range want {
		if !strings.HasPrefix(got[dir], reason) {
			t.Errorf("%s/run.json: reason %q, want %q", dir, got[dir], reason)
		}
	}
	// ReadRunDir (shard history) agrees.
	rc := ReadRunDir(filepath.Join(base, "20261102T000000Z-00000001"))
	if rc.Run != nil || len(rc.Problems) != 1 || rc.Problems[0].Kind != "invalid" {
		t.Errorf("ReadRunDir: run %v, problems %+v", rc.Run, rc.Problems)
	}
}
