package initramfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// dirMode is the permission of directories created implicitly as parents.
const dirMode fs.FileMode = 0o755

// Writer writes a newc archive to an io.Writer.
//
// Entries are written in call order. Missing parent directories are added
// automatically (mode 0755) before an entry, so the kernel never has to
// create a file in a directory it has not seen. Paths are archive paths:
// "/init" and "init" mean the same entry. Adding the same path twice is an
// error, except AddDir on an existing directory, which does nothing.
//
// The first error is sticky: every later call returns it. Close writes the
// trailer and flushes but does not close the underlying io.Writer (the
// caller owns it).
type Writer struct {
	bw      *bufio.Writer
	entries map[string]uint32 // archive path -> file type bits
	nextIno uint32
	err     error
	closed  bool
}

// NewWriter returns a Writer that writes an archive to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, 64<<10), entries: map[string]uint32{}, nextIno: 1}
}

// AddBaseLayout adds the directories an initramfs needs before its /init
// mounts anything — dev, proc, sys, tmp (mode 1777), and the character node
// /dev/console (5,1) so the kernel can open a console for /init before
// devtmpfs is mounted. Existing directories are left as they are.
func (w *Writer) AddBaseLayout() error {
	for _, d := range []string{"dev", "proc", "sys"} {
		if err := w.AddDir(d, dirMode); err != nil {
			return err
		}
	}
	if err := w.AddDir("tmp", 0o777|fs.ModeSticky); err != nil {
		return err
	}
	return w.AddCharDevice("dev/console", 0o600, 5, 1)
}

// AddDir adds a directory. It is a no-op when the directory already exists.
func (w *Writer) AddDir(name string, mode fs.FileMode) error {
	p, err := w.prepare(name, true)
	if err != nil || p == "" {
		return err
	}
	return w.writeEntry(p, typeDir|permBits(mode), 2, 0, 0, nil, 0)
}

// AddFile adds a regular file holding data.
func (w *Writer) AddFile(name string, mode fs.FileMode, data []byte) error {
	p, err := w.prepare(name, false)
	if err != nil {
		return err
	}
	return w.writeEntry(p, typeRegular|permBits(mode), 1, 0, 0, bytes.NewReader(data), int64(len(data)))
}

// AddFileFrom adds a regular file whose content is streamed from the host
// file src. If mode is 0 the source file's permission bits are used.
func (w *Writer) AddFileFrom(name string, mode fs.FileMode, src string) error {
	if w.err != nil {
		return w.err
	}
	f, err := os.Open(src)
	if err != nil {
		return w.fail(fmt.Errorf("open initramfs source %s: %w", src, err))
	}
	defer f.Close() // read-only; a close error cannot lose data
	st, err := f.Stat()
	if err != nil {
		return w.fail(fmt.Errorf("stat initramfs source %s: %w", src, err))
	}
	if !st.Mode().IsRegular() {
		return w.fail(fmt.Errorf("add %s from %s: source is not a regular file (mode %v)", name, src, st.Mode()))
	}
	if mode == 0 {
		mode = st.Mode()
	}
	p, err := w.prepare(name, false)
	if err != nil {
		return err
	}
	return w.writeEntry(p, typeRegular|permBits(mode), 1, 0, 0, f, st.Size())
}

// AddSymlink adds a symbolic link at name pointing to target.
func (w *Writer) AddSymlink(name, target string) error {
	if target == "" {
		return w.fail(fmt.Errorf("add symlink %s: empty target", name))
	}
	p, err := w.prepare(name, false)
	if err != nil {
		return err
	}
	return w.writeEntry(p, typeSymlink|0o777, 1, 0, 0, strings.NewReader(target), int64(len(target)))
}

// AddCharDevice adds a character device node with the given major and
// minor numbers.
func (w *Writer) AddCharDevice(name string, mode fs.FileMode, major, minor uint32) error {
	p, err := w.prepare(name, false)
	if err != nil {
		return err
	}
	return w.writeEntry(p, typeCharDev|permBits(mode), 1, major, minor, nil, 0)
}

// Close writes the TRAILER!!! entry and flushes buffered data. It does not
// close the underlying writer. Calling Close twice returns the first result.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if err := w.writeHeader(trailerName, 0, 0, 1, 0, 0, 0); err != nil {
		return err
	}
	if err := w.bw.Flush(); err != nil {
		return w.fail(fmt.Errorf("flush initramfs: %w", err))
	}
	return nil
}

func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// prepare validates name, creates missing parents, and records the entry.
// It returns "" (and no error) when isDir is set and the directory exists.
func (w *Writer) prepare(name string, isDir bool) (string, error) {
	if w.err != nil {
		return "", w.err
	}
	if w.closed {
		return "", w.fail(errors.New("add initramfs entry: writer is closed"))
	}
	p, err := CleanPath(name)
	if err != nil {
		return "", w.fail(err)
	}
	if t, ok := w.entries[p]; ok {
		if isDir && t == typeDir {
			return "", nil
		}
		return "", w.fail(fmt.Errorf("add initramfs entry %q: path already exists in the archive", p))
	}
	// Create parents, outermost first.
	if dir := path.Dir(p); dir != "." {
		parts := strings.Split(dir, "/")
		for i := range parts {
			parent := strings.Join(parts[:i+1], "/")
			t, ok := w.entries[parent]
			if ok && t != typeDir {
				return "", w.fail(fmt.Errorf("add initramfs entry %q: parent %q is not a directory", p, parent))
			}
			if !ok {
				w.entries[parent] = typeDir
				if err := w.writeEntry(parent, typeDir|permBits(dirMode), 2, 0, 0, nil, 0); err != nil {
					return "", err
				}
			}
		}
	}
	return p, nil
}

// CleanPath turns name into the canonical archive path: no leading "/",
// no "." or ".." components, no trailing slash. It rejects names that
// would escape the root, are empty, or contain NUL.
func CleanPath(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("initramfs path %q: contains a NUL byte", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("initramfs path %q: \"..\" is not allowed", name)
		}
	}
	p := strings.TrimLeft(path.Clean("/"+name), "/")
	if p == "" {
		return "", fmt.Errorf("initramfs path %q: names the root; give a file or directory below it", name)
	}
	if len(p)+1 > maxNameLen {
		return "", fmt.Errorf("initramfs path %.40q...: longer than %d bytes", p, maxNameLen-1)
	}
	if p == trailerName {
		return "", fmt.Errorf("initramfs path %q: reserved for the archive trailer", name)
	}
	return p, nil
}

// writeEntry writes one header plus size bytes of data from r (nil when
// size is 0) and records the entry's type.
func (w *Writer) writeEntry(name string, mode, nlink, rmajor, rminor uint32, r io.Reader, size int64) error {
	if size > maxFileSize {
		return w.fail(fmt.Errorf("add initramfs entry %q: %d bytes exceeds the newc limit of 4 GiB", name, size))
	}
	w.entries[name] = mode & typeMask
	if err := w.writeHeader(name, mode, uint32(size), nlink, rmajor, rminor, w.nextIno); err != nil {
		return err
	}
	w.nextIno++
	if size == 0 {
		return nil
	}
	n, err := io.CopyN(w.bw, r, size)
	if err != nil {
		if errors.Is(err, io.EOF) {
			// The source shrank between Stat and read: the header already
			// promised size bytes, so the archive cannot be completed.
			return w.fail(fmt.Errorf("write initramfs entry %q: source ended after %d of %d bytes (file changed while being archived)", name, n, size))
		}
		return w.fail(fmt.Errorf("write initramfs entry %q: %w", name, err))
	}
	return w.writePad(size)
}

func (w *Writer) writeHeader(name string, mode, size, nlink, rmajor, rminor, ino uint32) error {
	// mtime is always 0 so that identical inputs give byte-identical archives.
	hdr := fmt.Sprintf("%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		magic, ino, mode, 0, 0, nlink, 0, size, 0, 0, rmajor, rminor, len(name)+1, 0)
	if _, err := w.bw.WriteString(hdr); err != nil {
		return w.fail(fmt.Errorf("write initramfs header %q: %w", name, err))
	}
	if _, err := w.bw.WriteString(name); err != nil {
		return w.fail(fmt.Errorf("write initramfs header %q: %w", name, err))
	}
	if err := w.bw.WriteByte(0); err != nil {
		return w.fail(fmt.Errorf("write initramfs header %q: %w", name, err))
	}
	return w.writePad(int64(headerLen + len(name) + 1))
}

var zeros [4]byte

func (w *Writer) writePad(n int64) error {
	if p := pad4(n); p > 0 {
		if _, err := w.bw.Write(zeros[:p]); err != nil {
			return w.fail(fmt.Errorf("write initramfs padding: %w", err))
		}
	}
	return nil
}
