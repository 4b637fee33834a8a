package runner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"
)

// maxScanLine bounds the lines the pump hands to testjson.ScanTestOutput,
// whose bufio.Scanner stops the whole scan at a line over 64 KiB
// ("token too long"). It leaves room for JSON escaping of the cut pieces.
const maxScanLine = 48 << 10

// outputChunk is the size of the Output pieces a too-long event is cut
// into; escaping can make a piece at most six times longer.
const outputChunk = 4 << 10

// Markers on the pieces of a cut line, for the event sink: continuedJSON
// starts each event after the first, which is not a line of go's stream;
// continuedText starts each piece of text that the next piece continues,
// so it gets no newline.
const (
	continuedJSON = `{"KtestContinued":true,`
	continuedText = "\x00ktest-continued\x00"
)

// stdoutPump reads go test's stdout, line by line and of any length, and
// passes it on: verbatim to the raw outputs (stdout under -json, the
// --jsonfile), and to testjson's scanner with lines cut to a size it
// reads and with the verdicts of finished benchmarks added.
type stdoutPump struct {
	raw   io.Writer // verbatim copy; nil unless -json
	log   io.Writer // the event log; nil without --jsonfile
	scan  io.Writer // to testjson.ScanTestOutput
	bench benchTracker
	// kernel, in a run over several kernels, is added to every event
	// written to raw and log (see kernelMark); nil otherwise, and the
	// copies are verbatim.
	kernel []byte
}

// kernelField is the field ktest adds to each test2json event of a run
// over several kernels, on stdout under -json and in the --jsonfile:
// {"Time":...,"Action":"pass","Package":"p","KtestKernel":"6.1.0-50-cloud-amd64"}.
// test2json readers (gotestsum, go-junit-report, encoding/json) ignore a
// field they do not know, and jq selects a kernel's events with
// select(.KtestKernel == "6.1.0-50-cloud-amd64"). go's own fields are
// capitalised words; the Ktest prefix keeps a future one from colliding.
const kernelField = "KtestKernel"

// kernelMark is the text inserted before an event's closing brace to mark
// it with the kernel label; nil for "" (a run on one kernel).
func kernelMark(label string) []byte {
	if label == "" {
		return nil
	}
	v, _ := json.Marshal(label)
	return append([]byte(`,"`+kernelField+`":`), v...)
}

// markEvent returns the event line with the kernel mark before its closing
// brace (line ends in "}" or "}\n"). Lines that are not a JSON object with
// at least one field pass unchanged.
func (p *stdoutPump) markEvent(line []byte) []byte {
	body := bytes.TrimSuffix(line, []byte("\n"))
	if p.kernel == nil || len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' ||
		len(bytes.TrimSpace(body[1:len(body)-1])) == 0 {
		return line
	}
	out := make([]byte, 0, len(line)+len(p.kernel)+1)
	out = append(out, body[:len(body)-1]...)
	out = append(out, p.kernel...)
	out = append(out, '}')
	if len(body) < len(line) {
		out = append(out, '\n')
	}
	return out
}

// run copies until EOF or a read error. Write errors to one destination
// stop writes to that destination only, so that go test is never blocked
// on a full pipe.
func (p *stdoutPump) run(src io.Reader) error {
	br := bufio.NewReaderSize(src, 64<<10)
	raw := newFlushWriter(p.raw)
	scan := newFlushWriter(p.scan)
	var long []byte // a line longer than br's buffer, so far
	for {
		chunk, err := br.ReadSlice('\n')
		if p.kernel == nil {
			raw.write(chunk) // verbatim, whatever the length of the line
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, chunk...)
			continue
		}
		line := chunk
		if len(long) > 0 {
			long = append(long, chunk...)
			line = long
		}
		if len(line) > 0 {
			if p.kernel != nil {
				// Marked: whole lines, so that the mark goes
				// before the closing brace.
				raw.write(p.markEvent(line))
			}
			if line[0] == '{' && p.log != nil {
				p.log.Write(withNewline(p.markEvent(line)))
			}
			p.forward(scan, line)
		}
		long = long[:0]
		if br.Buffered() == 0 || err != nil {
			raw.flush()
			scan.flush()
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// forward hands one line of go's stdout to the scanner.
func (p *stdoutPump) forward(scan *flushWriter, line []byte) {
	if line[0] == '{' {
		if p.bench.busy() {
			line = p.bench.rename(line)
		}
		for _, v := range p.bench.observe(p.peek(line)) {
			scan.write(append(v.json(), '\n'))
		}
	}
	if len(line) <= maxScanLine {
		scan.write(withNewline(line))
		return
	}
	pieces, events := cutLine(line)
	for i, piece := range pieces {
		switch {
		case events && i > 0:
			piece = append([]byte(continuedJSON), piece[1:]...)
		case !events && i < len(pieces)-1:
			piece = append([]byte(continuedText), piece...)
		}
		scan.write(append(piece, '\n'))
	}
}

// peek decodes what benchTracker needs of an event. Output events are the
// bulk of the stream: only the few a running benchmark waits for (a
// binary's PASS or FAIL line) are decoded.
func (p *stdoutPump) peek(line []byte) streamEvent {
	var ev streamEvent
	head := line[:min(len(line), 128)]
	if bytes.Contains(head, []byte(`"Action":"output"`)) {
		if !p.bench.busy() || bytes.Contains(line, []byte(`"Test":`)) ||
			!(bytes.Contains(line, []byte(`"Output":"PASS\n"`)) || bytes.Contains(line, []byte(`"Output":"FAIL\n"`))) {
			return ev
		}
	} else if len(line) > 4<<10 {
		return ev
	}
	json.Unmarshal(line, &ev) // a malformed line is reported by the event sink
	return ev
}

// cutLine splits a line too long for the scanner. An event is cut into
// events with the same fields and consecutive pieces of its Output; any
// other line into pieces of text, at UTF-8 boundaries.
func cutLine(line []byte) (pieces [][]byte, events bool) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	var fields map[string]json.RawMessage
	var output string
	if json.Unmarshal(line, &fields) == nil && json.Unmarshal(fields["Output"], &output) == nil && output != "" {
		for _, piece := range cutText(output, outputChunk) {
			fields["Output"], _ = json.Marshal(piece)
			ev, _ := json.Marshal(fields)
			pieces = append(pieces, ev)
		}
		return pieces, true
	}
	for _, piece := range cutText(string(line), maxScanLine/2) {
		pieces = append(pieces, []byte(piece))
	}
	return pieces, false
}

// cutText cuts s into pieces of at most n bytes, never inside a UTF-8
// sequence.
func cutText(s string, n int) []string {
	var pieces []string
	for len(s) > n {
		i := n
		for i > n-utf8.UTFMax && !utf8.RuneStart(s[i]) {
			i--
		}
		pieces = append(pieces, s[:i])
		s = s[i:]
	}
	return append(pieces, s)
}

// withNewline ends line with a newline, copying it then: line may be a
// slice of a bufio.Reader's buffer.
func withNewline(line []byte) []byte {
	if len(line) > 0 && line[len(line)-1] == '\n' {
		return line
	}
	return append(line[:len(line):len(line)], '\n')
}

// flushWriter buffers writes to w until flush; after a write error it drops
// everything, so that one failing destination stops nothing else.
type flushWriter struct {
	w   *bufio.Writer
	err error
}

func newFlushWriter(w io.Writer) *flushWriter {
	if w == nil {
		return &flushWriter{err: io.ErrClosedPipe}
	}
	return &flushWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

func (f *flushWriter) write(b []byte) {
	if f.err == nil {
		_, f.err = f.w.Write(b)
	}
}

func (f *flushWriter) flush() {
	if f.err == nil {
		f.err = f.w.Flush()
	}
}
