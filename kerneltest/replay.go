package kerneltest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/ktest-dev/ktest/internal/guestevent"
	"github.com/ktest-dev/ktest/internal/testproto"
)

// hostT is what replay needs of a host test: *testing.T through realT,
// and a recorder in this package's tests.
type hostT interface {
	Helper()
	Name() string
	// Output takes lines as t.Log shows them, without a location.
	Output() io.Writer
	Fail()
	Failed() bool
	// Skip skips the test with the SKIP banner of a guest skip; it does
	// not return.
	Skip(reason string)
	Run(name string, f func(hostT)) bool
}

// realT is a *testing.T as a hostT.
type realT struct{ t *testing.T }

func (r realT) Helper()           { r.t.Helper() }
func (r realT) Name() string      { return r.t.Name() }
func (r realT) Output() io.Writer { return r.t.Output() }
func (r realT) Fail()             { r.t.Fail() }
func (r realT) Failed() bool      { return r.t.Failed() }
func (r realT) Skip(reason string) {
	r.t.Helper()
	skipLogged(r.t, skipSite{category: testproto.Guest, reason: reason})
}
func (r realT) Run(name string, f func(hostT)) bool {
	return r.t.Run(name, func(t *testing.T) { f(realT{t}) })
}

// node is one guest test's queue of events, filled by the reader and
// drained by the host test replaying it.
type node struct {
	name string
	mu   sync.Mutex
	cond *sync.Cond
	q    []guestevent.Event
	// closed is set at the end of the stream.
	closed bool
	done   bool
}

func newNode(name string) *node {
	n := &node{name: name}
	n.cond = sync.NewCond(&n.mu)
	return n
}

func (n *node) push(e guestevent.Event) {
	n.mu.Lock()
	n.q = append(n.q, e)
	n.mu.Unlock()
	n.cond.Broadcast()
}

func (n *node) close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.cond.Broadcast()
}

// next waits for the next event; false at the end of the stream.
func (n *node) next() (guestevent.Event, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for len(n.q) == 0 && !n.closed {
		n.cond.Wait()
	}
	if len(n.q) == 0 {
		return guestevent.Event{}, false
	}
	e := n.q[0]
	n.q = n.q[1:]
	return e, true
}

// replay reads a guest's stream and replays it onto host tests.
type replay struct {
	root *node

	mu     sync.Mutex
	nodes  map[string]*node
	values map[string]json.RawMessage
	// problems are stream faults (malformed lines, events of unknown
	// tests), reported on the root test at the end.
	problems []string
	output   tailBuffer

	// Set by the replaying goroutines.
	ended    bool // the root's Done was seen
	status   guestevent.Status
	skip     string // the root's skip reason
	stopped  bool   // the body stopped: fatal, panic, timeout
	panicked bool
	timedOut bool
}

func newReplay(rootName string) *replay {
	r := &replay{root: newNode(rootName), nodes: map[string]*node{}, values: map[string]json.RawMessage{}}
	r.nodes[rootName] = r.root
	r.output.max = 256 << 10
	return r
}

// read reads the stream to its end, routing events to their tests' queues
// and keeping the rest as output. It closes every queue when it returns.
func (r *replay) read(rd *guestevent.Reader) {
	defer func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, n := range r.nodes {
			n.close()
		}
	}()
	for {
		it, err := rd.Next()
		if err == io.EOF {
			return
		}
		var merr *guestevent.MalformedError
		if errors.As(err, &merr) {
			r.problem(err.Error())
			continue
		}
		if err != nil {
			r.problem("read the guest's output: " + err.Error())
			return
		}
		if it.Event == nil {
			r.output.Write(it.Output)
			continue
		}
		r.route(*it.Event)
	}
}

func (r *replay) problem(s string) {
	r.mu.Lock()
	r.problems = append(r.problems, s)
	r.mu.Unlock()
}

func (r *replay) route(e guestevent.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Type == guestevent.Start {
		parent := r.nodes[e.Parent]
		switch {
		case parent == nil:
			r.problems = append(r.problems, fmt.Sprintf("guest subtest %s started under %s, which the host does not know", e.Test, e.Parent))
		case r.nodes[e.Test] != nil:
			r.problems = append(r.problems, fmt.Sprintf("guest subtest %s started twice", e.Test))
		default:
			r.nodes[e.Test] = newNode(e.Test)
			parent.push(e)
		}
		return
	}
	n := r.nodes[e.Test]
	switch {
	case n == nil:
		r.problems = append(r.problems, fmt.Sprintf("a guest %s event of %s, a test the host does not know", e.Type, e.Test))
		return
	case n.done:
		r.problems = append(r.problems, fmt.Sprintf("a guest %s event of %s after its end", e.Type, e.Test))
		return
	}
	if e.Type == guestevent.Done {
		n.done = true
	}
	if e.Type == guestevent.Report {
		r.values[e.Key] = e.Value
	}
	n.push(e)
}

// play replays n onto t until n's end or the stream's. On the root, a skip
// is left to the caller (it stops the goroutine); a subtest's is done.
func (r *replay) play(t hostT, n *node, root bool) {
	t.Helper()
	w := t.Output()
	skip := ""
	for {
		e, ok := n.next()
		if !ok {
			if !root && !r.isStopped() {
				fmt.Fprintf(w, "kerneltest: the guest stream ended before guest subtest %s did\n", n.name)
				t.Fail()
			}
			return
		}
		switch e.Type {
		case guestevent.Log:
			fmt.Fprint(w, located(e))
		case guestevent.Error:
			fmt.Fprint(w, located(e))
			t.Fail()
		case guestevent.Fatal:
			if e.Msg != "" {
				fmt.Fprint(w, located(e))
			}
			t.Fail()
			if root {
				r.setStopped(false, false)
			}
		case guestevent.Skip:
			skip = e.Msg
			if at := located(e); e.File != "" {
				skip = strings.TrimSuffix(at, "\n")
			}
		case guestevent.Panic:
			fmt.Fprintf(w, "panic in the guest: %s\n\nguest goroutine stack:\n%s\n", e.Msg, e.Stack)
			t.Fail()
			r.setStopped(true, false)
		case guestevent.Timeout:
			fmt.Fprintf(w, "kerneltest: test %s timed out in the guest: %s\n\nguest goroutines:\n%s\n", e.Test, e.Msg, e.Stack)
			t.Fail()
			r.setStopped(false, true)
		case guestevent.Report:
		case guestevent.Start:
			child := r.nodeOf(e.Test)
			t.Run(strings.TrimPrefix(e.Test, e.Parent+"/"), func(ct hostT) {
				ct.Helper()
				r.play(ct, child, false)
			})
		case guestevent.Done:
			if e.Status == guestevent.Fail && !t.Failed() {
				fmt.Fprintf(w, "kerneltest: guest test %s failed\n", e.Test)
				t.Fail()
			}
			if root {
				r.mu.Lock()
				r.ended, r.status, r.skip = true, e.Status, skip
				r.mu.Unlock()
				return
			}
			if e.Status == guestevent.Skipped && !t.Failed() {
				t.Skip(skipReason(skip))
			}
			return
		}
	}
}

func (r *replay) nodeOf(name string) *node {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nodes[name]
}

func (r *replay) setStopped(panicked, timedOut bool) {
	r.mu.Lock()
	r.stopped = true
	r.panicked = r.panicked || panicked
	r.timedOut = r.timedOut || timedOut
	r.mu.Unlock()
}

func (r *replay) isStopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

// skipReason is a guest skip's banner reason.
func skipReason(msg string) string {
	if msg == "" {
		return "the test body skipped in the guest"
	}
	return "the test body skipped in the guest: " + msg
}

// located is a message as testing shows it: "file.go:12: msg", each
// further line indented.
func located(e guestevent.Event) string {
	msg := e.Msg
	if e.File != "" {
		msg = fmt.Sprintf("%s:%d: %s", e.File, e.Line, msg)
	}
	return strings.ReplaceAll(msg, "\n", "\n    ") + "\n"
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	b       []byte
	dropped int64
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; t.max > 0 && over > 0 {
		t.dropped += int64(over)
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dropped > 0 {
		return fmt.Sprintf("[%d bytes left out]\n%s", t.dropped, t.b)
	}
	return string(t.b)
}
