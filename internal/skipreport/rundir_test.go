package skipreport

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRunDirRoundTrip(t *testing.T) {
	base := t.TempDir()
	start := time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)
	d, err := CreateRunDir(base, start)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.ID, "20261128T180000Z-") || filepath.Dir(d.Path) != base {
		t.Fatalf("run dir %+v", d)
	}
	run := RunRecord{Start: start, End: start.Add(time.Second), Verdict: "SKIP", ExitCode: 0,
		Counts:      RunCounts{Passed: 1, Skipped: 2, SkippedByCategory: map[string]int{"no-kernel": 2}},
		Unavailable: &Unavailability{Category: NoKernel, Reason: "no kernel found"}, RunSource: "local"}
	if err := d.WriteRun(run); err != nil {
		t.Fatal(err)
	}
	skip := SkipRecord{Package: "example.com/p", Test: "TestBoot", Category: NoKernel, Reason: "no kernel found", RunID: d.ID}
	path, err := WriteSkip(d.Path, skip)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != filepath.Join(d.Path, "skips") {
		t.Errorf("skip written to %s", path)
	}
	rc := ReadRunDir(d.Path)
	if len(rc.Problems) > 0 {
		t.Fatalf("problems: %+v", rc.Problems)
	}
	if rc.Run == nil || rc.Run.Schema != RunSchema || rc.Run.RunID != d.ID || rc.Run.Counts.SkippedByCategory["no-kernel"] != 2 {
		t.Errorf("run.json read back as %+v", rc.Run)
	}
	if len(rc.Skips) != 1 || rc.Skips[0].Schema != SkipSchema || rc.Skips[0].Test != "TestBoot" || rc.Skips[0].Time.IsZero() {
		t.Errorf("skips read back as %+v", rc.Skips)
	}
	// Nothing but the final files: the atomic writes left no temp files.
	for _, dir := range []string{d.Path, filepath.Join(d.Path, "skips")} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") && !(dir == d.Path && e.Name() == runLockName) {
				t.Errorf("temp file left behind: %s", filepath.Join(dir, e.Name()))
			}
		}
	}
}

// TestRunDirKeepsNewest50 checks pruning and that it touches only run dirs.
func TestRunDirKeepsNewest50(t *testing.T) {
	base := t.TempDir()
	other := filepath.Join(base, "notes")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var first string
	for i := 0; i < KeepRuns+5; i++ {
		d, err := CreateRunDir(base, t0.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		d.Close() // the run ended: its directory may be pruned
		if i == 0 {
			first = d.Path
		}
	}
	dirs, err := ListRunDirs(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != KeepRuns {
		t.Errorf("%d runs kept, want %d", len(dirs), KeepRuns)
	}
	if _, err := os.Stat(first); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("oldest run %s survived pruning", first)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("pruning removed a directory that is not a run: %v", err)
	}
}

func TestReadRunDirReportsBadFiles(t *testing.T) {
	d, err := CreateRunDir(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(d.Path, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("run.json", `{"schema":"ktest.run/v2","run_id":"x"}`)
	write("skips/a.json", `{"schema":"ktest.skip/v1","test":"TestA","category":"contention"}`)
	write("skips/b.json", `{"schema":"ktest.skip/v1", "test": `)
	write("skips/c.json", `{"test":"TestC"}`)
	write("skips/.d.json.tmp-1", `garbage`)
	rc := ReadRunDir(d.Path)
	if rc.Run != nil {
		t.Errorf("future-schema run.json was used: %+v", rc.Run)
	}
	if len(rc.Skips) != 1 || rc.Skips[0].Test != "TestA" {
		t.Errorf("skips = %+v, want only TestA", rc.Skips)
	}
	kinds := map[string]string{}
	for _, p := range rc.Problems {
		kinds[filepath.Base(p.Path)] = p.Kind
	}
	want := map[string]string{"run.json": "unknown_schema", "b.json": "malformed", "c.json": "unknown_schema"}
	for name, kind := range want {
		if kinds[name] != kind {
			t.Errorf("%s: problem kind %q, want %q (all: %+v)", name, kinds[name], kind, rc.Problems)
		}
	}
	if len(rc.Problems) != len(want) {
		t.Errorf("problems %+v, want exactly %v", rc.Problems, want)
	}
}

func TestDefaultBaseFindsModuleRoot(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := DefaultBase(sub), filepath.Join(root, ".ktest", "runs"); got != want {
		t.Errorf("DefaultBase = %s, want %s", got, want)
	}
}

func FuzzParseSidecar(f *testing.F) {
	f.Add([]byte(`{"schema":"ktest.run/v1","run_id":"x","counts":{"passed":1}}`))
	f.Add([]byte(`{"schema":"ktest.skip/v1","category":"no-kernel","time":"2026-11-28T18:00:00Z"}`))
	f.Add([]byte(`{"schema":"ktest.skip/v2"}`))
	f.Add([]byte(`{"schema":null}`))
	f.Add([]byte(`[1,2]`))
	f.Add([]byte(`{"schema":"ktest.run/v1","counts":{"passed":4611686018427387904,"failed":0,"skipped":0}}`))
	f.Add([]byte(`{"schema":"ktest.run/v1","counts":{"skipped":1,"skipped_by_category":{"no-kernel":2}}}`))
	f.Add([]byte(`{"schema":"ktest.run/v1","packages":[{"name":"p","tests":3,"passed":1,"failed":1,"skipped":0,"elapsed_ms":-5}]}`))
	f.Add([]byte(`{"schema":"ktest.run/v1","lock":{"waited_ms":-1}}`))
	f.Add([]byte(`{"schema":"ktest.run/v1.1","kernels":[{"id":"6.1","counts":{"passed":2},"packages":[{"name":"p","tests":2,"passed":2}]}]}`))
	f.Add([]byte(`{"schema":"ktest.run/v1.1","kernels":[{"counts":{"passed":-1}}]}`))
	f.Add([]byte(`{"schema":"ktest.run/v1.x"}`))
	f.Add([]byte(`{"schema":"ktest.run/v10"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		run, runErr := ParseRun(data)
		skip, skipErr := ParseSkip(data)
		if runErr == nil && !schemaAccepted(run.Schema, runSchemaFamily) {
			t.Errorf("accepted run with schema %q", run.Schema)
		}
		if skipErr == nil && !schemaAccepted(skip.Schema, SkipSchema) {
			t.Errorf("accepted skip with schema %q", skip.Schema)
		}
		if runErr == nil && skipErr == nil {
			t.Errorf("one document accepted as both run and skip")
		}
		if runErr == nil {
			// A record that parsed holds only possible numbers: stats
			// sums them.
			c := run.Counts
			for _, n := range []int{c.Passed, c.Failed, c.Skipped} {
				if n < 0 || n > maxTestCount {
					t.Errorf("accepted a count of %d", n)
				}
			}
			sum := 0
			for _, n := range c.SkippedByCategory {
				if n < 0 || n > maxTestCount {
					t.Errorf("accepted a category count of %d", n)
				}
				sum += n
			}
			if sum > c.Skipped {
				t.Errorf("accepted categories adding up to %d of %d skips", sum, c.Skipped)
			}
			for _, p := range run.Packages {
				if parts := p.Passed + p.Failed + p.Skipped; p.Tests < 0 || p.Tests > maxTestCount || (parts != 0 && parts != p.Tests) || p.ElapsedMS < 0 || p.ElapsedMS > maxRecordMS {
					t.Errorf("accepted package %+v", p)
				}
			}
			if l := run.Lock; l != nil && (l.WaitedMS < 0 || l.WaitedMS > maxRecordMS) {
				t.Errorf("accepted a lock wait of %d ms", l.WaitedMS)
			}
			for _, k := range run.Kernels {
				if c := k.Counts; c.Passed < 0 || c.Failed < 0 || c.Skipped < 0 || c.Passed > maxTestCount || k.ElapsedMS < 0 || k.ElapsedMS > maxRecordMS {
					t.Errorf("accepted kernel pass %+v", k)
				}
			}
		}
		if runErr == nil {
			// A record that parsed must survive a round trip.
			data2, err := json.Marshal(run)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseRun(data2); err != nil {
				t.Errorf("round trip failed: %v", err)
			}
		}
	})
}

// run.json readers accept v1 and every minor version of it (which only add
// fields: v1.1 added kernels), and report another major version, or a
// malformed one, as an unknown schema.
func TestRunSchemaMinorVersions(t *testing.T) {
	for _, schema := range []string{"ktest.run/v1", "ktest.run/v1.1", "ktest.run/v1.12"} {
		rec, err := ParseRun([]byte(`{"schema":"` + schema + `","counts":{"passed":1},"kernels":[{"id":"6.1","verdict":"PASS","counts":{"passed":1}}]}`))
		if err != nil || rec.Counts.Passed != 1 {
			t.Errorf("%s: %v", schema, err)
		}
	}
	for _, schema := range []string{"ktest.run/v2", "ktest.run/v10", "ktest.run/v1.", "ktest.run/v1.x", "ktest.run/v1.1.1", "ktest.run/"} {
		_, err := ParseRun([]byte(`{"schema":"` + schema + `"}`))
		var se *SchemaError
		if !errors.As(err, &se) {
			t.Errorf("%s: want an unknown schema, got %v", schema, err)
		}
	}
	if RunSchema != "ktest.run/v1.2" {
		t.Errorf("RunSchema = %s", RunSchema)
	}
	_, err := ParseRun([]byte(`{"schema":"ktest.run/v1.1","kernels":[{"counts":{"passed":1}},{"counts":{"skipped":1,"skipped_by_category":{"no-kernel":2}}}]}`))
	var ie *InvalidValueError
	if !errors.As(err, &ie) || ie.Field != "kernels[1].counts.skipped_by_category" {
		t.Errorf("a pass's impossible counts: want invalid kernels[1].counts.skipped_by_category, got %v", err)
	}
}
