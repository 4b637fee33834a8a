package initramfs

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

type entry struct {
	hdr  Header
	data string
}

// readAll parses a whole archive, failing the test on any error.
func readAll(t *testing.T, archive []byte) []entry {
	t.Helper()
	r := NewReader(bytes.NewReader(archive))
	var out []entry
	for {
		h, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next after %d entries: %v", len(out), err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("read data of %s: %v", h.Name, err)
		}
		out = append(out, entry{*h, string(data)})
	}
}

func buildSample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.AddBaseLayout())
	must(w.AddFile("/init", 0o755, []byte("#!/bin/true\n")))
	must(w.AddFile("a/b/c.txt", 0o644, []byte("abc"))) // parents a, a/b implied
	must(w.AddSymlink("bin/sh", "/init"))
	must(w.AddDir("a", 0o700)) // exists already: no-op
	must(w.AddFile("empty", 0o600, nil))
	must(w.Close())
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	archive := buildSample(t)
	got := readAll(t, archive)
	type want struct {
		name  string
		mode  fs.FileMode
		data  string
		rdev  [2]uint32
		nlink uint32
	}
	wants := []want{
		{"dev", fs.ModeDir | 0o755, "", [2]uint32{}, 2},
		{"proc", fs.ModeDir | 0o755, "", [2]uint32{}, 2},
		{"sys", fs.ModeDir | 0o755, "", [2]uint32{}, 2},
		{"tmp", fs.ModeDir | fs.ModeSticky | 0o777, "", [2]uint32{}, 2},
		{"dev/console", fs.ModeDevice | fs.ModeCharDevice | 0o600, "", [2]uint32{5, 1}, 1},
		{"init", 0o755, "#!/bin/true\n", [2]uint32{}, 1},
		{"a", fs.ModeDir | 0o755, "", [2]uint32{}, 2},
		{"a/b", fs.ModeDir | 0o755, "", [2]uint32{}, 2},
		{"a/b/c.txt", 0o644, "abc", [2]uint32{}, 1},
		{"bin", fs.ModeDir | 0o755, "", [2]uint32{}, 2},
		{"bin/sh", fs.ModeSymlink | 0o777, "/init", [2]uint32{}, 1},
		{"empty", 0o600, "", [2]uint32{}, 1},
	}
	if len(got) != len(wants) {
		for _, e := range got {
			t.Logf("got entry %q %v", e.hdr.Name, e.hdr.FileMode())
		}
		t.Fatalf("got %d entries, want %d", len(got), len(wants))
	}
	inodes := map[uint32]bool{}
	for i, w := range wants {
		g := got[i]
		if g.hdr.Name != w.name || g.hdr.FileMode() != w.mode || g.data != w.data ||
			g.hdr.RDevMajor != w.rdev[0] || g.hdr.RDevMinor != w.rdev[1] || g.hdr.NLink != w.nlink {
			t.Errorf("entry %d = %q %v %q rdev %d:%d nlink %d; want %q %v %q rdev %d:%d nlink %d",
				i, g.hdr.Name, g.hdr.FileMode(), g.data, g.hdr.RDevMajor, g.hdr.RDevMinor, g.hdr.NLink,
				w.name, w.mode, w.data, w.rdev[0], w.rdev[1], w.nlink)
		}
		if inodes[g.hdr.Inode] {
			t.Errorf("entry %q reuses inode %d", g.hdr.Name, g.hdr.Inode)
		}
		inodes[g.hdr.Inode] = true
	}
}

// TestLayoutAlignment checks the byte layout the kernel depends on: every
// header starts on a 4-byte boundary and the archive ends with the trailer.
func TestLayoutAlignment(t *testing.T) {
	archive := buildSample(t)
	if len(archive)%4 != 0 {
		t.Errorf("archive length %d is not a multiple of 4", len(archive))
	}
	for i := 0; ; {
		idx := bytes.Index(archive[i:], []byte(magic))
		if idx < 0 {
			break
		}
		i += idx
		if i%4 != 0 {
			t.Fatalf("header at offset %d is not 4-byte aligned", i)
		}
		if strings.HasPrefix(string(archive[i+headerLen:]), trailerName+"\x00") {
			end := i + headerLen + len(trailerName) + 1
			end += int(pad4(int64(end)))
			if end != len(archive) {
				t.Errorf("trailer ends at %d, archive is %d bytes", end, len(archive))
			}
			return
		}
		i += headerLen
	}
	t.Fatal("no trailer found")
}

func TestGolden(t *testing.T) {
	archive := buildSample(t)
	golden := filepath.Join("testdata", "sample.cpio")
	if *update {
		if err := os.WriteFile(golden, archive, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(archive, want) {
		t.Errorf("archive differs from %s (%d vs %d bytes); if the change is intended run go test -update", golden, len(archive), len(want))
	}
}

func TestAddFileFromStreams(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "payload")
	payload := bytes.Repeat([]byte("0123456789abcdef"), 70001) // not a multiple of the buffer size
	payload = append(payload, 'x')                             // odd length exercises padding
	if err := os.WriteFile(src, payload, 0o751); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.AddFileFrom("bin/payload", 0, src); err != nil {
		t.Fatal(err)
	}
	if err := w.AddFileFrom("bin/payload2", 0o700, src); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, buf.Bytes())
	if len(got) != 3 {
		t.Fatalf("got %d entries, want 3 (bin, bin/payload, bin/payload2)", len(got))
	}
	if got[1].data != string(payload) || got[1].hdr.FileMode() != 0o751 {
		t.Errorf("payload: %d bytes mode %v, want %d bytes mode 0751", len(got[1].data), got[1].hdr.FileMode(), len(payload))
	}
	if got[2].hdr.FileMode() != 0o700 {
		t.Errorf("payload2 mode %v, want explicit 0700", got[2].hdr.FileMode())
	}
}

func TestWriterErrors(t *testing.T) {
	cases := []struct {
		name string
		do   func(w *Writer) error
		want string
	}{
		{"dotdot", func(w *Writer) error { return w.AddFile("../etc/passwd", 0o644, nil) }, `".." is not allowed`},
		{"root", func(w *Writer) error { return w.AddDir("/", 0o755) }, "names the root"},
		{"nul", func(w *Writer) error { return w.AddFile("a\x00b", 0o644, nil) }, "NUL"},
		{"trailer", func(w *Writer) error { return w.AddFile("TRAILER!!!", 0o644, nil) }, "reserved"},
		{"duplicate", func(w *Writer) error {
			_ = w.AddFile("x", 0o644, nil)
			return w.AddFile("/x", 0o644, nil)
		}, "already exists"},
		{"file as parent", func(w *Writer) error {
			_ = w.AddFile("x", 0o644, nil)
			return w.AddFile("x/y", 0o644, nil)
		}, `parent "x" is not a directory`},
		{"missing source", func(w *Writer) error { return w.AddFileFrom("x", 0, "/nonexistent/ktest") }, "open initramfs source"},
		{"dir source", func(w *Writer) error { return w.AddFileFrom("x", 0, os.TempDir()) }, "not a regular file"},
		{"empty symlink", func(w *Writer) error { return w.AddSymlink("x", "") }, "empty target"},
		{"after close", func(w *Writer) error {
			_ = w.Close()
			return w.AddDir("d", 0o755)
		}, "writer is closed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := NewWriter(io.Discard)
			err := c.do(w)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			// Errors are sticky.
			if err2 := w.AddDir("later", 0o755); err2 == nil {
				t.Errorf("AddDir after an error succeeded; want the sticky error")
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrorSurfaces(t *testing.T) {
	w := NewWriter(failingWriter{})
	_ = w.AddFile("x", 0o644, []byte("data"))
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Close = %v, want the underlying write error", err)
	}
}

func TestReaderRejects(t *testing.T) {
	good := buildSample(t)
	cases := map[string][]byte{
		"empty":        nil,
		"bad magic":    append([]byte("070702"), good[6:]...),
		"not hex":      append(append([]byte{}, good[:6]...), append([]byte("zzzzzzzz"), good[14:]...)...),
		"truncated":    good[:len(good)-40],
		"no trailer":   good[:bytes.LastIndex(good, []byte(magic))],
		"short data":   good[:bytes.Index(good, []byte("#!/bin"))+3],
		"gzip instead": {0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0},
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(data))
			for {
				_, err := r.Next()
				if err == io.EOF {
					t.Fatal("archive accepted, want an error")
				}
				if err != nil {
					t.Logf("error: %v", err)
					return
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					t.Logf("error: %v", err)
					return
				}
			}
		})
	}
}

// FuzzReader feeds arbitrary bytes to the Reader: it must never panic or
// loop, and whatever it accepts must survive a rewrite through the Writer.
func FuzzReader(f *testing.F) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	_ = w.AddBaseLayout()
	_ = w.AddFile("init", 0o755, []byte("hello"))
	_ = w.AddSymlink("sh", "init")
	_ = w.Close()
	f.Add(buf.Bytes())
	f.Add([]byte(magic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for i := 0; ; i++ {
			h, err := r.Next()
			if err != nil {
				return
			}
			if h.Name == "" || strings.IndexByte(h.Name, 0) >= 0 {
				t.Fatalf("accepted invalid name %q", h.Name)
			}
			n, err := io.Copy(io.Discard, r)
			if err != nil {
				return
			}
			if n != int64(h.Size) {
				t.Fatalf("entry %q: read %d bytes, header says %d", h.Name, n, h.Size)
			}
			if i > len(data) {
				t.Fatal("more entries than input bytes: reader is not advancing")
			}
		}
	})
}
