package vmm

import (
	"io"
	"sync"
	"sync/atomic"
)

// spool copies src to dst through an unbounded in-memory queue, so that
// reading src (a QEMU chardev socket) never waits for dst (go test's
// pipe): a socket QEMU cannot write is a port it throttles, and data it
// still holds when the guest powers off is lost. done is closed once
// everything read has been written (write errors drop the rest); read
// counts the bytes read so far.
func spool(dst io.Writer, src io.Reader) (done <-chan struct{}, read *atomic.Int64) {
	var (
		mu     sync.Mutex
		cond   = sync.NewCond(&mu)
		queue  [][]byte
		closed bool
	)
	ch := make(chan struct{})
	read = new(atomic.Int64)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				read.Add(int64(n))
				b := append([]byte(nil), buf[:n]...)
				mu.Lock()
				queue = append(queue, b)
				cond.Signal()
				mu.Unlock()
			}
			if err != nil {
				mu.Lock()
				closed = true
				cond.Signal()
				mu.Unlock()
				return
			}
		}
	}()
	go func() {
		defer close(ch)
		failed := false
		for {
			mu.Lock()
			for len(queue) == 0 && !closed {
				cond.Wait()
			}
			q := queue
			queue = nil
			end := closed
			mu.Unlock()
			for _, b := range q {
				if !failed {
					if _, err := dst.Write(b); err != nil {
						failed = true
					}
				}
			}
			if end && len(q) == 0 {
				return
			}
		}
	}()
	return ch, read
}
