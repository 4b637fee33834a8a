package runner

import (
	"bufio"
	"bytes"
	"io"
	"slices"
	"strings"

	"gotest.tools/gotestsum/testjson"
)

// eventSink receives go test's stdout from testjson.ScanTestOutput, fed by
// the stdoutPump, and hands each event to the run's outputs: the console
// (ktest's default format) or a gotestsum format, and the JUnit report.
// Build output goes to stderr, as go test without -json writes it. Lines
// that are not test2json events are shown unchanged, so that nothing go
// prints is lost.
//
// Writing stdout may fail (a closed pipe): the sink then keeps reading, so
// that the counts and go's verdict are still right.
type eventSink struct {
	console    *goConsole              // the default format; nil otherwise
	format     testjson.EventFormatter // a gotestsum format; nil otherwise
	formatName string
	junit      *junitBuilder // nil without --junitfile
	raw        bool          // -json: the pump copies go's stdout verbatim
	stdout     io.Writer
	stderr     io.Writer
	writeErr   error // the first failed write to stdout

	eventLog *bufio.Writer // the --jsonfile, written by the stdoutPump; may be nil

	// kernel is the pass's kernel label in a run over several kernels,
	// with which the stdoutPump marks the raw events; "" otherwise.
	kernel string

	// synthetic holds testjson's fail events for tests that started and
	// never finished: the test binary died, or go test was stopped.
	synthetic []testjson.TestEvent

	// vm is set under --vm: a package's output line starting with
	// bootFailureMark is vm-exec's report of a guest without a verdict.
	vm           bool
	bootFailures []string // the packages whose guest gave no verdict, in order

	malformedLine string // first line that looked like JSON but was not test2json
	malformedAt   int
	lines         int  // lines of go's stdout so far
	midText       bool // the last text line was cut and continues
}

func (s *eventSink) Event(event testjson.TestEvent, exec *testjson.Execution) error {
	raw := event.Bytes()
	if raw == nil {
		s.synthetic = append(s.synthetic, event)
		if s.format != nil {
			s.noteWrite(s.format.Format(event, exec))
		}
		return nil
	}
	if !bytes.HasPrefix(raw, []byte(syntheticMarker)) && !bytes.HasPrefix(raw, []byte(continuedJSON)) {
		s.lines++
	}
	if s.junit != nil {
		s.junit.event(event)
	}
	if s.vm && event.Action == testjson.ActionOutput && strings.HasPrefix(event.Output, bootFailureMark) && !slices.Contains(s.bootFailures, event.Package) {
		s.bootFailures = append(s.bootFailures, event.Package)
	}
	switch event.Action {
	case testjson.ActionBuild:
		if !s.raw {
			if _, err := io.WriteString(s.stderr, event.Output); err != nil && s.writeErr == nil {
				s.writeErr = err
			}
		}
		return nil
	case "build-fail":
		return nil
	}
	switch {
	case s.raw:
	case s.console != nil:
		s.noteWrite(s.console.event(event))
	case s.format != nil:
		s.noteWrite(s.format.Format(event, exec))
	}
	return nil
}

// Err receives the lines of go test's stdout that are not test2json events.
func (s *eventSink) Err(text string) error {
	text = strings.TrimPrefix(text, "bad output from test2json: ")
	text, continues := strings.CutPrefix(text, continuedText)
	if !s.midText {
		s.lines++
		if strings.HasPrefix(strings.TrimSpace(text), "{") && s.malformedLine == "" {
			s.malformedLine, s.malformedAt = text, s.lines
		}
	}
	s.midText = continues
	if s.raw {
		return nil
	}
	if !continues {
		text += "\n"
	}
	_, err := io.WriteString(s.stdout, text)
	s.noteWrite(err)
	return nil
}

func (s *eventSink) noteWrite(err error) {
	if err != nil && s.writeErr == nil {
		s.writeErr = err
	}
}

// finish ends the outputs after the stream: the console's last packages
// and final FAIL line, or gotestsum's summary after its format.
func (s *eventSink) finish(exec *testjson.Execution, goFailed bool) {
	switch {
	case s.raw:
	case s.console != nil:
		s.noteWrite(s.console.finish(goFailed))
	case s.format != nil && printsSummary(s.formatName) && exec != nil && s.writeErr == nil:
		testjson.PrintSummary(s.stdout, exec, testjson.SummarizeAll)
	}
}

// unfinished names the tests that never reported a verdict.
func (s *eventSink) unfinished() []string {
	var names []string
	for _, ev := range s.synthetic {
		names = append(names, ev.Package+"."+ev.Test)
	}
	return names
}

// bootFailureMark starts the line `ktest vm-exec` writes when a guest gave
// no verdict for a test binary (docs/spec.md §14).
const bootFailureMark = "ktest: BOOT FAILURE on kernel "
