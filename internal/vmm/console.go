package vmm

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"time"
)

// console keeps the kernel console (and copies it to w as it arrives).
type console struct {
	mu   sync.Mutex
	b    bytes.Buffer
	w    io.Writer
	last time.Time
}

func newConsole(w io.Writer) *console { return &console{w: w} }

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.b.Write(p)
	c.last = time.Now()
	w := c.w
	c.mu.Unlock()
	if w != nil {
		_, _ = w.Write(p) // a failing copy does not end the run
	}
	return len(p), nil
}

// Len is the length of what arrived so far.
func (c *console) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(strings.ReplaceAll(c.b.String(), "\r\n", "\n"))
}

// String is the console so far, CRLF turned into LF.
func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.ReplaceAll(c.b.String(), "\r\n", "\n")
}

// waitQuiet waits until nothing arrived for quiet, at most max, or until
// stop is closed.
func (c *console) waitQuiet(quiet, max time.Duration, stop <-chan struct{}) {
	end := time.Now().Add(max)
	for time.Now().Before(end) {
		c.mu.Lock()
		idle := time.Since(c.last)
		c.mu.Unlock()
		if idle >= quiet {
			return
		}
		select {
		case <-stop:
			time.Sleep(100 * time.Millisecond) // the last bytes in flight
			return
		case <-time.After(quiet - idle):
		}
	}
}
