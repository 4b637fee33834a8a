package kerneltest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/guestevent"
	"github.com/ktest-dev/ktest/internal/testproto"
)

// G is what a kerneltest.Run body gets inside the guest: the guest test
// binary's own *testing.T (so -cover and -race see the body), whose
// results also travel to the host test as events. Fatalf, Skipf and
// FailNow stop the body as testing does, with runtime.Goexit, so like
// their testing counterparts they must be called from the goroutine
// running the body (or a g.Run subtest's).
type G struct {
	t  *testing.T
	sh *guestShared
}

// guestShared is what a body's G and its subtests' share.
type guestShared struct {
	ev *guestevent.Writer
	mu sync.Mutex
	// helpers are the functions marked by G.Helper.
	helpers map[string]bool
	// mine is set when the root test is skipped by kerneltest itself to
	// end it after a body that passed.
	mine bool
	// direct is set when the body runs in place, in this process (it is
	// in a ktest --vm guest already): messages go to the test at once and
	// values are kept here.
	direct map[string]json.RawMessage
}

// Name is the test's name, the same in the guest and on the host.
func (g *G) Name() string { return g.t.Name() }

// Context is canceled just before the test's cleanups run.
func (g *G) Context() context.Context { return g.t.Context() }

// TempDir is a directory in the guest (under its own /tmp), removed at
// the end of the test.
func (g *G) TempDir() string { return g.t.TempDir() }

// Cleanup registers f to run, in the guest, when the test and its
// subtests have ended.
func (g *G) Cleanup(f func()) { g.t.Cleanup(f) }

// Failed reports whether the test has failed.
func (g *G) Failed() bool { return g.t.Failed() }

// Helper marks the calling function as a helper: its callers' lines are
// reported instead of its own.
func (g *G) Helper() {
	pc, _, _, ok := runtime.Caller(1)
	if !ok {
		return
	}
	name := runtime.FuncForPC(pc).Name()
	g.sh.mu.Lock()
	g.sh.helpers[name] = true
	g.sh.mu.Unlock()
}

// Logf logs a line in the guest test and on the host test.
func (g *G) Logf(format string, args ...any) { g.send(guestevent.Log, fmt.Sprintf(format, args...)) }

// Log is Logf with fmt.Sprintln's formatting.
func (g *G) Log(args ...any) { g.send(guestevent.Log, sprintln(args...)) }

// Errorf fails the test and carries on.
func (g *G) Errorf(format string, args ...any) {
	g.send(guestevent.Error, fmt.Sprintf(format, args...))
	g.t.Fail()
}

// Error is Errorf with fmt.Sprintln's formatting.
func (g *G) Error(args ...any) {
	g.send(guestevent.Error, sprintln(args...))
	g.t.Fail()
}

// Fatalf fails the test and stops it.
func (g *G) Fatalf(format string, args ...any) {
	g.send(guestevent.Fatal, fmt.Sprintf(format, args...))
	g.t.FailNow()
}

// Fatal is Fatalf with fmt.Sprintln's formatting.
func (g *G) Fatal(args ...any) {
	g.send(guestevent.Fatal, sprintln(args...))
	g.t.FailNow()
}

// FailNow fails the test and stops it, without a message.
func (g *G) FailNow() {
	g.send(guestevent.Fatal, "")
	g.t.FailNow()
}

// Skipf stops the test and marks it skipped. On the host it is skipped
// with the SKIP banner (docs/spec.md §6) carrying the message, and under
// ktest a skip sidecar.
func (g *G) Skipf(format string, args ...any) {
	g.skip(fmt.Sprintf(format, args...))
}

// Skip is Skipf with fmt.Sprintln's formatting.
func (g *G) Skip(args ...any) {
	g.skip(sprintln(args...))
}

func (g *G) skip(msg string) {
	if g.sh.direct != nil {
		file, line := g.caller()
		skipLogged(g.t, skipSite{category: testproto.Guest, reason: skipReason(strings.TrimSuffix(located(guestevent.Event{Msg: msg, File: file, Line: line}), "\n"))})
	}
	g.send(guestevent.Skip, msg)
	g.t.SkipNow()
}

// Report sends a value to the host, where Result.Value reads it back by
// key. v travels as JSON (encoding/json): a value that cannot be encoded
// fails the test. A key reported twice keeps the last value.
func (g *G) Report(key string, v any) {
	if key == "" {
		g.Errorf("kerneltest: Report needs a key")
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		g.Errorf("kerneltest: report %q: %v", key, err)
		return
	}
	g.write(guestevent.Event{Type: guestevent.Report, Test: g.t.Name(), Key: key, Value: b})
}

// Run runs f as a subtest of g, in the guest; on the host it appears as a
// subtest of the same name, as it runs. It reports whether f passed.
func (g *G) Run(name string, f func(g *G)) bool {
	parent := g.t.Name()
	return g.t.Run(name, func(t *testing.T) {
		sub := &G{t: t, sh: g.sh}
		sub.write(guestevent.Event{Type: guestevent.Start, Test: t.Name(), Parent: parent})
		// The first cleanup runs last, after f's own.
		t.Cleanup(func() { sub.done(false) })
		sub.call(f)
	})
}

// call runs f, reporting a panic with its stack before letting it go on
// (a panic ends the test binary, as in testing).
func (g *G) call(f func(*G)) {
	defer func() {
		if r := recover(); r != nil {
			g.write(guestevent.Event{Type: guestevent.Panic, Test: g.t.Name(), Msg: fmt.Sprint(r), Stack: string(debug.Stack())})
			g.t.Fail()
			panic(r)
		}
	}()
	f(g)
}

// done sends the test's end.
func (g *G) done(root bool) {
	st := guestevent.Pass
	switch {
	case g.t.Failed():
		st = guestevent.Fail
	case g.t.Skipped() && !(root && g.sh.mine):
		st = guestevent.Skipped
	}
	g.write(guestevent.Event{Type: guestevent.Done, Test: g.t.Name(), Status: st})
}

// send writes a message event located at the caller outside this package
// and G's helpers.
func (g *G) send(typ guestevent.Type, msg string) {
	file, line := g.caller()
	e := guestevent.Event{Type: typ, Test: g.t.Name(), Msg: msg, File: file, Line: line}
	if g.sh.direct != nil {
		if typ != guestevent.Skip && (msg != "" || typ == guestevent.Log) {
			fmt.Fprint(g.t.Output(), located(e))
		}
		return
	}
	g.write(e)
}

func (g *G) write(e guestevent.Event) {
	if g.sh.direct != nil {
		if e.Type == guestevent.Report {
			g.sh.mu.Lock()
			g.sh.direct[e.Key] = e.Value
			g.sh.mu.Unlock()
		}
		return
	}
	if err := g.sh.ev.Write(e); err != nil {
		// The host will miss the event; the guest test still has it.
		g.t.Logf("kerneltest: send %s event to the host: %v", e.Type, err)
	}
}

// caller is the file (base name) and line of the first frame outside
// this package and the marked helpers.
func (g *G) caller() (string, int) {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	g.sh.mu.Lock()
	defer g.sh.mu.Unlock()
	first := runtime.Frame{}
	for {
		f, more := frames.Next()
		if first.PC == 0 {
			first = f
		}
		ours := packageOfFunc(f.Function) == thisPackage && !strings.HasSuffix(f.File, "_test.go")
		if !ours && !g.sh.helpers[f.Function] {
			if f.Function == "testing.tRunner" {
				break
			}
			return filepath.Base(f.File), f.Line
		}
		if !more {
			break
		}
	}
	return filepath.Base(first.File), first.Line
}

func sprintln(args ...any) string { return strings.TrimSuffix(fmt.Sprintln(args...), "\n") }

// runGuest runs body as the guest side of req, on the guest test binary's
// t, and ends the test: code after kerneltest.Run belongs to the host.
func runGuest(t *testing.T, req guestevent.Request, body func(*G)) {
	g := &G{t: t, sh: &guestShared{ev: guestevent.NewWriter(os.Stdout, req.Nonce), helpers: map[string]bool{}}}
	t.Cleanup(func() { g.done(true) })
	if req.TimeoutMS > 0 {
		d := time.Duration(req.TimeoutMS) * time.Millisecond
		timer := time.AfterFunc(d, func() { g.timedOut(d) })
		t.Cleanup(func() { timer.Stop() })
	}
	g.call(body)
	if !t.Failed() && !t.Skipped() {
		g.sh.mine = true
		t.SkipNow()
	}
	t.FailNow()
}

// timedOut reports every goroutine's stack and ends the binary.
func (g *G) timedOut(d time.Duration) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) || len(buf) >= guestevent.MaxLine/2 {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	g.write(guestevent.Event{Type: guestevent.Timeout, Test: g.t.Name(), Msg: fmt.Sprintf("the body ran longer than its timeout of %v", d), Stack: string(buf)})
	panic(fmt.Sprintf("kerneltest: test %s: the body ran longer than its timeout of %v", g.t.Name(), d))
}

// runDirect runs body in place, on t: the test already runs in a ktest
// guest (ktest --vm), where booting another guest would nest emulators.
func runDirect(t *testing.T, body func(*G)) *Result {
	t.Helper()
	t.Logf("kerneltest: %s runs in a ktest --vm guest already: the body runs here, in this guest (Config's machine is not applied)", t.Name())
	sh := &guestShared{helpers: map[string]bool{}, direct: map[string]json.RawMessage{}}
	g := &G{t: t, sh: sh}
	g.call(body)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return &Result{values: maps.Clone(sh.direct)}
}
