package guestevent

import (
	"io"
	"sync"
)

// Writer writes events; it is safe for concurrent use, and each event goes
// out in one Write call, so that other writers of the same stream do not
// split it.
type Writer struct {
	mu    sync.Mutex
	w     io.Writer
	nonce string
}

// NewWriter returns a Writer of the run framed with nonce.
func NewWriter(w io.Writer, nonce string) *Writer { return &Writer{w: w, nonce: nonce} }

// Write sends e.
func (w *Writer) Write(e Event) error {
	line, err := Encode(w.nonce, e)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err = w.w.Write(line)
	return err
}
