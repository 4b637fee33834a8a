package kerneltest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/guestevent"
)

// fakeT records what replay does to a host test; Skip stops the goroutine
// as testing does. Its log is shared with its subtests, in order.
type fakeT struct {
	name    string
	log     *syncBuffer
	failed  bool
	skipped string
	mu      sync.Mutex
	subs    []*fakeT
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFakeT(name string) *fakeT { return &fakeT{name: name, log: &syncBuffer{}} }

func (f *fakeT) Helper()           {}
func (f *fakeT) Name() string      { return f.name }
func (f *fakeT) Output() io.Writer { return prefixWriter{f} }
func (f *fakeT) Fail()             { f.mu.Lock(); f.failed = true; f.mu.Unlock() }
func (f *fakeT) Failed() bool      { f.mu.Lock(); defer f.mu.Unlock(); return f.failed }
func (f *fakeT) Skip(reason string) {
	f.mu.Lock()
	f.skipped = reason
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeT) Run(name string, fn func(hostT)) bool {
	sub := &fakeT{name: f.name + "/" + name, log: f.log}
	f.mu.Lock()
	f.subs = append(f.subs, sub)
	f.mu.Unlock()
	fmt.Fprintf(f.log, "=== RUN %s\n", sub.name)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(sub)
	}()
	<-done
	verdict := "PASS"
	switch {
	case sub.failed:
		verdict = "FAIL"
		f.Fail()
	case sub.skipped != "":
		verdict = "SKIP " + sub.skipped
	}
	fmt.Fprintf(f.log, "--- %s %s\n", verdict, sub.name)
	return !sub.failed
}

// prefixWriter puts the test's name before each line.
type prefixWriter struct{ f *fakeT }

func (p prefixWriter) Write(b []byte) (int, error) {
	for line := range strings.Lines(string(b)) {
		fmt.Fprintf(p.f.log, "%s: %s", p.f.name, line)
	}
	return len(b), nil
}

// stream builds a guest stream from events (nonce "n") and raw lines.
func stream(items ...any) string {
	var b strings.Builder
	for _, it := range items {
		switch v := it.(type) {
		case string:
			b.WriteString(v)
		case guestevent.Event:
			line, err := guestevent.Encode("n", v)
			if err != nil {
				panic(err)
			}
			b.Write(line)
		}
	}
	return b.String()
}

// playStream replays s onto a fake root test T and returns it with the
// replay, failing if that does not end promptly.
func playStream(t *testing.T, s string) (*fakeT, *replay) {
	t.Helper()
	rep := newReplay("T")
	ft := newFakeT("T")
	done := make(chan struct{})
	go func() {
		defer close(done)
		// As Run does: the stream is read to its end (events after the
		// root's end are problems too) before the result is looked at.
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			rep.read(guestevent.NewReader(strings.NewReader(s), "n"))
		}()
		rep.play(ft, rep.root, true)
		<-readDone
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("replay did not end; log so far:\n%s", ft.log)
	}
	return ft, rep
}

func ev(typ guestevent.Type, test string, kv ...string) guestevent.Event {
	e := guestevent.Event{Type: typ, Test: test}
	for i := 0; i+1 < len(kv); i += 2 {
		switch kv[i] {
		case "msg":
			e.Msg = kv[i+1]
		case "parent":
			e.Parent = kv[i+1]
		case "status":
			e.Status = guestevent.Status(kv[i+1])
		case "key":
			e.Key = kv[i+1]
		case "value":
			e.Value = json.RawMessage(kv[i+1])
		case "file":
			e.File, e.Line = kv[i+1], 7
		case "stack":
			e.Stack = kv[i+1]
		}
	}
	return e
}

func TestReplayStream(t *testing.T) {
	ft, rep := playStream(t, stream(
		"plain output\n",
		ev(guestevent.Log, "T", "msg", "hello\nsecond", "file", "a_test.go"),
		ev(guestevent.Report, "T", "key", "k", "value", `{"a":1}`),
		ev(guestevent.Start, "T/a", "parent", "T"),
		ev(guestevent.Log, "T/a", "msg", "in a"),
		ev(guestevent.Start, "T/a/b/c", "parent", "T/a"),
		ev(guestevent.Error, "T/a/b/c", "msg", "bad"),
		ev(guestevent.Done, "T/a/b/c", "status", "fail"),
		ev(guestevent.Done, "T/a", "status", "fail"),
		ev(guestevent.Start, "T/s", "parent", "T"),
		ev(guestevent.Skip, "T/s", "msg", "why", "file", "s_test.go"),
		ev(guestevent.Done, "T/s", "status", "skip"),
		ev(guestevent.Done, "T", "status", "fail"),
	))
	want := `T: a_test.go:7: hello
T:     second
=== RUN T/a
T/a: in a
=== RUN T/a/b/c
T/a/b/c: bad
--- FAIL T/a/b/c
--- FAIL T/a
=== RUN T/s
--- SKIP the test body skipped in the guest: s_test.go:7: why T/s
`
	if got := ft.log.String(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
	if !ft.failed || !rep.ended || rep.status != guestevent.Fail || string(rep.values["k"]) != `{"a":1}` {
		t.Errorf("failed %v ended %v status %v values %v", ft.failed, rep.ended, rep.status, rep.values)
	}
	if got := rep.output.String(); got != "plain output\n" {
		t.Errorf("output %q", got)
	}
}

// Streams that break the protocol end in a clear problem or failure,
// never a hang or a panic.
func TestReplayMalformedStreams(t *testing.T) {
	for name, c := range map[string]struct {
		s    string
		want string // in the log or the problems
	}{
		"empty":                 {"", ""},
		"garbage":               {"\x00\xff garbage\n", ""},
		"bad json":              {stream(guestevent.Prefix + "n:{\n"), "malformed guest event"},
		"unknown test":          {stream(ev(guestevent.Log, "U", "msg", "x")), "a test the host does not know"},
		"unknown parent":        {stream(ev(guestevent.Start, "X/a", "parent", "X")), "which the host does not know"},
		"started twice":         {stream(ev(guestevent.Start, "T/a", "parent", "T"), ev(guestevent.Start, "T/a", "parent", "T")), "started twice"},
		"subtest never ends":    {stream(ev(guestevent.Start, "T/a", "parent", "T"), ev(guestevent.Done, "T", "status", "pass")), "ended before guest subtest T/a did"},
		"event after done":      {stream(ev(guestevent.Done, "T", "status", "pass"), ev(guestevent.Log, "T", "msg", "late")), "after its end"},
		"done without root end": {stream(ev(guestevent.Log, "T", "msg", "x")), ""},
		"other version":         {stream(guestevent.Prefix + `n:{"v":"ktest.guest/2","type":"log","test":"T"}` + "\n"), "another protocol version"},
		"truncated at the end":  {stream(guestevent.Prefix + `n:{"v":"ktest.guest/1","type":"lo`), "malformed guest event"},
	} {
		t.Run(name, func(t *testing.T) {
			ft, rep := playStream(t, c.s)
			all := ft.log.String() + strings.Join(rep.problems, "\n")
			if !strings.Contains(all, c.want) {
				t.Errorf("want %q in:\n%s", c.want, all)
			}
			if c.want != "" && !ft.failed && len(rep.problems) == 0 {
				t.Errorf("neither a failure nor a problem:\n%s", all)
			}
		})
	}
}

// The reader never blocks the writer: a guest that writes a lot while the
// host replays slowly (a long subtest) finishes.
func TestReplayBuffersWithoutBlocking(t *testing.T) {
	rep := newReplay("T")
	pr, pw := io.Pipe()
	go rep.read(guestevent.NewReader(pr, "n"))
	w := guestevent.NewWriter(pw, "n")
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		_ = w.Write(ev(guestevent.Start, "T/a", "parent", "T"))
		for i := range 5000 {
			_ = w.Write(ev(guestevent.Log, "T/a", "msg", fmt.Sprint(i)))
		}
		_ = w.Write(ev(guestevent.Done, "T/a", "status", "pass"))
		_ = w.Write(ev(guestevent.Done, "T", "status", "pass"))
		pw.Close()
	}()
	select {
	case <-wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer blocked while nothing replayed")
	}
	ft := newFakeT("T")
	rep.play(ft, rep.root, true)
	if !rep.ended || ft.failed || !strings.Contains(ft.log.String(), "T/a: 4999\n") {
		t.Errorf("ended %v failed %v", rep.ended, ft.failed)
	}
}

// FuzzReplay: any stream replays to its end.
func FuzzReplay(f *testing.F) {
	f.Add([]byte(stream(ev(guestevent.Start, "T/a", "parent", "T"), ev(guestevent.Done, "T", "status", "pass"))))
	f.Add([]byte(stream(ev(guestevent.Skip, "T", "msg", "x"), ev(guestevent.Done, "T", "status", "skip"))))
	f.Fuzz(func(t *testing.T, data []byte) {
		playStream(t, string(data))
	})
}
