package runner

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"gotest.tools/gotestsum/testjson"
)

// pkgRender turns one package's test2json events back into what its test
// binary prints when go test runs it without -json: the plain printer of
// package testing (go test), or its chatty printer (go test -v).
//
// go test -json runs the binary with -test.v=test2json, so the events hold
// the chatty stream: every log line where it was logged, === RUN lines,
// and result lines printed as each (sub)test ends. The plain printer of
// src/testing/testing.go differs in what it buffers, and this follows it:
//
//   - t.Log lines go into the test's output buffer (common.output); they
//     are printed only for a failing test, after its --- FAIL header, when
//     the test ends (T.report, common.flushToParent).
//   - A subtest reports into its parent's buffer, indented by four spaces
//     (the indenter), so nested failures print with the root test.
//   - Passing and skipped tests report nothing; their buffers are dropped.
//   - Whatever the test's code writes to stdout itself (fmt.Print, a panic,
//     log.Fatal) is not buffered: it prints where it happens.
//   - A benchmark prints its result line, then "--- BENCH: name" and its
//     logs (benchState.processBench); skips and benchmarks with
//     sub-benchmarks print nothing.
//
// The chatty printer without test2json prints logs at once, after an
// "=== NAME" line when another test printed last (chattyPrinter.Printf), and
// puts the result lines of subtests into the parent's buffer, indented, so
// that they print after the root test's own result line.
//
// A test2json event does not say whether a line was logged or printed, so
// a log line is recognised by its shape: four spaces and the file:line of
// the call (callSite), and the continuation lines of a multi-line log,
// eight spaces. Lines written through t.Output() carry no file:line and
// are taken for printed lines.
type pkgRender struct {
	verbose bool
	emit    func(string)

	tests    map[string]*testNode
	lastName string // the chatty printer's last test name
	// benchWidth is the width the plain printer pads benchmark names to
	// (benchState.maxLen), as far as the result lines so far show it.
	benchWidth int
	mid        *partialLine // set while the last output event ended mid-line

	// A result line is not marked in the events either: the last line that
	// looks like the result of test X before X's verdict event is X's
	// result line, and the events after it are held until that is known.
	held  *testjson.TestEvent
	queue []testjson.TestEvent
}

// testNode is one test or benchmark as package testing tracks it.
type testNode struct {
	name    string
	parent  *testNode // nil for a top-level test
	bench   bool
	output  []byte // testing's common.output: buffered logs and subtest reports
	done    bool
	lastLog bool // the last complete line of this test was a log line
	fresh   bool // nothing but the === RUN line seen yet
}

// lineClass says where package testing sent a line of a test's output.
type lineClass uint8

const (
	classPrinted lineClass = iota // straight to stdout
	classLogged                   // into the test's log
)

// partialLine is a line whose end has not arrived yet: test2json cuts long
// lines into events of about 1 KiB, and a benchmark's result line after its
// name (see cutByTest2json).
type partialLine struct {
	test  string
	class lineClass
	start []byte // the line's first bytes, to recognise a benchmark result
}

// cutByTest2json reports whether an output event that ends without a
// newline was cut from a longer line by test2json, so that the next event
// goes on with that line. test2json's output buffer (cmd/internal/test2json,
// outBuffer) emits a full kilobyte, less an incomplete UTF-8 sequence, as
// a piece of a long line, and a benchmark name followed by a tab at once.
// Any other event without a newline is a partial line that a framing line
// (or the binary's exit) ended: the next event starts a new line, though
// on a terminal it would print glued to it.
func cutByTest2json(text string) bool {
	if len(text) >= 1024-3 {
		return true
	}
	name, ok := strings.CutSuffix(text, "\t")
	return ok && strings.HasPrefix(name, "Benchmark") && !strings.ContainsAny(strings.TrimRight(name, " "), " \t\n")
}

func newPkgRender(verbose bool, emit func(string)) *pkgRender {
	return &pkgRender{verbose: verbose, emit: emit, tests: map[string]*testNode{}}
}

// event takes the package's events in stream order.
func (r *pkgRender) event(ev testjson.TestEvent) {
	if r.held != nil {
		switch {
		case ev.Test == r.held.Test && isVerdict(ev.Action):
			r.release(true)
			r.event(ev)
			return
		case ev.Test == r.held.Test && ev.Action == testjson.ActionOutput && r.looksLikeResult(ev):
			// The held line was printed by the test itself.
			r.release(false)
			r.event(ev)
			return
		}
		r.queue = append(r.queue, ev)
		return
	}
	if ev.Action == testjson.ActionOutput && ev.Test != "" && r.looksLikeResult(ev) {
		r.held = &ev
		return
	}
	switch ev.Action {
	case testjson.ActionRun:
		r.run(ev.Test)
	case testjson.ActionOutput:
		r.output(ev.Test, ev.Output)
	default:
		if n := r.tests[ev.Test]; n != nil && isVerdict(ev.Action) {
			n.done = true
		}
	}
}

// end is called when the package's test binary has exited: a result line
// still held is the last one its test printed.
func (r *pkgRender) end() {
	for r.held != nil { // the events replayed may hold a line again
		r.release(true)
	}
}

func isVerdict(a testjson.Action) bool {
	return a.IsTerminal() || a == testjson.ActionBench
}

// release ends holding: the held line is a result line (confirmed) or
// output, and the events held after it follow.
func (r *pkgRender) release(confirmed bool) {
	held, queue := *r.held, r.queue
	r.held, r.queue = nil, nil
	if confirmed {
		r.result(held.Test, held.Output)
	} else {
		r.output(held.Test, held.Output)
	}
	for _, ev := range queue {
		r.event(ev)
	}
}

func (r *pkgRender) run(name string) *testNode {
	n := &testNode{name: name, bench: strings.HasPrefix(name, "Benchmark"), fresh: true}
	// The parent is the longest running test whose name is a prefix
	// ending at a slash (a subtest's own name may hold slashes too).
	for i := strings.LastIndexByte(name, '/'); i > 0; i = strings.LastIndexByte(name[:i], '/') {
		if p := r.tests[name[:i]]; p != nil && !p.done {
			n.parent = p
			break
		}
	}
	r.tests[name] = n
	return n
}

// looksLikeResult reports whether an output event of test X is a line such
// as "--- FAIL: X (0.00s)" or, for a benchmark, "--- BENCH: X-2".
func (r *pkgRender) looksLikeResult(ev testjson.TestEvent) bool {
	if r.mid != nil && r.mid.test == ev.Test {
		return false // the rest of a line
	}
	line := strings.TrimLeft(ev.Output, " ")
	rest, ok := strings.CutPrefix(line, "--- ")
	if !ok {
		return false
	}
	for _, kind := range []string{"PASS: ", "FAIL: ", "SKIP: ", "BENCH: "} {
		if after, ok := strings.CutPrefix(rest, kind); ok {
			after, ok = strings.CutPrefix(after, ev.Test)
			return ok && (strings.HasPrefix(after, " (") || strings.HasPrefix(after, "\n") || strings.HasPrefix(after, "-"))
		}
	}
	return false
}

// output renders one output event of a test ("" for the package).
func (r *pkgRender) output(test, text string) {
	if test == "" {
		r.track("", classPrinted, text)
		r.emit(text)
		return
	}
	n := r.tests[test]
	if n == nil {
		n = r.run(test) // test2json names a test that never ran: treat it as running
	}
	continued := r.mid != nil && r.mid.test == test
	class := classPrinted
	switch {
	case continued:
		class = r.mid.class
	case r.framing(n, text):
		r.mid = nil
		return
	case isLogLine(text), n.lastLog && strings.HasPrefix(text, "        "):
		class = classLogged
	}
	n.fresh = false
	line := r.track(test, class, text)
	if class == classLogged {
		r.log(n, text, continued)
	} else {
		r.emit(text)
	}
	if line != nil {
		n.lastLog = class == classLogged
		if n.bench && class == classPrinted && !r.verbose {
			r.benchResult(n, line)
		}
	}
}

// track follows lines across events. It returns the start of the line when
// text completes it, nil while the line goes on.
func (r *pkgRender) track(test string, class lineClass, text string) []byte {
	var start []byte
	if r.mid != nil && r.mid.test == test {
		start = r.mid.start
	}
	if len(start) < 256 {
		start = append(start, text[:min(len(text), 256-len(start))]...)
	}
	switch {
	case strings.HasSuffix(text, "\n"):
		r.mid = nil
		return start
	case cutByTest2json(text):
		r.mid = &partialLine{test: test, class: class, start: start}
		return nil
	}
	// A partial line ended by a framing line: done as far as this
	// test's output goes.
	r.mid = nil
	return start
}

// framing handles the update lines of the chatty printer: === RUN, PAUSE,
// CONT, ATTR and ARTIFACTS, and the name line a benchmark prints when it
// starts. The plain printer prints none of them.
func (r *pkgRender) framing(n *testNode, text string) bool {
	name := n.name
	switch {
	case text == "=== RUN   "+name+"\n":
		// Without test2json the chatty printer announces a benchmark
		// by its name line alone.
		if r.verbose && !n.bench {
			r.update(name, text)
		}
		return true
	case text == "=== PAUSE "+name+"\n", text == "=== CONT  "+name+"\n",
		strings.HasPrefix(text, "=== ATTR  "+name+" "), strings.HasPrefix(text, "=== ARTIFACTS "+name+" "):
		if r.verbose {
			r.update(name, text)
		}
		return true
	case n.bench && n.fresh && text == name+"\n":
		n.fresh = false
		if r.verbose {
			r.emit(text)
		}
		return true
	}
	return false
}

// update is chattyPrinter.Updatef: a line about the named test.
func (r *pkgRender) update(name, text string) {
	r.emit(text)
	r.lastName = name
}

// log renders a line logged by a test: buffered for its report, or with
// -v printed at once, as chattyPrinter.Printf does.
func (r *pkgRender) log(n *testNode, text string, continued bool) {
	if !r.verbose {
		n.output = append(n.output, text...)
		return
	}
	// Benchmarks print their logs straight to stdout (outputWriter).
	if !n.bench && !continued && r.lastName != n.name {
		if r.lastName != "" {
			r.emit("=== NAME  " + n.name + "\n")
		}
		r.lastName = n.name
	}
	r.emit(text)
}

// benchResultLine matches the start of a benchmark's result line: its name
// with the GOMAXPROCS suffix, padding, a tab and the iteration count.
var benchResultLine = regexp.MustCompile(`^(Benchmark\S*)\s*\t\s*\d+\t`)

// benchResult follows a benchmark's result line with its logs, as
// processBench does: "--- BENCH: name-N" and the log, cut after ten lines.
func (r *pkgRender) benchResult(n *testNode, line []byte) {
	m := benchResultLine.FindSubmatch(line)
	if m == nil {
		return
	}
	r.benchWidth = max(r.benchWidth, bytes.IndexByte(line, '\t'))
	if len(n.output) == 0 {
		return
	}
	r.emit("--- BENCH: " + string(m[1]) + "\n" + trimBenchOutput(string(n.output)))
	n.output = nil
}

// trimBenchOutput is B.trimOutput: at most ten lines of a benchmark's log.
func trimBenchOutput(s string) string {
	lines := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			lines++
			if lines >= 10 {
				return s[:i] + "\n\t... [output truncated]\n"
			}
		}
	}
	return s
}

// result renders a test's result line and the buffer it flushes
// (T.report, common.flushToParent; B.run1 and processBench for benchmarks).
func (r *pkgRender) result(test, text string) {
	n := r.tests[test]
	if n == nil {
		n = r.run(test)
	}
	n.done = true
	r.mid = nil
	line := strings.TrimLeft(text, " ")
	failed := strings.HasPrefix(line, "--- FAIL: ")
	report := line + string(n.output)
	n.output = nil
	switch {
	case n.bench:
		// Benchmarks report straight to stdout; the plain printer reports
		// only failures. One that fails after its first run (processBench)
		// reports under its name with the GOMAXPROCS suffix, which the
		// plain printer has printed, padded, before running it.
		if rest, ok := strings.CutPrefix(line, "--- FAIL: "+test+"-"); ok && !r.verbose {
			suffix := "-" + strings.TrimSuffix(rest, "\n")
			name := test + suffix
			r.emit(fmt.Sprintf("%-*s\t", max(r.benchWidth, len(name)+len(suffix)+1), name))
		}
		if failed || r.verbose {
			r.emit(report)
		}
	case !failed && !r.verbose:
		// The plain printer reports only failures.
	case n.parent != nil:
		n.parent.output = appendIndented(n.parent.output, report)
	default:
		r.update(test, report)
	}
}

// appendIndented is testing's indenter: four more spaces on every line.
func appendIndented(dst []byte, s string) []byte {
	for s != "" {
		i := strings.IndexByte(s, '\n') + 1
		if i == 0 {
			i = len(s)
		}
		dst = append(dst, "    "...)
		dst = append(dst, s[:i]...)
		s = s[i:]
	}
	return dst
}

// logLine matches what common.log prints first: four spaces and the
// caller's file and line (callSite), "???:1" when it has none.
var logLine = regexp.MustCompile(`^    (?:\?\?\?|\S.*?\.go):\d+: `)

func isLogLine(text string) bool {
	return strings.HasPrefix(text, "    ") && logLine.MatchString(text)
}
