// Package regularfile opens files that must be regular files (kernel
// images, vmlinux, metadata, small JSON caches) without ever blocking on a
// FIFO or opening a device: a FIFO named like a kernel image must produce an
// error, not a hang that ignores SIGINT.
package regularfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/filekind"
)

// NotRegularError reports a path that is not a regular file.
type NotRegularError struct {
	Path string
	Mode fs.FileMode // its type bits
}

// Error reads like "/x/bzImage is a named pipe, not a regular file".
func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is a %s, not a regular file", e.Path, filekind.Of(e.Mode))
}

// Open opens path read-only if it is a regular file (symlinks followed) and
// returns it with its FileInfo. The type is checked before the open (a
// device is never opened), the open is O_NONBLOCK|O_NOCTTY (a FIFO swapped
// in meanwhile cannot block it) and the descriptor is checked again with
// fstat, then put back in blocking mode. A non-regular file is
// *NotRegularError; other failures are *fs.PathError.
func Open(path string) (*os.File, fs.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, &NotRegularError{Path: path, Mode: st.Mode().Type()}
	}
	var fd int
	for {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	st, err = f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, &NotRegularError{Path: path, Mode: st.Mode().Type()}
	}
	// os.NewFile saw a non-blocking descriptor and may have put it in the
	// poller; regular files are never pollable, so it did not, and
	// blocking reads are what the callers want.
	if err := unix.SetNonblock(fd, false); err != nil {
		f.Close()
		return nil, nil, &fs.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return f, st, nil
}
