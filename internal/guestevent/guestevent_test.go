package guestevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

const nonce = "n0nce"

// readAll returns the stream's output (concatenated), its events and its
// malformed-line errors.
func readAll(t *testing.T, r io.Reader) (string, []Event, []error) {
	t.Helper()
	rd := NewReader(r, nonce)
	var out strings.Builder
	var events []Event
	var errs []error
	for {
		it, err := rd.Next()
		if err == io.EOF {
			return out.String(), events, errs
		}
		var merr *MalformedError
		if errors.As(err, &merr) {
			errs = append(errs, err)
			continue
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if it.Event != nil {
			events = append(events, *it.Event)
		} else {
			out.Write(it.Output)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, nonce)
	in := []Event{
		{Type: Log, Test: "TestX", Msg: "hello\nworld", File: "x_test.go", Line: 12},
		{Type: Start, Test: "TestX/sub", Parent: "TestX"},
		{Type: Report, Test: "TestX/sub", Key: "n", Value: json.RawMessage(`{"a":[1,2]}`)},
		{Type: Done, Test: "TestX/sub", Status: Fail},
		{Type: Panic, Test: "TestX", Msg: "boom", Stack: "goroutine 1 [running]:\n..."},
	}
	buf.WriteString("plain line\n")
	for _, e := range in {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	buf.WriteString("no newline at the end")
	out, got, errs := readAll(t, iotest.OneByteReader(&buf))
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if out != "plain line\nno newline at the end" {
		t.Errorf("output %q", out)
	}
	if len(got) != len(in) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(in), got)
	}
	for i := range in {
		in[i].V = Version
		a, _ := json.Marshal(in[i])
		b, _ := json.Marshal(got[i])
		if !bytes.Equal(a, b) {
			t.Errorf("event %d: got %s, want %s", i, b, a)
		}
	}
}

// A body that printed no newline before an event: its text is output, the
// event still an event.
func TestEventAfterPartialLine(t *testing.T) {
	line, err := Encode(nonce, Event{Type: Log, Test: "T", Msg: "m"})
	if err != nil {
		t.Fatal(err)
	}
	out, events, errs := readAll(t, strings.NewReader("partial"+string(line)+"next\r\n"))
	if len(errs) > 0 || len(events) != 1 || events[0].Msg != "m" {
		t.Fatalf("events %+v errors %v", events, errs)
	}
	if out != "partialnext\r\n" {
		t.Errorf("output %q", out)
	}
}

// Another run's events (another nonce) are output, never events.
func TestOtherNonceIsOutput(t *testing.T) {
	line, _ := Encode("other", Event{Type: Log, Test: "T", Msg: "m"})
	out, events, errs := readAll(t, bytes.NewReader(line))
	if len(events) != 0 || len(errs) != 0 || out != string(line) {
		t.Fatalf("out %q events %v errs %v", out, events, errs)
	}
}

func TestMalformed(t *testing.T) {
	m := marker(nonce)
	good, _ := Encode(nonce, Event{Type: Log, Test: "T", Msg: "after"})
	for name, line := range map[string]string{
		"not json":         m + "{oops\n",
		"truncated":        m + `{"v":"ktest.guest/1","type":"log"` + "\n",
		"wrong version":    m + `{"v":"ktest.guest/9","type":"log","test":"T"}` + "\n",
		"no version":       m + `{"type":"log","test":"T"}` + "\n",
		"unknown type":     m + `{"v":"ktest.guest/1","type":"bogus","test":"T"}` + "\n",
		"no test":          m + `{"v":"ktest.guest/1","type":"log"}` + "\n",
		"bad status":       m + `{"v":"ktest.guest/1","type":"done","test":"T","status":"meh"}` + "\n",
		"report no key":    m + `{"v":"ktest.guest/1","type":"report","test":"T","value":1}` + "\n",
		"report no val":    m + `{"v":"ktest.guest/1","type":"report","test":"T","key":"k"}` + "\n",
		"empty":            m + "\n",
		"start no parent":  m + `{"v":"ktest.guest/1","type":"start","test":"T/a"}` + "\n",
		"start bad parent": m + `{"v":"ktest.guest/1","type":"start","test":"T/a","parent":"U"}` + "\n",
		"array":            m + "[1]\n",
		"null":             m + "null\n",
		"trailing junk":    m + `{"v":"ktest.guest/1","type":"log","test":"T"} x` + "\n",
		"at end of file":   m + `{"v":"ktest.guest/1"`,
	} {
		t.Run(name, func(t *testing.T) {
			_, events, errs := readAll(t, strings.NewReader(line+string(good)))
			if name == "at end of file" {
				// the good line follows on the same line: all of it is one bad event
				if len(errs) != 1 {
					t.Fatalf("errors %v events %v", errs, events)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1: %v", len(errs), errs)
			}
			if len(events) != 1 || events[0].Msg != "after" {
				t.Fatalf("the reader did not carry on after the bad line: %+v", events)
			}
		})
	}
	var merr *MalformedError
	_, err := NewReader(strings.NewReader(m+`{"v":"x","type":"log","test":"T"}`+"\n"), nonce).Next()
	if !errors.As(err, &merr) || !errors.Is(err, ErrVersion) {
		t.Errorf("another version: %v, want a MalformedError wrapping ErrVersion", err)
	}
}

// Output lines of any length pass through in pieces, whole; an overlong
// event is refused and the stream carries on.
func TestLongLines(t *testing.T) {
	long := strings.Repeat("x", MaxLine+100) + "\n"
	good, _ := Encode(nonce, Event{Type: Log, Test: "T", Msg: "after"})
	out, events, errs := readAll(t, strings.NewReader(long+string(good)))
	if out != long || len(events) != 1 || len(errs) != 0 {
		t.Fatalf("output %d bytes (want %d), %d events, errors %.300v", len(out), len(long), len(events), errs)
	}

	// A marker straddling the point where output is cut is still found.
	pre := strings.Repeat("y", MaxLine-3)
	out, events, errs = readAll(t, strings.NewReader(pre+string(good)))
	if out != pre || len(events) != 1 || len(errs) != 0 {
		t.Fatalf("straddling marker: output %d bytes (want %d), %d events, errors %.300v", len(out), len(pre), len(events), errs)
	}

	huge := marker(nonce) + `{"v":"ktest.guest/1","type":"log","test":"T","msg":"` + strings.Repeat("z", MaxLine) + "\"}\n"
	out, events, errs = readAll(t, strings.NewReader("before"+huge+string(good)))
	if out != "before" || len(events) != 1 || events[0].Msg != "after" || len(errs) != 1 {
		t.Fatalf("overlong event: output %.100q, %d events, errors %.300v", out, len(events), errs)
	}
}

func TestReadErrorSticks(t *testing.T) {
	boom := errors.New("boom")
	rd := NewReader(io.MultiReader(strings.NewReader("a\n"), iotest.ErrReader(boom)), nonce)
	if it, err := rd.Next(); err != nil || string(it.Output) != "a\n" {
		t.Fatalf("first: %q %v", it.Output, err)
	}
	for range 2 {
		if _, err := rd.Next(); !errors.Is(err, boom) {
			t.Fatalf("Next: %v, want boom", err)
		}
	}
}

func TestValidNonce(t *testing.T) {
	for s, want := range map[string]bool{"abc123": true, "": false, "a:b": false, "a b": false, "é": false, strings.Repeat("a", 65): false} {
		if ValidNonce(s) != want {
			t.Errorf("ValidNonce(%q) = %v", s, !want)
		}
	}
}

// FuzzReader: any stream is read to its end without a panic or a hang;
// every byte that is not an event comes out as output, in order.
func FuzzReader(f *testing.F) {
	good, _ := Encode(nonce, Event{Type: Report, Test: "T", Key: "k", Value: json.RawMessage("1")})
	f.Add(good)
	f.Add([]byte("plain\n" + marker(nonce) + "{bad\n"))
	f.Add([]byte(marker(nonce)))
	f.Add(append([]byte("x"), good...))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := NewReader(bytes.NewReader(data), nonce)
		var out []byte
		for range len(data) + 2 {
			it, err := rd.Next()
			if err == io.EOF {
				if !bytes.Contains(data, []byte(marker(nonce))) && !bytes.Equal(out, data) {
					t.Fatalf("output %q of a stream without events %q", out, data)
				}
				return
			}
			var merr *MalformedError
			if err != nil && !errors.As(err, &merr) {
				t.Fatalf("Next: %v", err)
			}
			if err == nil && it.Event != nil {
				if verr := it.Event.Validate(); verr != nil {
					t.Fatalf("an invalid event came out: %v", verr)
				}
			}
			out = append(out, it.Output...)
		}
		t.Fatalf("no end after %d items", len(data)+2)
	})
}

// FuzzDecode: Decode never panics, and what it accepts encodes and decodes
// back to itself.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":"ktest.guest/1","type":"done","test":"T","status":"pass"}`))
	f.Add([]byte(`{"v":"ktest.guest/1","type":"report","test":"T","key":"k","value":{"a":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode(data)
		if err != nil {
			return
		}
		line, err := Encode(nonce, e)
		if err != nil {
			t.Fatalf("Encode of a decoded event: %v", err)
		}
		it, err := NewReader(bytes.NewReader(line), nonce).Next()
		if err != nil || it.Event == nil {
			t.Fatalf("re-read: %v %+v", err, it)
		}
		a, _ := json.Marshal(e)
		b, _ := json.Marshal(*it.Event)
		if !bytes.Equal(a, b) {
			t.Fatalf("round trip: %s != %s", a, b)
		}
	})
}

func TestParseRequest(t *testing.T) {
	r, err := ParseRequest(`{"v":"ktest.guest/1","test":"TestX/a","nonce":"abc","timeout_ms":5}`)
	if err != nil || r.Test != "TestX/a" || r.Nonce != "abc" || r.TimeoutMS != 5 {
		t.Fatalf("%+v %v", r, err)
	}
	for _, s := range []string{``, `{}`, `{"v":"ktest.guest/2","test":"T","nonce":"a"}`, `{"v":"ktest.guest/1","nonce":"a"}`,
		`{"v":"ktest.guest/1","test":"T","nonce":"a:b"}`, `{"v":"ktest.guest/1","test":"T","nonce":"a","timeout_ms":-1}`} {
		if _, err := ParseRequest(s); err == nil {
			t.Errorf("ParseRequest(%q) accepted", s)
		}
	}
}
