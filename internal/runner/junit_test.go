package runner

import (
	"strings"
	"testing"

	"github.com/jstemmer/go-junit-report/v2/gtr"
)

func junitOf(t *testing.T, in string, stopped bool) gtr.Report {
	t.Helper()
	b := newJUnitBuilder()
	sink := &eventSink{junit: b, raw: true, stdout: &strings.Builder{}, stderr: &strings.Builder{}}
	scanThroughPump(t, strings.NewReader(in), sink, nil)
	return b.report(stopped)
}

func findTest(t *testing.T, r gtr.Report, pkg, name string) gtr.Test {
	t.Helper()
	for _, p := range r.Packages {
		if p.Name != pkg {
			continue
		}
		for _, tc := range p.Tests {
			if tc.Name == name {
				return tc
			}
		}
	}
	t.Fatalf("no test %s.%s in %+v", pkg, name, r)
	return gtr.Test{}
}

// TestJUnitCrashIsTheRunningTestsFailure: a timeout panic that test2json
// gave to the package (or another test) is the failure text of the test
// that never finished; a line that looks like a failure does not fail a
// passing test.
func TestJUnitCrashIsTheRunningTestsFailure(t *testing.T) {
	in := stream(t,
		"p start",
		"p run TestFake",
		"p output TestFake === RUN   TestFake\n",
		"p output TestFake --- FAIL: TestFake (0.00s)\n",
		"p output TestFake --- PASS: TestFake (0.00s)\n",
		"p pass TestFake",
		"p run TestHang",
		"p output TestHang === RUN   TestHang\n",
		"p output TestHang     h_test.go:9: about to hang\n",
		"p output - panic: test timed out after 1s\n",
		"p output - \trunning tests:\n",
		"p output - \t\tTestHang (1s)\n",
		"p output - FAIL\tp\t1.01s\n",
		"p fail",
	)
	r := junitOf(t, in, false)
	if fake := findTest(t, r, "p", "TestFake"); fake.Result != gtr.Pass {
		t.Errorf("TestFake: %v, want PASS", fake.Result)
	}
	hang := findTest(t, r, "p", "TestHang")
	out := strings.Join(hang.Output, "\n")
	if hang.Result != gtr.Fail || !strings.Contains(out, "about to hang") || !strings.Contains(out, "panic: test timed out after 1s\n\trunning tests:\n\t\tTestHang (1s)") {
		t.Errorf("TestHang: %v, output\n%s", hang.Result, out)
	}
	if strings.Contains(out, "FAIL\tp") {
		t.Errorf("go's FAIL line is in the failure text:\n%s", out)
	}
}

// TestJUnitBenchmarksAndBuildErrors: benchmarks are passing test cases of
// their package's suite (no suite without a name), and a build failure is
// one errored case with the compiler's output.
func TestJUnitBenchmarksAndBuildErrors(t *testing.T) {
	in := `{"ImportPath":"b [b.test]","Action":"build-output","Output":"# b [b.test]\n"}
{"ImportPath":"b [b.test]","Action":"build-output","Output":"b_test.go:1:1: undefined: x\n"}
{"ImportPath":"b [b.test]","Action":"build-fail"}
{"Action":"start","Package":"b"}
{"Action":"output","Package":"b","Output":"FAIL\tb [build failed]\n"}
{"Action":"fail","Package":"b","FailedBuild":"b [b.test]"}
` + stream(t,
		"p start",
		"p run BenchmarkSum",
		"p output BenchmarkSum === RUN   BenchmarkSum\n",
		"p output BenchmarkSum BenchmarkSum\n",
		"p output BenchmarkSum BenchmarkSum-2   \t",
		"p output BenchmarkSum      100\t        12.0 ns/op\n",
		"p output - PASS\n",
		"p output - ok  \tp\t0.01s\n",
		"p pass",
	)
	r := junitOf(t, in, false)
	if len(r.Packages) != 2 || r.Packages[0].Name != "b" || r.Packages[1].Name != "p" {
		t.Fatalf("packages %+v", r.Packages)
	}
	if be := r.Packages[0].BuildError; be.Name != "b" || !strings.Contains(strings.Join(be.Output, "\n"), "undefined: x") {
		t.Errorf("build error %+v", be)
	}
	sum := findTest(t, r, "p", "BenchmarkSum")
	if sum.Result != gtr.Pass || !strings.Contains(strings.Join(sum.Output, "\n"), "12.0 ns/op") {
		t.Errorf("BenchmarkSum: %v %q", sum.Result, sum.Output)
	}
	if r.Packages[1].RunError.Name != "" {
		t.Errorf("a passing package has a run error: %+v", r.Packages[1].RunError)
	}
}

// TestJUnitStoppedRun: when go test was stopped, unfinished tests fail
// with a note, and the package that never ended fails too.
func TestJUnitStoppedRun(t *testing.T) {
	in := stream(t, "p start", "p run TestSlow", "p output TestSlow === RUN   TestSlow\n")
	r := junitOf(t, in, true)
	slow := findTest(t, r, "p", "TestSlow")
	if slow.Result != gtr.Fail || !strings.Contains(strings.Join(slow.Output, "\n"), "never finished") {
		t.Errorf("TestSlow: %v %q", slow.Result, slow.Output)
	}
}
