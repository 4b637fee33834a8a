// Package fdlimit keeps a low open-file limit (ulimit -n) from crashing
// ktest, and turns "too many open files" into advice.
//
// The Go runtime sets up its poller (an epoll descriptor and an eventfd) on
// the first file a program opens. When the limit leaves no room for them,
// the runtime does not return an error: it dies with "fatal error: runtime:
// netpollinit failed". Check, called first thing in main, makes sure there
// is room and starts the poller itself, so that every later EMFILE is an
// ordinary error that ktest reports with Hint. (When stdin, stdout or stderr
// is a non-blocking descriptor, package os starts the poller during its
// own initialisation, before main; nothing in ktest can run earlier.)
package fdlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// startNeed is how many free descriptors Check wants: one file plus the
// poller's two.
const startNeed = 3

// LimitError reports an open-file limit too low for ktest to start.
type LimitError struct {
	Soft, Hard uint64
	Free       int // free descriptors found, fewer than needed
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("the open-file limit is too low for ktest to start: ulimit -n is %d and %d descriptor(s) are free; ktest needs %d to start, and a run a few dozen", e.Soft, e.Free, startNeed)
}

// Unwrap makes errors.Is(err, syscall.EMFILE) hold, so that Hint applies.
func (e *LimitError) Unwrap() error { return syscall.EMFILE }

// Check makes sure the runtime's poller can start, and starts it. It must
// run before anything opens a file through package os.
func Check() error {
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	// Raw system calls: they do not touch the poller.
	for len(fds) < startNeed {
		fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.EMFILE) {
			var lim unix.Rlimit
			_ = unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
			return &LimitError{Soft: lim.Cur, Hard: lim.Max, Free: len(fds)}
		}
		if err != nil {
			return nil // not a limit problem; let the real work report it
		}
		fds = append(fds, fd)
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	fds = nil
	// os.Open registers the file with the poller, which starts it now, while
	// its descriptors are free.
	if f, err := os.Open("/"); err == nil {
		f.Close()
	}
	return nil
}

// Hint returns advice for an error caused by the open-file limit (EMFILE)
// or by the system-wide file table (ENFILE), and "" for any other error.
func Hint(err error) string {
	switch {
	case errors.Is(err, syscall.EMFILE), forkDupOutOfRange(err):
		var lim unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil {
			return "raise the open-file limit (ulimit -n) and run again"
		}
		return fmt.Sprintf("raise the open-file limit and run again: ulimit -n is %d (hard limit %d); ktest needs a few dozen descriptors, go test many more", lim.Cur, lim.Max)
	case errors.Is(err, syscall.ENFILE):
		return "the system's file table is full (ENFILE): close files elsewhere, or raise fs.file-max"
	}
	return ""
}

// forkDupOutOfRange reports a process start that failed with EBADF. The
// child side of fork/exec moves the descriptors it hands on above the ones
// it keeps before placing them; when the open-file limit is lower than that
// scratch number, dup3 fails with EBADF, not EMFILE (dup2(2): newfd out of
// the allowed range). No other cause gives EBADF there, since the
// descriptors the parent passes are open.
func forkDupOutOfRange(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Op == "fork/exec" && errors.Is(pe.Err, syscall.EBADF)
}
