package runner

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"gotest.tools/gotestsum/testjson"
)

// stream builds a test2json stream from compact events: "pkg action" for
// package events, "pkg action Test" for test events, and "pkg output Test
// text" ("-" for no test) for output.
func stream(t *testing.T, events ...string) string {
	t.Helper()
	var b strings.Builder
	for _, e := range events {
		f := strings.SplitN(e, " ", 4)
		ev := map[string]any{"Package": f[0], "Action": f[1]}
		if len(f) > 2 && f[2] != "-" {
			ev["Test"] = f[2]
		}
		if len(f) > 3 {
			ev["Output"] = f[3]
		}
		line, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

type sinkConfig struct {
	verbose, live, finalFail bool
	goFailed                 bool
	format                   string
}

// render runs a stream through the pump, testjson and the sink, as a run
// does, and returns stdout and stderr.
func render(t *testing.T, in string, cfg sinkConfig) (string, string, *testjson.Execution) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	sink := &eventSink{stdout: &stdout, stderr: &stderr, formatName: cfg.format}
	if cfg.format == "" {
		sink.console = newGoConsole(&stdout, cfg.verbose, cfg.live, cfg.finalFail)
	} else {
		f, err := newFormatter(&stdout, cfg.format)
		if err != nil {
			t.Fatal(err)
		}
		sink.format = f
	}
	exec := scanThroughPump(t, strings.NewReader(in), sink, nil)
	sink.finish(exec, cfg.goFailed)
	return stdout.String(), stderr.String(), exec
}

func scanThroughPump(t *testing.T, src io.Reader, sink *eventSink, raw io.Writer) *testjson.Execution {
	t.Helper()
	r, w := io.Pipe()
	pump := &stdoutPump{scan: w, raw: raw}
	done := make(chan error, 1)
	go func() {
		done <- pump.run(src)
		w.Close()
	}()
	exec, err := testjson.ScanTestOutput(testjson.ScanConfig{Stdout: r, Handler: sink, IgnoreNonJSONOutputLines: true})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("pump: %v", err)
	}
	return exec
}

// failingNested is the chatty stream of a failing test with logs, prints
// and nested subtests, as go test -json writes it.
func failingNested(t *testing.T) string {
	return stream(t,
		"p start",
		"p run TestPasses",
		"p output TestPasses === RUN   TestPasses\n",
		"p output TestPasses printed by a passing test\n",
		"p output TestPasses     p_test.go:3: logged by a passing test\n",
		"p output TestPasses --- PASS: TestPasses (0.00s)\n",
		"p pass TestPasses",
		"p run TestP",
		"p output TestP === RUN   TestP\n",
		"p output TestP     p_test.go:5: parent log\n",
		"p output TestP printed\n",
		"p run TestP/sub",
		"p output TestP/sub === RUN   TestP/sub\n",
		"p output TestP/sub     p_test.go:7: sub failure\n",
		"p output TestP/sub         second line\n",
		"p output TestP/sub --- FAIL: TestP/sub (0.00s)\n",
		"p fail TestP/sub",
		"p run TestP/ok",
		"p output TestP/ok === RUN   TestP/ok\n",
		"p output TestP/ok     p_test.go:9: ok log\n",
		"p output TestP/ok --- PASS: TestP/ok (0.00s)\n",
		"p pass TestP/ok",
		"p output TestP     p_test.go:11: parent log after\n",
		"p output TestP partial",
		"p output TestP --- FAIL: TestP (0.00s)\n",
		"p fail TestP",
		"p output - FAIL\n",
		"p output - FAIL\tp\t0.01s\n",
		"p fail",
	)
}

// TestConsoleFailingPackage: a failing package prints everything its
// binary would print without -v: prints of passing tests, prints where
// they happened, then each failing test's header and logs with the failing
// subtests nested, the partial line glued to the header, as go test does.
func TestConsoleFailingPackage(t *testing.T) {
	out, _, _ := render(t, failingNested(t), sinkConfig{finalFail: true, goFailed: true})
	want := `printed by a passing test
printed
partial--- FAIL: TestP (0.00s)
    p_test.go:5: parent log
    --- FAIL: TestP/sub (0.00s)
        p_test.go:7: sub failure
            second line
    p_test.go:11: parent log after
FAIL
FAIL	p	0.01s
FAIL
`
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

// TestConsoleVerbose: -v prints as go test -v: logs at once, an === NAME
// line when another test printed last, and the results of subtests after
// their root test's result line.
func TestConsoleVerbose(t *testing.T) {
	out, _, _ := render(t, failingNested(t), sinkConfig{verbose: true, live: true})
	want := `=== RUN   TestPasses
printed by a passing test
    p_test.go:3: logged by a passing test
--- PASS: TestPasses (0.00s)
=== RUN   TestP
    p_test.go:5: parent log
printed
=== RUN   TestP/sub
    p_test.go:7: sub failure
        second line
=== RUN   TestP/ok
    p_test.go:9: ok log
=== NAME  TestP
    p_test.go:11: parent log after
partial--- FAIL: TestP (0.00s)
    --- FAIL: TestP/sub (0.00s)
    --- PASS: TestP/ok (0.00s)
FAIL
FAIL	p	0.01s
`
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

// TestConsolePassingPackageShowsOnlyOkLine: without -v a passing package
// prints its ok line alone (go discards the rest of its output), unless go
// streams (-bench, no package arguments).
func TestConsolePassingPackageShowsOnlyOkLine(t *testing.T) {
	in := stream(t,
		"p start",
		"p output - -test.shuffle 42\n",
		"p output - TestMain says hello\n",
		"p run TestA",
		"p output TestA === RUN   TestA\n",
		"p output TestA printed\n",
		"p output TestA --- PASS: TestA (0.00s)\n",
		"p pass TestA",
		"p output - PASS\n",
		"p output - coverage: [no statements]\n",
		"p output - ok  \tp\t0.01s\tcoverage: [no statements]\n",
		"p pass",
	)
	out, _, _ := render(t, in, sinkConfig{finalFail: true})
	if want := "ok  \tp\t0.01s\tcoverage: [no statements]\n"; out != want {
		t.Errorf("buffered: got %q, want %q", out, want)
	}
	out, _, _ = render(t, in, sinkConfig{live: true})
	want := "-test.shuffle 42\nTestMain says hello\nprinted\nPASS\ncoverage: [no statements]\nok  \tp\t0.01s\tcoverage: [no statements]\n"
	if out != want {
		t.Errorf("streamed: got %q, want %q", out, want)
	}
}

// TestConsolePackageOrder: events of packages arrive interleaved; they
// print one package after the other, in the order they started, the
// first one live with -v.
func TestConsolePackageOrder(t *testing.T) {
	in := stream(t,
		"a start",
		"b start",
		"b output - b1\n",
		"a output - a1\n",
		"b output - FAIL\tb\t0.1s\n",
		"b fail",
		"c start",
		"c output - c1\n",
		"a output - FAIL\ta\t0.1s\n",
		"a fail",
		"c output - c2\n",
	)
	// c never ended: go test was stopped, and what c printed still shows.
	out, _, _ := render(t, in, sinkConfig{})
	if want := "a1\nFAIL\ta\t0.1s\nb1\nFAIL\tb\t0.1s\nc1\nc2\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

// TestConsoleResultLookalike: a passing test that prints a line like a
// failure: the line is output, the test still passes, and in -v the real
// result line follows it.
func TestConsoleResultLookalike(t *testing.T) {
	in := stream(t,
		"p start",
		"p run TestX",
		"p output TestX === RUN   TestX\n",
		"p output TestX --- FAIL: TestX (0.00s)\n",
		"p output TestX     x_test.go:3: a log\n",
		"p output TestX --- PASS: TestX (0.00s)\n",
		"p pass TestX",
		"p run TestY",
		"p output TestY === RUN   TestY\n",
		"p output TestY --- FAIL: TestY (0.00s)\n",
		"p fail TestY",
		"p output - FAIL\n",
		"p output - FAIL\tp\t0.01s\n",
		"p fail",
	)
	out, _, exec := render(t, in, sinkConfig{})
	if want := "--- FAIL: TestX (0.00s)\n--- FAIL: TestY (0.00s)\nFAIL\nFAIL\tp\t0.01s\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if c := countExecution(exec); c.Passed != 1 || c.Failed != 1 {
		t.Errorf("counts %+v, want 1 passed, 1 failed", c)
	}
	out, _, _ = render(t, in, sinkConfig{verbose: true, live: true})
	want := "=== RUN   TestX\n--- FAIL: TestX (0.00s)\n    x_test.go:3: a log\n--- PASS: TestX (0.00s)\n=== RUN   TestY\n--- FAIL: TestY (0.00s)\nFAIL\nFAIL\tp\t0.01s\n"
	if out != want {
		t.Errorf("-v: got %q, want %q", out, want)
	}
}

// TestConsoleCrash: a test binary that panics in a test prints the result
// lines testing flushes before dying, then the panic; the held result line
// waits for its verdict, which test2json writes after the panic.
func TestConsoleCrash(t *testing.T) {
	in := stream(t,
		"p start",
		"p run TestPanics",
		"p output TestPanics === RUN   TestPanics\n",
		"p output TestPanics     p_test.go:4: before the panic\n",
		"p output TestPanics --- FAIL: TestPanics (0.00s)\n",
		"p output TestPanics panic: boom [recovered]\n",
		"p output TestPanics \tpanic: boom\n",
		"p output TestPanics \n",
		"p output TestPanics goroutine 7 [running]:\n",
		"p fail TestPanics",
		"p output - FAIL\tp\t0.01s\n",
		"p fail",
	)
	out, _, _ := render(t, in, sinkConfig{})
	want := "--- FAIL: TestPanics (0.00s)\n    p_test.go:4: before the panic\npanic: boom [recovered]\n\tpanic: boom\n\ngoroutine 7 [running]:\nFAIL\tp\t0.01s\n"
	if out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

// TestConsoleBenchmarks: without -v a benchmark prints its result line,
// then --- BENCH and its logs; its name and === RUN lines are -v's. Each
// benchmark that ran counts as passed.
func TestConsoleBenchmarks(t *testing.T) {
	in := stream(t,
		"p start",
		"p output - goos: linux\n",
		"p run BenchmarkSum",
		"p output BenchmarkSum === RUN   BenchmarkSum\n",
		"p output BenchmarkSum BenchmarkSum\n",
		"p output BenchmarkSum     b_test.go:4: a log\n",
		"p output BenchmarkSum BenchmarkSum-2   \t",
		"p output BenchmarkSum      100\t        12.0 ns/op\t        42.00 widgets/op\n",
		"p run BenchmarkSub",
		"p output BenchmarkSub === RUN   BenchmarkSub\n",
		"p output BenchmarkSub BenchmarkSub\n",
		"p run BenchmarkSub/one",
		"p output BenchmarkSub/one === RUN   BenchmarkSub/one\n",
		"p output BenchmarkSub/one BenchmarkSub/one\n",
		"p output BenchmarkSub/one BenchmarkSub/one-2   \t",
		"p output BenchmarkSub/one      100\t         5.0 ns/op\n",
		"p run BenchmarkSkip",
		"p output BenchmarkSkip === RUN   BenchmarkSkip\n",
		"p output BenchmarkSkip BenchmarkSkip\n",
		"p output BenchmarkSkip     b_test.go:9: skipped\n",
		"p output BenchmarkSkip --- SKIP: BenchmarkSkip\n",
		"p skip BenchmarkSkip",
		"p output - PASS\n",
		"p output - ok  \tp\t0.01s\n",
		"p pass",
	)
	out, _, exec := render(t, in, sinkConfig{live: true})
	want := "goos: linux\nBenchmarkSum-2   \t     100\t        12.0 ns/op\t        42.00 widgets/op\n--- BENCH: BenchmarkSum-2\n    b_test.go:4: a log\n" +
		"BenchmarkSub/one-2   \t     100\t         5.0 ns/op\nPASS\nok  \tp\t0.01s\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if c := countExecution(exec); c != (Counts{Passed: 3, Skipped: 1}) {
		t.Errorf("counts %+v, want 3 passed (BenchmarkSum, BenchmarkSub, BenchmarkSub/one), 1 skipped", c)
	}
	out, _, _ = render(t, in, sinkConfig{verbose: true, live: true})
	want = "goos: linux\nBenchmarkSum\n    b_test.go:4: a log\nBenchmarkSum-2   \t     100\t        12.0 ns/op\t        42.00 widgets/op\n" +
		"BenchmarkSub\nBenchmarkSub/one\nBenchmarkSub/one-2   \t     100\t         5.0 ns/op\nBenchmarkSkip\n    b_test.go:9: skipped\n--- SKIP: BenchmarkSkip\nPASS\nok  \tp\t0.01s\n"
	if out != want {
		t.Errorf("-v: got\n%s\nwant\n%s", out, want)
	}
}

// TestConsoleBuildOutputToStderr: build output is go's stderr; the
// package's FAIL line stays on stdout.
func TestConsoleBuildOutputToStderr(t *testing.T) {
	in := `{"ImportPath":"p [p.test]","Action":"build-output","Output":"# p [p.test]\n"}
{"ImportPath":"p [p.test]","Action":"build-output","Output":"p_test.go:1:1: undefined: x\n"}
{"ImportPath":"p [p.test]","Action":"build-fail"}
` + stream(t, "p start", "p output - FAIL\tp [build failed]\n", "p fail")
	out, errOut, _ := render(t, in, sinkConfig{finalFail: true, goFailed: true})
	if want := "FAIL\tp [build failed]\nFAIL\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	if want := "# p [p.test]\np_test.go:1:1: undefined: x\n"; errOut != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
}

// TestGotestsumFormatShowsCrash: a gotestsum format is followed by its
// summary, where a crash's output shows even in formats that print no
// test output.
func TestGotestsumFormatShowsCrash(t *testing.T) {
	in := stream(t,
		"p start",
		"p run TestHang",
		"p output TestHang === RUN   TestHang\n",
		"p output TestHang panic: test timed out after 1s\n",
		"p output TestHang \trunning tests:\n",
		"p output TestHang \t\tTestHang (1s)\n",
		"p output - FAIL\tp\t1.01s\n",
		"p fail",
	)
	for _, format := range []string{"standard-quiet", "pkgname", "dots", "testname", "github-actions"} {
		out, _, _ := render(t, in, sinkConfig{format: format})
		if !strings.Contains(out, "panic: test timed out after 1s") || !strings.Contains(out, "TestHang (1s)") {
			t.Errorf("--format %s does not show the panic:\n%s", format, out)
		}
	}
}

// FuzzConsole: any order of events, with lines that look like framing,
// results, logs, partial lines and benchmark results, renders without a
// panic, in every mode, and what the package itself printed always shows.
func FuzzConsole(f *testing.F) {
	f.Add([]byte{0, 9, 17, 3, 42, 200, 7, 1})
	f.Add([]byte("the quick brown fox"))
	names := []string{"TestA", "TestA/sub", "TestA/sub/x", "BenchmarkB"}
	texts := []string{
		"=== RUN   %s\n", "--- FAIL: %s (0.00s)\n", "--- PASS: %s (0.00s)\n", "--- BENCH: %s-2\n",
		"    f_test.go:1: log\n", "        more\n", "partial", "%s-2   \t", "     10\t 5 ns/op\n",
		"printed\n", "=== PAUSE %s\n", "=== CONT  %s\n", "%s\n", strings.Repeat("x", 1024),
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		events := []string{"p start"}
		for i, b := range script {
			name := names[int(b>>4)%len(names)]
			switch b % 8 {
			case 0:
				events = append(events, "p run "+name)
			case 1, 2, 3, 4:
				text := strings.ReplaceAll(texts[(int(b)+i)%len(texts)], "%s", name)
				events = append(events, "p output "+name+" "+text)
			case 5:
				events = append(events, "p "+[]string{"pass", "fail", "skip", "bench"}[i%4]+" "+name)
			case 6:
				events = append(events, "p output - marker-"+string(rune('a'+i%26))+"\n")
			case 7:
				events = append(events, "p "+[]string{"pause", "cont"}[i%2]+" "+name)
			}
		}
		events = append(events, "p output - FAIL\tp\t0.1s\n", "p fail")
		in := stream(t, events...)
		for _, cfg := range []sinkConfig{{}, {verbose: true, live: true}, {live: true}} {
			out, _, _ := render(t, in, cfg)
			for _, e := range events {
				if marker, ok := strings.CutPrefix(e, "p output - "); ok && !strings.Contains(out, marker) {
					t.Fatalf("%+v: package output %q missing from\n%s", cfg, marker, out)
				}
			}
		}
	})
}

// TestConsoleBenchmarkFailsLater: a benchmark that fails in its measured
// run reports as "BenchmarkX-2", which test2json takes for another test.
// It is one failed benchmark, with its log, printed as the plain printer
// does: its padded name, then the failure.
func TestConsoleBenchmarkFailsLater(t *testing.T) {
	in := stream(t,
		"p start",
		"p output - goos: linux\n",
		"p run BenchmarkFailsLater",
		"p output BenchmarkFailsLater === RUN   BenchmarkFailsLater\n",
		"p output BenchmarkFailsLater BenchmarkFailsLater\n",
		"p output BenchmarkFailsLater     bf_test.go:6: log\n",
		"p output BenchmarkFailsLater     bf_test.go:8: fails at N>1\n",
		"p output BenchmarkFailsLater-2 --- FAIL: BenchmarkFailsLater-2\n",
		"p fail BenchmarkFailsLater-2",
		"p run BenchmarkOK",
		"p output BenchmarkOK === RUN   BenchmarkOK\n",
		"p output BenchmarkOK BenchmarkOK\n",
		"p output BenchmarkOK BenchmarkOK-2           \t      10\t        83.20 ns/op\n",
		"p output - FAIL\n",
		"p output - FAIL\tp\t0.04s\n",
		"p fail",
	)
	out, _, exec := render(t, in, sinkConfig{})
	want := "goos: linux\nBenchmarkFailsLater-2   \t--- FAIL: BenchmarkFailsLater-2\n    bf_test.go:6: log\n    bf_test.go:8: fails at N>1\n" +
		"BenchmarkOK-2           \t      10\t        83.20 ns/op\nFAIL\nFAIL\tp\t0.04s\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if c := countExecution(exec); c != (Counts{Passed: 1, Failed: 1}) {
		t.Errorf("counts %+v, want BenchmarkOK passed, BenchmarkFailsLater failed", c)
	}
	if failed := exec.Package("p").Failed; len(failed) != 1 || failed[0].Test != "BenchmarkFailsLater" {
		t.Errorf("failed %+v, want BenchmarkFailsLater", failed)
	}
}
