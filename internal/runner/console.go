package runner

import (
	"io"
	"strings"

	"gotest.tools/gotestsum/testjson"
)

// goConsole is ktest's default output: what plain `go test` (or `go test
// -v`) prints on stdout, rebuilt from the events of `go test -json`.
//
// go test runs the test binaries in parallel but prints their results one
// package at a time, in the order of its package list
// (cmd/go/internal/test: the print actions depend on each other in that
// order, and each run action writes into a buffer that its print action
// copies to stdout). The -json stream interleaves the packages instead,
// but starts them in the same order (the run actions are released one by
// one, each after writing its start event). So the console keeps packages
// in the order of their start events, writes the first unfinished one and
// buffers the others.
//
// What a package prints depends on the mode (runTestActor.Act):
//   - by default, a passing package prints only its ok line: go discards
//     the rest of the binary's output; a failing one prints all of it;
//   - with -v, or when go streams (no package arguments, -bench, -fuzz),
//     every package prints everything, and the first one prints live.
//
// After all packages, go prints a final FAIL line when a test or build
// failed and package arguments were given (printExitStatus).
type goConsole struct {
	out     io.Writer
	verbose bool
	live    bool // print everything and stream the first unfinished package
	// finalFail prints FAIL at the end when go failed.
	finalFail bool

	pkgs   []*consolePkg
	byName map[string]*consolePkg
	next   int   // index of the first package not completely written
	err    error // the first write error: the rest is dropped
}

type consolePkg struct {
	render *pkgRender
	text   spool // rendered and not written yet
	// lastLine is the package's last line of package-level output: go's
	// ok line once the package has passed.
	lastLine strings.Builder
	lineDone bool
	ended    bool
}

// goOutputMode reads from the go test arguments how plain go test would
// print: live when it streams, finalFail when it prints a final FAIL.
func goOutputMode(args []string, verbose bool) (live, finalFail bool) {
	s := splitGoTestArgs(args)
	bench := goFlagValue(s.Flags, "bench") != ""
	fuzz := goFlagValue(s.Flags, "fuzz") != ""
	stream := len(s.Patterns) == 0 || bench || fuzz
	return verbose || stream, len(s.Patterns) > 0 && !fuzz
}

// goFlagValue returns the value of the last -name or -test.name flag in
// flags (as splitGoTestArgs keeps them: a value either after = or as the
// next element).
func goFlagValue(flags []string, name string) string {
	var value string
	for i := 0; i < len(flags); i++ {
		n := strings.TrimPrefix(flagName(flags[i]), "test.")
		if n != name {
			continue
		}
		if _, v, ok := strings.Cut(flags[i], "="); ok {
			value = v
		} else if i+1 < len(flags) {
			i++
			value = flags[i]
		}
	}
	return value
}

func newGoConsole(out io.Writer, verbose, live, finalFail bool) *goConsole {
	return &goConsole{out: out, verbose: verbose, live: live, finalFail: finalFail, byName: map[string]*consolePkg{}}
}

// event renders one event of the stream. Build output (no package) is not
// the console's: go writes it to stderr.
func (c *goConsole) event(ev testjson.TestEvent) error {
	if ev.Package == "" {
		return c.err
	}
	p := c.byName[ev.Package]
	if p == nil {
		p = &consolePkg{lineDone: true}
		p.render = newPkgRender(c.verbose, p.text.write)
		c.byName[ev.Package] = p
		c.pkgs = append(c.pkgs, p)
	}
	if p.ended {
		return c.err // go's stream has nothing after a package's end
	}
	if ev.Test == "" && ev.Action.IsTerminal() {
		p.render.end()
		p.ended = true
		if ev.Action == testjson.ActionPass && !c.live {
			p.text.reset()
			p.text.write(p.lastLine.String())
		}
		c.advance()
		return c.err
	}
	if ev.Test == "" && ev.Action == testjson.ActionOutput {
		if p.lineDone {
			p.lastLine.Reset()
		}
		p.lastLine.WriteString(ev.Output)
		p.lineDone = strings.HasSuffix(ev.Output, "\n")
	}
	p.render.event(ev)
	if c.live && c.next < len(c.pkgs) && c.pkgs[c.next] == p {
		c.write(p)
	}
	return c.err
}

// advance writes the finished packages at the head of the queue, and then,
// when live, what the next one has so far.
func (c *goConsole) advance() {
	for c.next < len(c.pkgs) {
		p := c.pkgs[c.next]
		if !p.ended {
			if c.live {
				c.write(p)
			}
			return
		}
		c.write(p)
		p.render = nil
		c.next++
	}
}

func (c *goConsole) write(p *consolePkg) {
	if p.text.empty() {
		return
	}
	if c.err != nil {
		p.text.reset()
		return
	}
	c.err = p.text.writeTo(c.out)
}

// finish writes what is left when the stream has ended: packages that never
// ended (go test was stopped) print what they had, and go's final FAIL line
// follows when go failed after testing packages (not when it failed to
// load them, or on a bad flag).
func (c *goConsole) finish(goFailed bool) error {
	for _, p := range c.pkgs[c.next:] {
		if !p.ended {
			p.render.end()
		}
		c.write(p)
	}
	c.next = len(c.pkgs)
	if goFailed && c.finalFail && len(c.pkgs) > 0 && c.err == nil {
		_, c.err = io.WriteString(c.out, "FAIL\n")
	}
	return c.err
}
