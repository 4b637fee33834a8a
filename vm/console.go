package vm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/ktest-dev/ktest/vm/internal/protocol"
)

// Limits on what a boot keeps in memory. A runaway guest printing in a
// loop under a long timeout must not exhaust the host.
const (
	maxConsoleHead = 32 << 20 // first bytes of console and output kept
	maxConsoleTail = 1 << 20  // last bytes kept once the head is full
	maxLineLen     = 1 << 20  // a longer line is cut before marker matching
)

// cappedBuffer keeps the first headLimit bytes written and, after that,
// the last tailLimit bytes, counting what it dropped in between.
type cappedBuffer struct {
	head, tail           []byte
	headLimit, tailLimit int
	dropped              int64
}

func newCappedBuffer() *cappedBuffer {
	return &cappedBuffer{headLimit: maxConsoleHead, tailLimit: maxConsoleTail}
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := b.headLimit - len(b.head); room > 0 {
		take := min(room, len(p))
		b.head = append(b.head, p[:take]...)
		p = p[take:]
	}
	if len(p) == 0 {
		return n, nil
	}
	b.tail = append(b.tail, p...)
	if over := len(b.tail) - b.tailLimit; over > b.tailLimit {
		// Compact only when the slack is as big as the limit, so each
		// byte is copied O(1) times on average.
		b.dropped += int64(over)
		b.tail = append(b.tail[:0], b.tail[over:]...)
	}
	return n, nil
}

// String returns what was kept, with a note where bytes were dropped.
func (b *cappedBuffer) String() string {
	tail := b.tail
	dropped := b.dropped
	if over := len(tail) - b.tailLimit; over > 0 {
		dropped += int64(over)
		tail = tail[over:]
	}
	if dropped == 0 {
		return string(b.head) + string(tail)
	}
	return fmt.Sprintf("%s\n[ktest: %d bytes of console output dropped]\n%s", b.head, dropped, tail)
}

// kernelLogLine matches a printk line with a timestamp ("[    1.234567] ").
// Such lines interleave with guest output on the shared serial console.
var kernelLogLine = regexp.MustCompile(`^\[\s*\d+\.\d+\] `)

// consoleParser consumes the serial console as QEMU writes it. It keeps
// the whole console, extracts the guest's output between the begin and
// result lines of this boot's nonce, and decodes the verdict.
//
// It is not safe for concurrent use: exec.Cmd calls Write from one
// goroutine, and the other fields are read only after cmd.Wait returned.
type consoleParser struct {
	beginTag, resultTag string
	live                io.Writer // optional raw copy (Config.Stdout)
	onVerdict           func()    // called once, when the verdict is parsed

	console *cappedBuffer // CRLF normalised to LF
	output  *cappedBuffer
	partial []byte

	begun      bool
	verdict    *protocol.Verdict
	badVerdict string // a result line whose JSON did not decode
}

func newConsoleParser(nonce string, live io.Writer, onVerdict func()) *consoleParser {
	return &consoleParser{
		beginTag:  protocol.BeginLine(nonce),
		resultTag: protocol.ResultPrefix(nonce),
		live:      live,
		onVerdict: onVerdict,
		console:   newCappedBuffer(),
		output:    newCappedBuffer(),
	}
}

// Write implements io.Writer; it never fails, so QEMU is never blocked or
// killed because of a console consumer.
func (p *consoleParser) Write(b []byte) (int, error) {
	if p.live != nil {
		_, _ = p.live.Write(b) // documented: live write errors are ignored
	}
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.partial = append(p.partial, b...)
			if len(p.partial) > maxLineLen {
				p.line(p.partial, false)
				p.partial = p.partial[:0]
			}
			break
		}
		if len(p.partial) > 0 {
			p.partial = append(p.partial, b[:i]...)
			p.line(p.partial, true)
			p.partial = p.partial[:0]
		} else {
			p.line(b[:i], true)
		}
		b = b[i+1:]
	}
	return n, nil
}

// Close processes a final line that had no newline.
func (p *consoleParser) Close() {
	if len(p.partial) > 0 {
		p.line(p.partial, false)
		p.partial = nil
	}
}

// line handles one console line (without its newline).
func (p *consoleParser) line(raw []byte, newline bool) {
	text := strings.TrimRight(string(raw), "\r")
	p.console.Write([]byte(text))
	if newline {
		p.console.Write([]byte{'\n'})
	}
	switch {
	case p.verdict != nil:
		// Power-off chatter after the verdict is not guest output.
	case !p.begun:
		if i := strings.Index(text, p.beginTag); i >= 0 && strings.TrimSpace(text[i+len(p.beginTag):]) == "" {
			p.begun = true
		}
	default:
		if i := strings.Index(text, p.resultTag); i >= 0 {
			var v protocol.Verdict
			dec := json.NewDecoder(strings.NewReader(text[i+len(p.resultTag):]))
			if err := dec.Decode(&v); err == nil {
				if prefix := text[:i]; prefix != "" {
					p.addOutput(prefix)
				}
				p.verdict = &v
				if p.onVerdict != nil {
					p.onVerdict()
				}
				return
			}
			p.badVerdict = text
		}
		if kernelLogLine.MatchString(text) {
			return
		}
		p.addOutput(text)
	}
}

func (p *consoleParser) addOutput(line string) {
	p.output.Write([]byte(line))
	p.output.Write([]byte{'\n'})
}

// Output returns the guest's output. The guest prints a newline before the
// result line to end any partial line; exactly that newline is removed, so
// output that ended without a newline is returned without one.
func (p *consoleParser) Output() string {
	out := p.output.String()
	if p.verdict != nil {
		out = strings.TrimSuffix(out, "\n")
	}
	return out
}
