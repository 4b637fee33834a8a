package runner

import (
	"io"

	"gotest.tools/gotestsum/testjson"
)

// goVerboseFormat is plain `go test -v` for several packages: go test -json
// interleaves the packages' events as they happen, but go test -v streams
// one package at a time, holding the others' output until it is their
// turn, in the order they started. So this streams the oldest unfinished
// package and buffers the rest.
type goVerboseFormat struct {
	out    io.Writer
	queue  []string            // packages in start order, not yet written out
	buf    map[string][]string // held output per package
	done   map[string]bool     // packages whose final event arrived
	active string              // the package being streamed ("" = none)
}

func newGoVerboseFormat(out io.Writer) *goVerboseFormat {
	return &goVerboseFormat{out: out, buf: map[string][]string{}, done: map[string]bool{}}
}

func (f *goVerboseFormat) Format(event testjson.TestEvent, _ *testjson.Execution) error {
	pkg := event.Package
	if pkg == "" {
		// build output belongs to no test run: show it at once
		if event.Action == testjson.ActionOutput || event.Action == testjson.ActionBuild {
			_, err := io.WriteString(f.out, event.Output)
			return err
		}
		return nil
	}
	if _, seen := f.buf[pkg]; !seen {
		f.buf[pkg] = nil
		f.queue = append(f.queue, pkg)
		if f.active == "" {
			f.active = pkg
		}
	}
	if event.Output != "" {
		if pkg == f.active {
			if _, err := io.WriteString(f.out, event.Output); err != nil {
				return err
			}
		} else {
			f.buf[pkg] = append(f.buf[pkg], event.Output)
		}
	}
	if event.Test == "" && event.Action.IsTerminal() {
		f.done[pkg] = true
		if pkg == f.active {
			return f.advance()
		}
	}
	return nil
}

// advance drops the finished active package and streams the next one in
// start order, writing out what it held; finished ones are written whole.
func (f *goVerboseFormat) advance() error {
	for len(f.queue) > 0 && f.queue[0] == f.active && f.done[f.active] {
		f.queue = f.queue[1:]
		f.active = ""
		if len(f.queue) == 0 {
			return nil
		}
		f.active = f.queue[0]
		for _, s := range f.buf[f.active] {
			if _, err := io.WriteString(f.out, s); err != nil {
				return err
			}
		}
		f.buf[f.active] = nil
	}
	return nil
}

// flush writes whatever is still held, in start order, when the stream
// ends early (go test was stopped, or crashed).
func (f *goVerboseFormat) flush() error {
	for _, pkg := range f.queue {
		for _, s := range f.buf[pkg] {
			if _, err := io.WriteString(f.out, s); err != nil {
				return err
			}
		}
		f.buf[pkg] = nil
	}
	f.queue, f.active = nil, ""
	return nil
}
