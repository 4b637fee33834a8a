package outfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/atomicfile"
)

// File is an output opened by Create. Write to it (or to OS()), then Commit
// to publish the content, or Abort to drop it; Commit and Abort may both be
// called (the second is a no-op), so `defer f.Abort()` is safe.
type File struct {
	path string   // as given
	f    *os.File // the temp file or the stream; Name() is path
	// tmp and final are set for a replaced file: the temp file in the
	// target's directory, and the name it is renamed to.
	tmp, final string
	// keepMode is set when the file existed: Commit gives the
	// replacement its mode and (where it may) its owner. A new file keeps
	// the mode it was created with, 0666 less the umask, as from
	// os.Create.
	keepMode bool
	mode     os.FileMode
	owner    *syscall.Stat_t
	// stopCancel detaches the context watch of a FIFO.
	stopCancel func() bool
	// stall bounds a FIFO write without progress (0 for other kinds), and
	// cancelAt is the deadline set once the context is done (UnixNano, 0
	// before), which a write never extends.
	stall    time.Duration
	cancelAt atomic.Int64
	done     bool
}

// Create opens path for writing (see the package comment for how each kind
// of path is written). It fails when path cannot be written: a missing or
// unwritable directory, a directory or socket at path, a FIFO without a
// reader after opts.FIFOWait. Opening a FIFO waits for its reader, polling
// without blocking, until ctx is done or the wait ends; after ctx is done,
// writes to a FIFO that block fail after opts.CancelGrace.
func Create(ctx context.Context, path string, opts Options) (*File, error) {
	t, err := resolve(path)
	if err != nil {
		return nil, err
	}
	if t.kind == kindStream {
		return openStream(ctx, path, t, opts)
	}
	if err := checkReplace(path, t); err != nil {
		return nil, err
	}
	dir, base := filepath.Dir(t.path), filepath.Base(t.path)
	out := &File{path: path, final: t.path}
	perm := uint32(0o666)
	if t.existing != nil {
		// Private until Commit gives it the old file's mode.
		perm = 0o600
		out.keepMode, out.mode = true, t.existing.Mode().Perm()
		out.owner, _ = t.existing.Sys().(*syscall.Stat_t)
	}
	for attempt := 0; ; attempt++ {
		tmp := filepath.Join(dir, "."+base+".tmp-"+randomSuffix())
		fd, err := openRetry(tmp, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
		if errors.Is(err, unix.EEXIST) && attempt < 10 {
			continue
		}
		if err != nil {
			return nil, fail(path, "cannot create a file in %s: %v; choose another path or fix its permissions", dir, err)
		}
		out.tmp, out.f = tmp, os.NewFile(uintptr(fd), path)
		return out, nil
	}
}

func openRetry(path string, flags int, perm uint32) (int, error) {
	for {
		fd, err := unix.Open(path, flags, perm)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// openStream opens a FIFO or device in place. Every open is non-blocking:
// a FIFO without a reader fails with ENXIO, and is retried until a reader
// comes, ctx is done or opts.FIFOWait has passed.
func openStream(ctx context.Context, path string, t target, opts Options) (*File, error) {
	flags := unix.O_WRONLY | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK
	if t.viaProc {
		// Someone else's open file: add to it, never truncate it.
		flags |= unix.O_APPEND
	}
	wait := opts.FIFOWait
	if wait <= 0 {
		wait = DefaultFIFOWait
	}
	deadline := time.Now().Add(wait)
	told := false
	var fd int
	for {
		var err error
		fd, err = openRetry(path, flags, 0)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.ENXIO) || t.existing == nil || t.existing.Mode()&os.ModeNamedPipe == 0 {
			return nil, fail(path, "open: %v", err)
		}
		if !told && opts.Waiting != nil {
			opts.Waiting(path, wait)
			told = true
		}
		if !time.Now().Before(deadline) {
			return nil, fail(path, "FIFO has no reader after %s; start the reader first (e.g. cat %s &)", wait, path)
		}
		timer := time.NewTimer(min(fifoPoll, time.Until(deadline)))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fail(path, "waiting for a reader of the FIFO: %w", context.Cause(ctx))
		case <-timer.C:
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fail(path, "fstat: %v", err)
	}
	out := &File{path: path}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO:
		// Left non-blocking: the os package then waits for the pipe in
		// its poller, where a deadline (and Close) can end a write.
		out.f = os.NewFile(uintptr(fd), path)
		grace := opts.CancelGrace
		if grace <= 0 {
			grace = DefaultCancelGrace
		}
		out.stall = opts.Stall
		if out.stall <= 0 {
			out.stall = DefaultStall
		}
		out.stopCancel = context.AfterFunc(ctx, func() {
			at := time.Now().Add(grace)
			out.cancelAt.Store(at.UnixNano())
			out.f.SetWriteDeadline(at)
		})
	case unix.S_IFCHR, unix.S_IFREG:
		if st.Mode&unix.S_IFMT == unix.S_IFREG && !t.viaProc {
			unix.Close(fd)
			return nil, fail(path, "changed while ktest opened it; try again")
		}
		// A device or an open file: plain blocking writes.
		if err := unix.SetNonblock(fd, false); err != nil {
			unix.Close(fd)
			return nil, fail(path, "open: %v", err)
		}
		out.f = os.NewFile(uintptr(fd), path)
	default:
		unix.Close(fd)
		return nil, fail(path, "changed while ktest opened it; try again")
	}
	return out, nil
}

// Name is the path as given to Create.
func (f *File) Name() string { return f.path }

// OS is the open file to write to; its Name is the path as given. It stays
// valid until Commit or Abort.
func (f *File) OS() *os.File { return f.f }

// Seekable reports whether the content written so far can be read back
// through OS (a replaced file's temp file is open read-write).
func (f *File) Seekable() bool { return f.tmp != "" }

// Write writes to the output. A write to a FIFO whose reader reads nothing
// for the stall bound (or past the grace after the context ended) fails,
// so that a reader that stopped reading cannot hang the run.
func (f *File) Write(p []byte) (int, error) {
	if f.stall <= 0 {
		n, err := f.f.Write(p)
		if err != nil {
			return n, &Error{Path: f.path, Err: unwrapPath(err)}
		}
		return n, nil
	}
	written := 0
	for written < len(p) {
		deadline := time.Now().Add(f.stall)
		cancelled := false
		if at := f.cancelAt.Load(); at != 0 && at < deadline.UnixNano() {
			deadline, cancelled = time.Unix(0, at), true
		}
		f.f.SetWriteDeadline(deadline)
		n, err := f.f.Write(p[written:])
		written += n
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded) && n > 0 && !cancelled:
			// Progress: the reader is slow, not gone.
		case errors.Is(err, os.ErrDeadlineExceeded) && cancelled:
			return written, &Error{Path: f.path, Err: errors.New("the run was stopped and the FIFO's reader read nothing more")}
		case errors.Is(err, os.ErrDeadlineExceeded):
			return written, &Error{Path: f.path, Err: fmt.Errorf("the FIFO's reader read nothing for %s; ktest stopped writing to it", f.stall)}
		default:
			return written, &Error{Path: f.path, Err: unwrapPath(err)}
		}
	}
	return written, nil
}

// Commit publishes what was written: a replaced file's temp file is
// synced, given the old file's mode and renamed over the target (then the
// directory is synced); a stream is closed. On an error the old file is
// left as it was.
func (f *File) Commit() error {
	if f.done {
		return nil
	}
	f.done = true
	if f.stopCancel != nil {
		f.stopCancel()
	}
	if f.tmp == "" {
		if err := f.f.Close(); err != nil {
			return &Error{Path: f.path, Err: unwrapPath(err)}
		}
		return nil
	}
	err := f.finishTemp()
	if err != nil {
		os.Remove(f.tmp)
		return &Error{Path: f.path, Err: err}
	}
	return nil
}

func (f *File) finishTemp() error {
	if f.keepMode {
		if o := f.owner; o != nil && (int(o.Uid) != os.Geteuid() || int(o.Gid) != os.Getegid()) {
			// Best effort, as root may: the replacement belongs to
			// whoever owned the old file.
			f.f.Chown(int(o.Uid), int(o.Gid))
		}
		if err := f.f.Chmod(f.mode); err != nil {
			f.f.Close()
			return fmt.Errorf("keep the mode %v: %w", f.mode, unwrapPath(err))
		}
	}
	if err := f.f.Sync(); err != nil {
		f.f.Close()
		return fmt.Errorf("fsync: %w", unwrapPath(err))
	}
	if err := f.f.Close(); err != nil {
		return fmt.Errorf("close: %w", unwrapPath(err))
	}
	if err := os.Rename(f.tmp, f.final); err != nil {
		return fmt.Errorf("rename the temp file %s over %s: %w", f.tmp, f.final, unwrapPath(err))
	}
	return atomicfile.SyncDir(filepath.Dir(f.final))
}

// Abort drops what was written: a replaced file's temp file is removed and
// the old file stays; a stream is closed. It is a no-op after Commit.
func (f *File) Abort() {
	if f == nil || f.done {
		return
	}
	f.done = true
	if f.stopCancel != nil {
		f.stopCancel()
	}
	f.f.Close()
	if f.tmp != "" {
		os.Remove(f.tmp)
	}
}

// WriteFile writes data to path as Create and Commit do.
func WriteFile(ctx context.Context, path string, data []byte, opts Options) error {
	f, err := Create(ctx, path, opts)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}
