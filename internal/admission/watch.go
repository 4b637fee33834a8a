package admission

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watcher wakes a waiter when a slot in the directory is released: the
// close of a descriptor opened for writing (IN_CLOSE_WRITE), which is how
// every holder lets go, by Close or by dying. Scans open slots read-only,
// so one waiter's look does not wake the others. Without inotify (no
// instances left) it degrades to sleeping until the next poll.
type watcher struct {
	f    *os.File // the inotify descriptor, in Go's poller; nil without inotify
	stop func() bool
	buf  [4096]byte
}

// newWatcher watches the directory open as dirFD. It watches the inode
// through /proc/self/fd, so a directory renamed or replaced meanwhile is
// not the one watched; without /proc it falls back to the path.
func newWatcher(ctx context.Context, dirFD int, dir string) *watcher {
	w := &watcher{}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return w
	}
	const mask = unix.IN_CLOSE_WRITE | unix.IN_ONLYDIR
	if _, err := unix.InotifyAddWatch(fd, fmt.Sprintf("/proc/self/fd/%d", dirFD), mask); err != nil {
		if _, err := unix.InotifyAddWatch(fd, dir, mask|unix.IN_DONT_FOLLOW); err != nil {
			unix.Close(fd)
			return w
		}
	}
	f := os.NewFile(uintptr(fd), "inotify")
	w.f = f
	// Cancellation interrupts a blocked Read by moving its deadline to now.
	w.stop = context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
	return w
}

// wait blocks until a slot is released, until, or ctx is done.
func (w *watcher) wait(ctx context.Context, until time.Time) {
	if w.f == nil {
		sleepUntil(ctx, until)
		return
	}
	for {
		if err := w.f.SetReadDeadline(until); err != nil {
			sleepUntil(ctx, until)
			return
		}
		if ctx.Err() != nil {
			return
		}
		n, err := w.f.Read(w.buf[:])
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				sleepUntil(ctx, until) // a broken descriptor: poll instead
			}
			return
		}
		if releasedSlot(w.buf[:n]) {
			return
		}
	}
}

// releasedSlot reports whether a buffer of inotify events holds the close
// of a slot (or an overflow, after which anything may have happened).
func releasedSlot(buf []byte) bool {
	for len(buf) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(buf) {
			return true
		}
		name := strings.TrimRight(string(buf[unix.SizeofInotifyEvent:end]), "\x00")
		if ev.Mask&unix.IN_Q_OVERFLOW != 0 || strings.HasPrefix(name, "slot.") {
			return true
		}
		buf = buf[end:]
	}
	return false
}

// close releases the inotify descriptor (in the background: closing an
// instance waits for the kernel to reap its marks).
func (w *watcher) close() {
	if w == nil || w.f == nil {
		return
	}
	w.stop()
	go w.f.Close()
}

func sleepUntil(ctx context.Context, until time.Time) {
	d := time.Until(until)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
