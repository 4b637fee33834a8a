package vmm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/vmproto"
)

// writeBack writes the files the guest sends back (the initramfs
// transport, docs/spec.md §16.3) into the run's writable directories. A
// path outside them, or one that would leave them through a symlink or
// "..", is refused (os.Root); so is a file that is not regular, opened
// without blocking; an existing file keeps its mode and owner.
type writeBack struct {
	binds []string // writable directories, host paths
	roots map[string]*os.Root
	cur   *os.File // nil when the current file could not be opened
	path  string   // the current file's host path
	next  int64    // the offset cur expects
	errs  []error
	files int
}

func newWriteBack(binds []vmproto.Bind) *writeBack {
	w := &writeBack{roots: map[string]*os.Root{}}
	for _, b := range binds {
		if b.Writable {
			w.binds = append(w.binds, b.Path)
		}
	}
	return w
}

// piece writes one file message; a failure is kept for report and the
// rest of that file is dropped.
func (w *writeBack) piece(f *vmproto.File) {
	if f.Offset == 0 {
		w.closeCur()
		w.path, w.next = f.Path, 0
		file, err := w.open(f.Path, os.FileMode(f.Mode).Perm())
		if err != nil {
			w.errs = append(w.errs, fmt.Errorf("write back %s: %w", f.Path, err))
			return
		}
		w.cur = file
		w.files++
	}
	if f.Path == w.path && w.cur == nil {
		return // its open or a write failed: reported once
	}
	if f.Path != w.path || f.Offset != w.next {
		w.errs = append(w.errs, fmt.Errorf("write back %s: a piece at offset %d out of order", f.Path, f.Offset))
		w.closeCur()
		w.path = f.Path
		return
	}
	if _, err := w.cur.WriteAt(f.Data, f.Offset); err != nil {
		w.errs = append(w.errs, fmt.Errorf("write back %s: %w", f.Path, err))
		w.closeCur()
		return
	}
	w.next += int64(len(f.Data))
}

// open creates or truncates host path p inside its writable directory.
func (w *writeBack) open(p string, mode os.FileMode) (*os.File, error) {
	dir := ""
	for _, b := range w.binds {
		if strings.HasPrefix(p, b+"/") && len(b) > len(dir) {
			dir = b
		}
	}
	if dir == "" {
		return nil, errors.New("not inside a writable directory of the run")
	}
	root := w.roots[dir]
	if root == nil {
		var err error
		if root, err = os.OpenRoot(dir); err != nil {
			return nil, err
		}
		w.roots[dir] = root
	}
	rel := strings.TrimPrefix(p, dir+"/")
	if parent := filepath.Dir(rel); parent != "." {
		if err := root.MkdirAll(parent, 0o755); err != nil {
			return nil, err
		}
	}
	// O_NONBLOCK: a FIFO planted at the path fails (ENXIO) or is
	// refused below instead of blocking the run.
	f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|unix.O_NONBLOCK, mode)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("it is a %v, not a regular file", st.Mode().Type())
		}
		return nil, err
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (w *writeBack) closeCur() {
	if w.cur != nil {
		if err := w.cur.Close(); err != nil {
			w.errs = append(w.errs, fmt.Errorf("write back %s: %w", w.path, err))
		}
		w.cur = nil
	}
}

// close ends the write-back and returns what went wrong.
func (w *writeBack) close() error {
	w.closeCur()
	for _, r := range w.roots {
		r.Close()
	}
	return errors.Join(w.errs...)
}

// reportWriteBack tells the program's stderr which files did not come
// back, from either side: the program's own verdict stands, but a missing
// cover profile or golden file must not go unexplained.
func reportWriteBack(stderr io.Writer, hostErr error, guestErr string) {
	if hostErr != nil {
		fmt.Fprintf(stderr, "ktest: vm: files the program wrote were not all copied back to the host: %v\n", hostErr)
	}
	if guestErr != "" {
		fmt.Fprintf(stderr, "ktest: vm: the guest could not send back every file the program wrote: %s\n", guestErr)
	}
}
