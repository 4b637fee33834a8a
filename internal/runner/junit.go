package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/jstemmer/go-junit-report/v2/gtr"
	"github.com/jstemmer/go-junit-report/v2/junit"
	"gotest.tools/gotestsum/testjson"
)

// junitBuilder collects the run's results for the JUnit report from the
// events: a suite per package, in the order the packages started, a test
// case per test, subtest and benchmark with its verdict and output.
// go-junit-report renders the XML; its own parser reads the text of the
// output events, where a line a test prints can pass for a result and a
// benchmark's result line arrives cut in two, so the results come from the
// events' actions instead.
//
// A test that never reported a verdict (the binary panicked, timed out,
// or exited) fails, and its failure text holds the crash: the panic and
// goroutine dump, which test2json may have attributed to another test or
// to the package.
//
// In a run over several kernels each pass starts with startPass: its
// packages are suites of their own, named "example.com/pkg [6.1.0-50-cloud-amd64]"
// and carrying the kernel as properties, so that CI systems list (and
// count) each package once per kernel.
type junitBuilder struct {
	pkgs   []*junitPackage
	byName map[string]*junitPackage      // of the current pass
	builds map[buildKey]*strings.Builder // build output by pass and ImportPath
	nextID int

	kernel, kernelPath string // the current pass's label and image; "" in a run on one kernel
}

type junitPackage struct {
	name        string
	suite       string // the suite's name: name, with the kernel in a run over several kernels
	kernel      string // the pass's kernel label
	properties  []gtr.Property
	start       time.Time
	elapsed     time.Duration
	tests       []*junitTest
	running     map[string]*junitTest // the latest test of each name
	output      strings.Builder       // package-level output
	crash       strings.Builder       // everything from the first panic or fatal error line on
	crashing    bool
	midLine     bool // the last output event ended without a newline
	result      testjson.Action
	failedBuild string
	ended       bool
}

type junitTest struct {
	gtr.Test
	out   strings.Builder
	ended bool
}

func newJUnitBuilder() *junitBuilder {
	return &junitBuilder{byName: map[string]*junitPackage{}, builds: map[buildKey]*strings.Builder{}}
}

// buildKey names a package's build output in one kernel's pass.
type buildKey struct{ kernel, importPath string }

// startPass starts a kernel's pass: the packages that follow are new
// suites, named and marked with the kernel label (none for "").
func (b *junitBuilder) startPass(label, kernelPath string) {
	b.byName = map[string]*junitPackage{}
	b.kernel, b.kernelPath = label, kernelPath
}

func (b *junitBuilder) event(ev testjson.TestEvent) {
	if ev.Action == testjson.ActionBuild {
		key := buildKey{b.kernel, ev.ImportPath}
		w := b.builds[key]
		if w == nil {
			w = &strings.Builder{}
			b.builds[key] = w
		}
		w.WriteString(ev.Output)
		return
	}
	if ev.Package == "" {
		return
	}
	p := b.byName[ev.Package]
	if p == nil {
		p = &junitPackage{name: ev.Package, suite: ev.Package, kernel: b.kernel, start: ev.Time, running: map[string]*junitTest{}}
		if b.kernel != "" {
			p.suite = ev.Package + " [" + b.kernel + "]"
			p.properties = []gtr.Property{{Name: "kernel", Value: b.kernel}}
			if b.kernelPath != "" {
				p.properties = append(p.properties, gtr.Property{Name: "kernel.path", Value: b.kernelPath})
			}
		}
		b.byName[ev.Package] = p
		b.pkgs = append(b.pkgs, p)
	}
	if p.ended {
		return
	}
	switch {
	case ev.Action == testjson.ActionOutput:
		p.outputEvent(ev)
	case ev.Test == "" && ev.Action.IsTerminal():
		p.ended, p.result = true, ev.Action
		p.elapsed = time.Duration(ev.Elapsed * float64(time.Second))
		// testjson.TestEvent does not keep the FailedBuild field.
		var fail struct{ FailedBuild string }
		if json.Unmarshal(ev.Bytes(), &fail) == nil {
			p.failedBuild = fail.FailedBuild
		}
	case ev.Action == testjson.ActionRun:
		b.nextID++
		t := &junitTest{Test: gtr.NewTest(b.nextID, ev.Test)}
		t.Level = strings.Count(ev.Test, "/")
		p.tests = append(p.tests, t)
		p.running[ev.Test] = t
	case ev.Action.IsTerminal():
		t := p.test(ev.Test, &b.nextID)
		t.ended = true
		t.Duration = time.Duration(ev.Elapsed * float64(time.Second))
		t.Result = map[testjson.Action]gtr.Result{testjson.ActionPass: gtr.Pass, testjson.ActionFail: gtr.Fail, testjson.ActionSkip: gtr.Skip}[ev.Action]
	}
}

// test returns the running test of that name, or a new one for a verdict
// without a run event.
func (p *junitPackage) test(name string, nextID *int) *junitTest {
	if t := p.running[name]; t != nil {
		return t
	}
	*nextID++
	t := &junitTest{Test: gtr.NewTest(*nextID, name)}
	p.tests = append(p.tests, t)
	p.running[name] = t
	return t
}

func (p *junitPackage) outputEvent(ev testjson.TestEvent) {
	text := ev.Output
	if !p.midLine && (strings.HasPrefix(text, "panic: ") || strings.HasPrefix(text, "fatal error: ")) {
		p.crashing = true
	}
	lineStart := !p.midLine
	p.midLine = !strings.HasSuffix(text, "\n") && cutByTest2json(text)
	if p.crashing && !(ev.Test == "" && strings.HasPrefix(text, "FAIL\t"+p.name)) {
		p.crash.WriteString(text)
	}
	t := p.running[ev.Test]
	if ev.Test == "" || t == nil {
		p.output.WriteString(text)
		return
	}
	if lineStart && isFramingOf(ev.Test, text) {
		return
	}
	t.out.WriteString(text)
}

// isFramingOf reports the lines of the chatty printer about test name that
// are not the test's output: === RUN and the like, and its result line.
func isFramingOf(name, text string) bool {
	for _, p := range []string{"=== RUN   ", "=== PAUSE ", "=== CONT  ", "=== NAME  ", "=== ATTR  ", "=== ARTIFACTS "} {
		if strings.HasPrefix(text, p+name) {
			return true
		}
	}
	line := strings.TrimLeft(text, " ")
	for _, p := range []string{"--- PASS: ", "--- FAIL: ", "--- SKIP: ", "--- BENCH: "} {
		if strings.HasPrefix(line, p+name+" ") || strings.HasPrefix(line, p+name+"\n") || strings.HasPrefix(line, p+name+"-") {
			return true
		}
	}
	return false
}

// report builds the go-junit-report model. Packages that never ended
// (go test was stopped) fail like their unfinished tests.
func (b *junitBuilder) report(stopped bool) gtr.Report {
	var r gtr.Report
	for _, p := range b.pkgs {
		pkg := gtr.Package{Name: p.suite, Timestamp: p.start, Duration: p.elapsed, Output: lines(p.output.String()), Properties: p.properties}
		failed := false
		for _, t := range p.tests {
			out := t.out.String()
			if !t.ended {
				t.Result = gtr.Fail
				switch crash := p.crash.String(); {
				case crash != "" && !strings.Contains(out, firstLine(crash)):
					out += crash
				case crash == "" && (stopped || !p.ended):
					out += "ktest: never finished: go test was stopped\n"
				}
			}
			failed = failed || t.Result == gtr.Fail
			t.Output = lines(out)
			pkg.Tests = append(pkg.Tests, t.Test)
		}
		switch {
		case p.failedBuild != "":
			cause := "[build failed]"
			if strings.Contains(p.output.String(), "[setup failed]") {
				cause = "[setup failed]"
			}
			pkg.BuildError = gtr.Error{Name: p.suite, Cause: cause, Output: lines(b.buildOutput(p.kernel, p.failedBuild))}
			pkg.Output = nil
		case (p.result == testjson.ActionFail || !p.ended) && !failed:
			// TestMain, an init function or the binary's exit failed
			// the package outside any test.
			pkg.RunError = gtr.Error{Name: p.suite, Output: pkg.Output}
			pkg.Output = nil
		}
		r.Packages = append(r.Packages, pkg)
	}
	return r
}

func (b *junitBuilder) buildOutput(kernel, importPath string) string {
	if w := b.builds[buildKey{kernel, importPath}]; w != nil {
		return w.String()
	}
	return ""
}

// lines splits output into lines without their newlines, as gtr keeps it.
func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// writeJUnit renders the report with go-junit-report and writes it to out
// (the --junitfile, which the caller commits: see internal/outfile).
func writeJUnit(out io.Writer, report gtr.Report) error {
	host, _ := os.Hostname()
	suites := junit.CreateFromReport(report, host)
	useSkipMessages(&suites)

	var buf bytes.Buffer
	buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	if err := suites.WriteXML(&buf); err != nil {
		return fmt.Errorf("render JUnit XML: %w", err)
	}
	_, err := out.Write(buf.Bytes())
	return err
}

// useSkipMessages puts each skipped test's t.Skip message into
// <skipped message=...>, where go-junit-report writes a fixed "Skipped".
// ktest's SKIP banners (docs/spec.md §6) are such messages, so CI systems show them.
func useSkipMessages(suites *junit.Testsuites) {
	for i := range suites.Suites {
		for j := range suites.Suites[i].Testcases {
			tc := &suites.Suites[i].Testcases[j]
			if tc.Skipped == nil {
				continue
			}
			if msg := skipMessage(tc.Skipped.Data); msg != "" {
				tc.Skipped.Message = msg
			}
		}
	}
}

var logPrefix = regexp.MustCompile(`^\s*[\w.\-]+\.go:\d+: `)

// skipMessage returns the last logged line of a skipped test's output, which
// is what t.Skip printed, without the file:line prefix. A ktest banner wins
// over other lines.
func skipMessage(output string) string {
	var last string
	for _, line := range strings.Split(output, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "=== ") || strings.HasPrefix(trimmed, "--- SKIP") {
			continue
		}
		msg := strings.TrimSpace(logPrefix.ReplaceAllString(line, ""))
		if i := strings.Index(msg, "ktest: SKIP: "); i >= 0 {
			return msg[i:]
		}
		last = msg
	}
	return last
}
