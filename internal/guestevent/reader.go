package guestevent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Item is what a Reader returns: ordinary output, or an event.
type Item struct {
	// Output is a piece of ordinary output (whole lines, with their
	// newline, except at the end of the stream or of an overlong line).
	Output []byte
	// Event is set for an event line.
	Event *Event
}

// MalformedError is an event line that could not be read. The Reader
// carries on after it.
type MalformedError struct {
	// Excerpt is the start of the line's event part.
	Excerpt string
	Err     error
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("malformed guest event %q: %v", e.Excerpt, e.Err)
}

func (e *MalformedError) Unwrap() error { return e.Err }

// Reader splits a stream into output and events.
type Reader struct {
	br      *bufio.Reader
	marker  []byte
	line    []byte
	pending []Item
	// discarding is set while the rest of an overlong event line is
	// skipped.
	discarding bool
	err        error
}

// NewReader returns a Reader of r for the run framed with nonce.
func NewReader(r io.Reader, nonce string) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), marker: []byte(marker(nonce))}
}

// Next returns the next item. A *MalformedError reports one bad event line
// and the Reader can go on; io.EOF ends the stream; any other error is the
// underlying reader's and stays.
func (r *Reader) Next() (Item, error) {
	for {
		if len(r.pending) > 0 {
			it := r.pending[0]
			r.pending = r.pending[1:]
			return it, nil
		}
		if r.err != nil {
			return Item{}, r.err
		}
		chunk, err := r.br.ReadSlice('\n')
		if r.discarding {
			if err == nil {
				r.discarding = false
			} else if !errors.Is(err, bufio.ErrBufferFull) {
				r.err = err
			}
			continue
		}
		r.line = append(r.line, chunk...)
		full := errors.Is(err, bufio.ErrBufferFull)
		if len(r.line) > MaxLine {
			if merr := r.overflow(full); merr != nil {
				return Item{}, merr
			}
		}
		switch {
		case full:
			continue
		case err != nil:
			r.err = err
			if len(r.line) == 0 {
				continue
			}
		}
		line := r.line
		r.line = nil
		if merr := r.split(line); merr != nil {
			return Item{}, merr
		}
	}
}

// split queues the items of one whole line.
func (r *Reader) split(line []byte) error {
	i := bytes.Index(line, r.marker)
	if i < 0 {
		r.pending = append(r.pending, Item{Output: line})
		return nil
	}
	if i > 0 {
		r.pending = append(r.pending, Item{Output: line[:i:i]})
	}
	data := bytes.TrimRight(line[i+len(r.marker):], "\r\n")
	e, err := Decode(data)
	if err != nil {
		return &MalformedError{Excerpt: excerpt(data), Err: err}
	}
	r.pending = append(r.pending, Item{Event: &e})
	return nil
}

// overflow deals with a line longer than MaxLine: output goes out in
// pieces (keeping a tail that could be the start of a marker); an event is
// refused and the rest of its line skipped.
// more says whether the line goes on.
func (r *Reader) overflow(more bool) error {
	if i := bytes.Index(r.line, r.marker); i >= 0 {
		if i > 0 {
			r.pending = append(r.pending, Item{Output: r.line[:i:i]})
		}
		if len(r.line)-i <= MaxLine {
			// Long output before a short event: the event stays.
			r.line = append([]byte(nil), r.line[i:]...)
			return nil
		}
		ex := excerpt(r.line[i+len(r.marker):])
		r.line = nil
		r.discarding = more
		return &MalformedError{Excerpt: ex, Err: fmt.Errorf("an event line longer than %d bytes", MaxLine)}
	}
	if !more {
		return nil // a whole output line: it goes out as it is
	}
	keep := len(r.marker) - 1
	cut := len(r.line) - keep
	out := r.line[:cut:cut]
	r.line = append([]byte(nil), r.line[cut:]...)
	r.pending = append(r.pending, Item{Output: out})
	return nil
}

func excerpt(b []byte) string {
	if len(b) > 80 {
		b = b[:80]
	}
	return string(b)
}
