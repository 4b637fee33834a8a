package runner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"gotest.tools/gotestsum/testjson"
)

// eventSink receives go test's stdout through testjson.ScanTestOutput. It
// renders events, copies raw events to the event log, and shows lines that
// are not test2json unchanged so that nothing go prints is lost.
type eventSink struct {
	mu        sync.Mutex
	format    testjson.EventFormatter // nil in raw mode
	rawOut    io.Writer               // stdout in raw (-json) mode
	plainOut  io.Writer               // where non-JSON stdout lines go
	eventLog  *bufio.Writer           // raw events for --jsonfile / JUnit; may be nil
	logFile   *os.File                // the file under eventLog
	synthetic []testjson.TestEvent    // terminal events testjson made up for tests that never finished
	open      map[string]bool         // packages that started and have not ended

	malformedLine string // first line that looked like JSON but was not test2json
	malformedAt   int
	lines         int
}

func (s *eventSink) Event(event testjson.TestEvent, exec *testjson.Execution) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	raw := event.Bytes()
	if event.Test == "" && event.Package != "" {
		switch event.Action {
		case "start":
			if s.open == nil {
				s.open = map[string]bool{}
			}
			s.open[event.Package] = true
		case testjson.ActionPass, testjson.ActionFail, testjson.ActionSkip:
			delete(s.open, event.Package)
		}
	}
	if raw == nil {
		// testjson.ScanTestOutput synthesises a fail event for every test
		// that started but never ended (go test was killed, or a test
		// binary crashed). go cannot report those verdicts, so ktest does.
		s.synthetic = append(s.synthetic, event)
	} else {
		s.lines++
		if s.eventLog != nil {
			s.eventLog.Write(raw)
			s.eventLog.WriteByte('\n')
		}
		if s.rawOut != nil {
			if _, err := fmt.Fprintf(s.rawOut, "%s\n", raw); err != nil {
				return fmt.Errorf("write stdout: %w", err)
			}
			return nil
		}
	}
	if s.format == nil {
		return nil
	}
	if err := s.format.Format(event, exec); err != nil {
		return fmt.Errorf("write stdout: %w", err)
	}
	return nil
}

// Err receives lines of go test's stdout that are not test2json events.
func (s *eventSink) Err(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines++
	text = strings.TrimPrefix(text, "bad output from test2json: ")
	if strings.HasPrefix(strings.TrimSpace(text), "{") && s.malformedLine == "" {
		s.malformedLine, s.malformedAt = text, s.lines
	}
	if _, err := fmt.Fprintln(s.plainOut, text); err != nil {
		return fmt.Errorf("write stdout: %w", err)
	}
	return nil
}

// syntheticJSON renders, in test2json form, the verdicts go could not
// write because it was stopped: a failure for each test that never finished
// and for each package that never ended. Reports built from the event log
// then count those tests as failed instead of losing them.
func (s *eventSink) syntheticJSON() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var b bytes.Buffer
	emit := func(ev test2jsonEvent) {
		ev.Time = now
		line, _ := json.Marshal(ev)
		b.Write(line)
		b.WriteByte('\n')
	}
	for _, ev := range s.synthetic {
		emit(test2jsonEvent{Action: "output", Package: ev.Package, Test: ev.Test,
			Output: fmt.Sprintf("--- FAIL: %s (0.00s)\n    ktest: never finished: go test was stopped\n", ev.Test)})
		emit(test2jsonEvent{Action: "fail", Package: ev.Package, Test: ev.Test})
	}
	pkgs := make([]string, 0, len(s.open))
	for pkg := range s.open {
		pkgs = append(pkgs, pkg)
	}
	sort.Strings(pkgs)
	for _, pkg := range pkgs {
		emit(test2jsonEvent{Action: "output", Package: pkg, Output: "FAIL\n"})
		emit(test2jsonEvent{Action: "output", Package: pkg, Output: fmt.Sprintf("FAIL\t%s\t0.000s\n", pkg)})
		emit(test2jsonEvent{Action: "fail", Package: pkg})
	}
	return b.Bytes()
}

// test2jsonEvent is the shape `go test -json` writes (cmd/test2json).
type test2jsonEvent struct {
	Time    time.Time `json:",omitempty"`
	Action  string
	Package string  `json:",omitempty"`
	Test    string  `json:",omitempty"`
	Elapsed float64 `json:",omitempty"`
	Output  string  `json:",omitempty"`
}

// unfinished names the tests that never reported a verdict.
func (s *eventSink) unfinished() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, ev := range s.synthetic {
		names = append(names, ev.Package+"."+ev.Test)
	}
	return names
}

// flush writes buffered events to the event log.
func (s *eventSink) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.eventLog == nil {
		return nil
	}
	if err := s.eventLog.Flush(); err != nil {
		return fmt.Errorf("write event log %s: %w", s.logFile.Name(), err)
	}
	return nil
}

// replay returns every event of the run from the start of the event log,
// followed by the synthetic verdicts of tests that never finished.
func (s *eventSink) replay() (io.Reader, error) {
	if err := s.flush(); err != nil {
		return nil, err
	}
	if s.logFile == nil {
		return bytes.NewReader(s.syntheticJSON()), nil
	}
	if _, err := s.logFile.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind event log: %w", err)
	}
	return io.MultiReader(s.logFile, bytes.NewReader(s.syntheticJSON())), nil
}
