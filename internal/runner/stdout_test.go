package runner

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestPumpLongLines: lines far over bufio.Scanner's 64 KiB reach every
// output whole: a build error naming a long identifier (stderr), a long
// printed line and a long log line of a failing test (stdout), a line that
// is not JSON, and the verbatim copy of -json.
func TestPumpLongLines(t *testing.T) {
	ident := strings.Repeat("x", 70000)
	printed := "direct:" + strings.Repeat("d", 200000) + "é\n"
	logged := "    l_test.go:3: logged:" + strings.Repeat("l", 100000) + "\n"
	build, _ := json.Marshal(map[string]string{"ImportPath": "b [b.test]", "Action": "build-output", "Output": "b_test.go:1:1: undefined: " + ident + "\n"})
	text := strings.Repeat("t", 150000)
	in := string(build) + "\n" + stream(t,
		"b start", "b output - FAIL\tb [build failed]\n", "b fail",
		"p start",
		"p run TestLong",
		"p output TestLong === RUN   TestLong\n",
		"p output TestLong "+printed,
		"p output TestLong "+logged,
		"p output TestLong --- FAIL: TestLong (0.00s)\n",
		"p fail TestLong",
		"p output - FAIL\n",
		"p output - FAIL\tp\t0.01s\n",
		"p fail",
	) + text + "\n"

	out, errOut, exec := render(t, in, sinkConfig{finalFail: true, goFailed: true})
	want := "FAIL\tb [build failed]\n" + printed + "--- FAIL: TestLong (0.00s)\n" + logged + "FAIL\nFAIL\tp\t0.01s\n" + text + "\nFAIL\n"
	if out != want {
		t.Errorf("stdout differs: got %d bytes, want %d\n%.300s", len(out), len(want), out)
	}
	if wantErr := "b_test.go:1:1: undefined: " + ident + "\n"; errOut != wantErr {
		t.Errorf("stderr: got %d bytes, want %d", len(errOut), len(wantErr))
	}
	if c := countExecution(exec); c.Failed != 1 {
		t.Errorf("counts %+v, want 1 failed", c)
	}

	var raw bytes.Buffer
	sink := &eventSink{raw: true, stdout: &raw, stderr: &bytes.Buffer{}}
	scanThroughPump(t, strings.NewReader(in), sink, &raw)
	if raw.String() != in {
		t.Errorf("-json copy is not verbatim: %d bytes, want %d", raw.Len(), len(in))
	}
	if sink.malformedLine != "" {
		t.Errorf("a line was taken for malformed JSON: %.100s", sink.malformedLine)
	}
}

// TestPumpMalformedLineNumber: the line number of a line that is not
// test2json counts go's lines, not the pieces ktest cut or added.
func TestPumpMalformedLineNumber(t *testing.T) {
	long, _ := json.Marshal(map[string]string{"Action": "output", "Package": "p", "Output": strings.Repeat("o", 100000)})
	in := stream(t, "p start") + string(long) + "\n" + `{"Action":"pass", oops` + "\n"
	sink := &eventSink{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	scanThroughPump(t, strings.NewReader(in), sink, nil)
	if sink.malformedAt != 3 || !strings.HasPrefix(sink.malformedLine, `{"Action":"pass", oops`) {
		t.Errorf("malformed line %d %q, want line 3", sink.malformedAt, sink.malformedLine)
	}
}

// FuzzCutLine: the pieces of a cut line fit the scanner and put together
// give the line back: its Output for an event, its text otherwise.
func FuzzCutLine(f *testing.F) {
	f.Add("é\"\x01x", true)
	f.Add("ab€", false)
	f.Add("\xff\xfe", true)
	f.Fuzz(func(t *testing.T, s string, asEvent bool) {
		if s == "" || strings.IndexByte(s, '\n') >= 0 {
			t.Skip()
		}
		long := strings.Repeat(s, maxScanLine/len(s)+1)
		line := []byte(long)
		if asEvent {
			line, _ = json.Marshal(map[string]string{"Action": "output", "Package": "p", "Test": "T", "Output": long})
			// What the event carries, after JSON's own repair of
			// invalid UTF-8.
			var ev struct{ Output string }
			json.Unmarshal(line, &ev)
			long = ev.Output
		}
		pieces, events := cutLine(line)
		if events != asEvent {
			t.Fatalf("cut as events: %v, want %v", events, asEvent)
		}
		var whole strings.Builder
		for _, p := range pieces {
			if len(p) > maxScanLine {
				t.Fatalf("piece of %d bytes", len(p))
			}
			if !events {
				if utf8.ValidString(long) && !utf8.Valid(p) {
					t.Fatalf("cut inside a UTF-8 sequence")
				}
				whole.Write(p)
				continue
			}
			var ev struct{ Output string }
			if err := json.Unmarshal(p, &ev); err != nil {
				t.Fatalf("piece is not JSON: %v", err)
			}
			whole.WriteString(ev.Output)
		}
		if whole.String() != long {
			t.Fatalf("pieces do not give the line back")
		}
	})
}
