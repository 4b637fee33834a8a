// Package outfile writes ktest's report files (--junitfile, --jsonfile,
// stats --html) the way users expect from `go test -o` and gotestsum:
//
//   - a new file, or an existing regular file, is replaced atomically: the
//     content goes to a temp file in the target's own directory, which is
//     renamed over it once complete, so a reader never sees half a report
//     and a failed run leaves the old report in place; an existing file
//     keeps its mode (and, where the process may, its owner);
//   - a symlink is followed: the link stays, and its target gets the
//     content (a dangling link gets its target created);
//   - a FIFO, a character device (/dev/null, /dev/stdout on a terminal) or
//     an open file reached through /proc (/dev/stdout, /dev/fd/N) is written
//     in place, as a stream, never replaced.
//
// Create opens the output before the work that produces its content, so
// that an output that cannot be written fails the run before the tests
// run, not after; nothing of the old content is lost until Commit.
package outfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultFIFOWait is how long Create waits for a reader to open a FIFO.
const DefaultFIFOWait = 30 * time.Second

// DefaultCancelGrace is how long writes to a FIFO may still block once the
// context of Create is done.
const DefaultCancelGrace = 5 * time.Second

// DefaultStall is how long a write to a FIFO may make no progress (its
// reader opened it but reads nothing) before it fails: the run then goes
// on without that output instead of hanging.
const DefaultStall = 30 * time.Second

// maxLinks bounds the symlinks followed, as the kernel's ELOOP does.
const maxLinks = 40

// fifoPoll is how often Create retries opening a FIFO that has no reader.
var fifoPoll = 20 * time.Millisecond

// Options adjust Create.
type Options struct {
	// FIFOWait bounds the wait for a FIFO's reader; 0 means
	// DefaultFIFOWait.
	FIFOWait time.Duration
	// CancelGrace bounds how long a write to a FIFO may block after the
	// context is done; 0 means DefaultCancelGrace.
	CancelGrace time.Duration
	// Waiting, when set, is called once when Create starts to wait for a
	// FIFO's reader, so the caller can say so.
	Waiting func(path string, limit time.Duration)
	// Stall bounds how long one write to a FIFO may make no progress; 0
	// means DefaultStall.
	Stall time.Duration
}

// Error is a problem with an output path. Its text starts with the path as
// given, so that callers can prefix the flag: "--junitfile " + err.
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string { return e.Path + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

func fail(path string, format string, args ...any) error {
	return &Error{Path: path, Err: fmt.Errorf(format, args...)}
}

// kind is how an output is written.
type kind int

const (
	kindReplace kind = iota // new or regular file: temp file + rename
	kindStream              // FIFO, character device, /proc magic link: in place
)

// target is what an output path refers to once symlinks are followed.
type target struct {
	kind kind
	// path is the file to write: for kindReplace the final name (links
	// followed), for kindStream the path as given (the kernel follows it).
	path string
	// existing is the file path names, nil for a new file.
	existing fs.FileInfo
	// viaProc is set when path reaches a regular file through a /proc
	// magic link (an open file of some process): written in place.
	viaProc bool
}

// Check reports whether path could be written, without creating, opening
// or changing anything: for a dry run. Create makes the same checks and
// then probes for real.
func Check(path string) error {
	t, err := resolve(path)
	if err != nil {
		return err
	}
	if t.kind == kindStream {
		return nil
	}
	return checkReplace(path, t)
}

// resolve follows path's symlinks to what it names.
func resolve(path string) (target, error) {
	if path == "" {
		return target{}, fail(path, "empty path; give a file name")
	}
	st, err := os.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return target{}, &Error{Path: path, Err: unwrapPath(err)}
	}
	if err == nil {
		switch m := st.Mode(); {
		case m.IsDir():
			return target{}, fail(path, "is a directory; give a file name")
		case m&fs.ModeNamedPipe != 0, m&fs.ModeCharDevice != 0:
			return target{kind: kindStream, path: path, existing: st}, nil
		case m&fs.ModeDevice != 0:
			return target{}, fail(path, "is a block device; ktest writes reports only to files, FIFOs and character devices")
		case m&fs.ModeSocket != 0:
			return target{}, fail(path, "is a socket; give a file, a FIFO or a character device")
		case !m.IsRegular():
			return target{}, fail(path, "is not a regular file (%s)", m.Type())
		}
	}
	// A regular file or nothing: find the name to replace, following
	// symlinks one by one (a dangling link names the file to create).
	p := path
	for range maxLinks {
		lst, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return target{kind: kindReplace, path: p}, nil
		case err != nil:
			return target{}, &Error{Path: path, Err: unwrapPath(err)}
		case lst.Mode()&fs.ModeSymlink == 0:
			if !lst.Mode().IsRegular() {
				return target{}, fail(path, "changed while ktest looked at it; try again")
			}
			return target{kind: kindReplace, path: p, existing: lst}, nil
		}
		if strings.HasPrefix(filepath.Dir(p), "/proc/") {
			// /dev/stdout, /dev/fd/N: an open file of some process.
			// Its link text is not always a path ("... (deleted)"),
			// and the file belongs to whoever opened it: write in
			// place.
			return target{kind: kindStream, path: path, existing: st, viaProc: true}, nil
		}
		link, err := os.Readlink(p)
		if err != nil {
			return target{}, &Error{Path: path, Err: unwrapPath(err)}
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(p), link)
		}
		p = link
	}
	return target{}, fail(path, "too many levels of symbolic links")
}

// checkReplace checks that the temp file and the rename of kindReplace can
// work: the directory exists and is writable, and a file of another user in
// a sticky directory (/tmp) can be replaced.
func checkReplace(path string, t target) error {
	dir := filepath.Dir(t.path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fail(path, "directory %s does not exist; create it first (mkdir -p %s)", dir, dir)
	case err != nil:
		return &Error{Path: path, Err: unwrapPath(err)}
	case !st.IsDir():
		return fail(path, "%s is not a directory", dir)
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fail(path, "directory %s is not writable (%v); choose another path or fix its permissions", dir, err)
	}
	if t.existing != nil && st.Mode()&fs.ModeSticky != 0 {
		euid := uint32(os.Geteuid())
		fileUID, dirUID := ownerOf(t.existing), ownerOf(st)
		if euid != 0 && fileUID != euid && dirUID != euid {
			return fail(path, "%s belongs to uid %d in the sticky directory %s, so ktest cannot replace it; remove it or choose another path", t.path, fileUID, dir)
		}
	}
	return nil
}

func ownerOf(fi fs.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return ^uint32(0)
}

// unwrapPath drops an *fs.PathError's own path: Error names the path.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
