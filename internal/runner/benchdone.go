package runner

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// benchTracker gives benchmarks the verdict test2json leaves out. A
// benchmark that fails or skips prints a --- FAIL or --- SKIP line, and
// test2json reports it; one that runs prints only its result line, so it
// has a run event and never a verdict, and gotestsum's testjson would count
// it as a test that never finished: a failure. A benchmark has passed when
// the next benchmark that is not one of its sub-benchmarks starts, or when
// the test binary prints its final PASS or FAIL line (benchmarks run one at
// a time, after the tests). A benchmark still running when the binary dies
// stays unfinished.
type benchTracker struct {
	running map[string][]benchRun // package → running benchmarks, oldest first
}

type benchRun struct {
	name  string
	start time.Time
}

// streamEvent is the part of a test2json event the stdout pump reads.
type streamEvent struct {
	Time    time.Time
	Action  string
	Package string
	Test    string
	Output  string
}

// passed is a synthetic verdict for a benchmark that finished.
type passed struct {
	pkg  string
	run  benchRun
	when time.Time
}

// observe looks at the next event and returns the verdicts to insert
// before it, innermost benchmark first.
func (b *benchTracker) observe(ev streamEvent) []passed {
	running := b.running[ev.Package]
	switch {
	case ev.Action == "run" && strings.HasPrefix(ev.Test, "Benchmark"):
		var done []passed
		for len(running) > 0 {
			last := running[len(running)-1]
			if strings.HasPrefix(ev.Test, last.name+"/") {
				break
			}
			done = append(done, passed{ev.Package, last, ev.Time})
			running = running[:len(running)-1]
		}
		b.set(ev.Package, append(running, benchRun{ev.Test, ev.Time}))
		return done
	case len(running) == 0:
		return nil
	case ev.Test != "" && isTerminalAction(ev.Action):
		for i := len(running) - 1; i >= 0; i-- {
			if running[i].name == ev.Test {
				b.set(ev.Package, append(running[:i:i], running[i+1:]...))
				break
			}
		}
		return nil
	case ev.Test == "" && (ev.Action == "output" && (ev.Output == "PASS\n" || ev.Output == "FAIL\n") || ev.Action == "pass"):
		done := make([]passed, 0, len(running))
		for i := len(running) - 1; i >= 0; i-- {
			done = append(done, passed{ev.Package, running[i], ev.Time})
		}
		b.set(ev.Package, nil)
		return done
	case ev.Test == "" && isTerminalAction(ev.Action):
		b.set(ev.Package, nil) // the binary died mid-benchmark
	}
	return nil
}

func (b *benchTracker) set(pkg string, running []benchRun) {
	if len(running) == 0 {
		delete(b.running, pkg)
		return
	}
	if b.running == nil {
		b.running = map[string][]benchRun{}
	}
	b.running[pkg] = running
}

// busy reports whether some benchmark is running, so that output events
// need a look.
func (b *benchTracker) busy() bool { return len(b.running) > 0 }

// rename gives an event of "BenchmarkX-2" to the running BenchmarkX. A
// benchmark that fails after its first run reports under its name with
// the GOMAXPROCS suffix (processBench: "--- FAIL: BenchmarkX-2"), and
// test2json takes that for the name of another test: one that never ran,
// while BenchmarkX would never finish.
func (b *benchTracker) rename(line []byte) []byte {
	const key = `"Test":"Benchmark`
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return line
	}
	start := i + len(`"Test":"`)
	n := bytes.IndexByte(line[start:], '"')
	if n < 0 {
		return line
	}
	name := line[start : start+n]
	dash := bytes.LastIndexByte(name, '-')
	if dash < 0 || dash == len(name)-1 || strings.Trim(string(name[dash+1:]), "0123456789") != "" {
		return line
	}
	base := string(name[:dash])
	for _, running := range b.running {
		for _, r := range running {
			if r.name == base {
				out := make([]byte, 0, len(line))
				out = append(out, line[:start]...)
				out = append(out, base...)
				return append(out, line[start+n:]...)
			}
		}
	}
	return line
}

func isTerminalAction(a string) bool { return a == "pass" || a == "fail" || a == "skip" }

// syntheticMarker starts every line the pump makes up, so that the event
// sink does not count it as a line of go's stream.
const syntheticMarker = `{"KtestSynthetic":true,`

// json renders the verdict as a test2json pass event.
func (p passed) json() []byte {
	ev := struct {
		Time    time.Time `json:",omitzero"`
		Action  string
		Package string
		Test    string
		Elapsed float64
	}{p.when, "pass", p.pkg, p.run.name, 0}
	if !p.when.IsZero() && !p.run.start.IsZero() {
		ev.Elapsed = p.when.Sub(p.run.start).Round(time.Millisecond).Seconds()
	}
	line, _ := json.Marshal(ev)
	return append([]byte(syntheticMarker), line[1:]...)
}
