package runner

import (
	"bytes"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/skipreport"
)

// The pump marks every event of a pass with the kernel, on the raw copy
// and in the event log, and the marked lines stay test2json events with
// every field of the original; lines that are not events pass unchanged.
func TestPumpMarksEventsWithTheKernel(t *testing.T) {
	in := stream(t, "p start", "p run TestA", "p output TestA === RUN   TestA\n", "p pass TestA", "p pass") +
		"not an event\n" +
		`{"ImportPath":"b [b.test]","Action":"build-output","Output":"# b\n"}` + "\n" +
		`{"Action":"output","Output":"` + strings.Repeat("x", 100<<10) + `"}` + "\n"
	var raw, log, scan bytes.Buffer
	p := &stdoutPump{raw: &raw, log: &log, scan: &scan, kernel: kernelMark(`6.1.0-50 "quoted"`)}
	if err := p.run(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if raw.String() == in {
		t.Fatal("raw copy not marked")
	}
	inLines := strings.Split(strings.TrimSuffix(in, "\n"), "\n")
	rawLines := strings.Split(strings.TrimSuffix(raw.String(), "\n"), "\n")
	if len(rawLines) != len(inLines) {
		t.Fatalf("%d lines in, %d out", len(inLines), len(rawLines))
	}
	for i, line := range rawLines {
		if !strings.HasPrefix(inLines[i], "{") {
			if line != inLines[i] {
				t.Errorf("line %d: %q became %q", i, inLines[i], line)
			}
			continue
		}
		var orig, marked map[string]any
		if err := json.Unmarshal([]byte(inLines[i]), &orig); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(line), &marked); err != nil {
			t.Fatalf("line %d is no longer JSON: %v: %.200s", i, err, line)
		}
		if marked[kernelField] != `6.1.0-50 "quoted"` {
			t.Errorf("line %d: %s = %v", i, kernelField, marked[kernelField])
		}
		delete(marked, kernelField)
		if len(marked) != len(orig) {
			t.Errorf("line %d lost or gained fields: %v vs %v", i, marked, orig)
		}
	}
	if want := strings.Join(filterPrefix(rawLines, "{"), "\n") + "\n"; log.String() != want {
		t.Errorf("event log is not the marked events:\n%.500s", log.String())
	}
	if strings.Contains(scan.String(), kernelField) {
		t.Error("the scanner's copy is marked: the sink would see ktest's field")
	}

	// Unmarked, as in a run on one kernel: verbatim.
	raw.Reset()
	p = &stdoutPump{raw: &raw, scan: &bytes.Buffer{}}
	if err := p.run(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if raw.String() != in {
		t.Error("a run on one kernel changed go's stream")
	}
}

func filterPrefix(lines []string, prefix string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// The JUnit report of a run over several kernels has a suite per package
// and kernel, named so and carrying the kernel, whose cases are that pass's.
func TestJUnitSuitePerPackageAndKernel(t *testing.T) {
	b := newJUnitBuilder()
	for _, pass := range []struct{ label, verdict string }{{"6.1.0-50-cloud-amd64", "pass"}, {"6.12.48-cloud-amd64", "fail"}} {
		b.startPass(pass.label, "/c/"+pass.label+"/bzImage")
		sink := &eventSink{junit: b, raw: true, stdout: &strings.Builder{}, stderr: &strings.Builder{}}
		in := stream(t, "p start", "p run TestA", "p output TestA === RUN   TestA\n", "p "+pass.verdict+" TestA", "p "+pass.verdict)
		scanThroughPump(t, strings.NewReader(in), sink, nil)
	}
	r := b.report(false)
	if len(r.Packages) != 2 {
		t.Fatalf("want 2 suites, got %+v", r.Packages)
	}
	for i, want := range []string{"p [6.1.0-50-cloud-amd64]", "p [6.12.48-cloud-amd64]"} {
		pkg := r.Packages[i]
		if pkg.Name != want || len(pkg.Tests) != 1 {
			t.Errorf("suite %d: %q with %d tests, want %q with 1", i, pkg.Name, len(pkg.Tests), want)
		}
		if len(pkg.Properties) != 2 || pkg.Properties[0].Name != "kernel" || !strings.Contains(want, pkg.Properties[0].Value) || pkg.Properties[1].Name != "kernel.path" {
			t.Errorf("suite %d properties %+v", i, pkg.Properties)
		}
	}
	if r.Packages[0].Tests[0].Result == r.Packages[1].Tests[0].Result {
		t.Error("the two kernels' results were merged")
	}
}

func passWith(id string, res *Result) *kernelPass {
	return &kernelPass{id: id, pre: &preflight.Report{}, res: res}
}

// The run's outcome from its passes: counts add up, go's status is the
// first failing pass's, a signal makes it INTERRUPTED.
func TestCombinePasses(t *testing.T) {
	ok := &Result{Verdict: VerdictPass, Counts: Counts{Passed: 4}, SkipCategories: map[string]int{}}
	fail2 := &Result{Verdict: VerdictFail, GoExit: 2, Counts: Counts{PackagesFailed: 1}}
	fail1 := &Result{Verdict: VerdictFail, GoExit: 1, Counts: Counts{Passed: 1, Failed: 1, Skipped: 1}, SkipCategories: map[string]int{"no-kernel": 1}, Unfinish: []string{"p.TestX"}}
	res := combine([]*kernelPass{passWith("6.1", ok), passWith("6.12", fail2), passWith("7.2", fail1)})
	if res.GoExit != 2 || res.Verdict != VerdictFail || res.Counts != (Counts{Passed: 5, Failed: 1, Skipped: 1, PackagesFailed: 1}) {
		t.Errorf("combined %+v", res)
	}
	if res.SkipCategories["no-kernel"] != 1 || len(res.Unfinish) != 1 || res.Unfinish[0] != "7.2: p.TestX" {
		t.Errorf("combined skips %v, unfinished %v", res.SkipCategories, res.Unfinish)
	}

	stopped := &Result{Verdict: VerdictInterrupted, Signal: syscall.SIGTERM, GoExit: 143}
	res = combine([]*kernelPass{passWith("6.1", ok), passWith("6.12", stopped), passWith("7.2", nil)})
	if res.Verdict != VerdictInterrupted || res.Signal != syscall.SIGTERM {
		t.Errorf("combined %+v", res)
	}
	line := multiSummaryLine(res.Verdict, []*kernelPass{passWith("6.1", ok), passWith("6.12", stopped), passWith("7.2", nil)}, 8200*time.Millisecond, []string{"SIGTERM"})
	if want := "ktest: INTERRUPTED  6.1: 4 passed; 6.12: 0 passed [interrupted]; 7.2: not run in 8.2s (SIGTERM)"; line != want {
		t.Errorf("summary\n%s\nwant\n%s", line, want)
	}
}

// Labels are the kernels' releases, told apart by ID when two share one;
// passes get none in a run on one kernel.
func TestPassLabels(t *testing.T) {
	k := func(release, key string) *preflight.Report {
		v := "meta-" + key
		kern := &preflight.Kernel{Path: "/c/" + key + "/bzImage", Entry: &cache.Entry{Key: key, Metadata: &cache.Metadata{Version: &v}}}
		kern.Image.Release = release
		return &preflight.Report{Resolution: preflight.Resolution{Kernel: kern}}
	}
	passes := newPasses([]string{"6.1", "k2", "./tree", "k4"}, []*preflight.Report{k("6.1.0-50", "k1"), k("6.9.0", "k2"), k("6.9.0", "k3"), k("", "k4")})
	var got []string
	for _, p := range passes {
		got = append(got, p.label)
	}
	if want := "6.1.0-50|6.9.0 (k2)|6.9.0 (./tree)|meta-k4"; strings.Join(got, "|") != want {
		t.Errorf("labels %q, want %q", strings.Join(got, "|"), want)
	}
	if one := newPasses([]string{"6.1"}, []*preflight.Report{k("6.1.0-50", "k1")}); one[0].label != "" {
		t.Errorf("a run on one kernel labels its pass %q", one[0].label)
	}
}

// run.json's top-level packages add each package up over the passes.
func TestMergePackages(t *testing.T) {
	got := mergePackages([]skipreport.KernelPass{
		{Packages: []skipreport.PackageRecord{{Name: "a", Result: "pass", ElapsedMS: 10, Tests: 2, Passed: 2}, {Name: "b", Result: "skip", Tests: 1, Skipped: 1}}},
		{Packages: []skipreport.PackageRecord{{Name: "a", Result: "fail", ElapsedMS: 5, Tests: 2, Passed: 1, Failed: 1}, {Name: "b", Result: "skip", Tests: 1, Skipped: 1}, {Name: "c", Result: "pass", Tests: 1, Passed: 1}}},
	})
	want := []skipreport.PackageRecord{
		{Name: "a", Result: "fail", ElapsedMS: 15, Tests: 4, Passed: 3, Failed: 1},
		{Name: "b", Result: "skip", Tests: 2, Skipped: 2},
		{Name: "c", Result: "pass", Tests: 1, Passed: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("package %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// FuzzMarkEvent: a JSON object line stays a JSON object with every field
// it had and the kernel's; any other line passes unchanged.
func FuzzMarkEvent(f *testing.F) {
	f.Add([]byte(`{"Action":"pass","Package":"p"}` + "\n"))
	f.Add([]byte(`{"Action":"output","Output":"}\n"}`))
	f.Add([]byte(`{ }`))
	f.Add([]byte(`{"KtestKernel":"old"}`))
	f.Add([]byte("not json}\n"))
	f.Add([]byte(`{"a":1} `))
	p := &stdoutPump{kernel: kernelMark("6.1.0-50-cloud-amd64")}
	f.Fuzz(func(t *testing.T, line []byte) {
		in := append([]byte(nil), line...)
		out := p.markEvent(line)
		if !bytes.Equal(line, in) {
			t.Fatal("markEvent changed its input")
		}
		var orig map[string]json.RawMessage
		body := bytes.TrimSuffix(in, []byte("\n"))
		isObject := json.Unmarshal(body, &orig) == nil && bytes.HasPrefix(body, []byte("{")) && bytes.HasSuffix(body, []byte("}")) && len(orig) > 0
		if !isObject {
			if !bytes.Equal(out, in) && json.Valid(body) {
				t.Fatalf("%q became %q", in, out)
			}
			return
		}
		var marked map[string]json.RawMessage
		if err := json.Unmarshal(bytes.TrimSuffix(out, []byte("\n")), &marked); err != nil {
			t.Fatalf("%q marked is no JSON: %q: %v", in, out, err)
		}
		if string(marked[kernelField]) != `"6.1.0-50-cloud-amd64"` {
			t.Fatalf("%q marked %q lacks the kernel", in, out)
		}
		for k := range orig {
			if _, ok := marked[k]; !ok {
				t.Fatalf("%q marked %q lost %s", in, out, k)
			}
		}
		if bytes.HasSuffix(in, []byte("\n")) != bytes.HasSuffix(out, []byte("\n")) {
			t.Fatalf("%q marked %q: newline changed", in, out)
		}
	})
}
