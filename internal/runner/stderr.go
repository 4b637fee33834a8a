package runner

import (
	"bufio"
	"errors"
	"io"
	"sync"
)

// copyStderr copies go test's stderr to w as it comes, a line per write
// where lines fit in 64 KiB and in pieces where they do not: nothing is
// dropped or cut short, whatever the length of a line.
func copyStderr(w io.Writer, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			w.Write(chunk)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
	}
}

// lockedWriter serialises writes from several goroutines (go's stderr,
// build output from the event stream, ktest's warnings), so that each
// write stays whole.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
