package vmm

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ktest-dev/ktest/internal/vmproto"
)

// The guest's files land inside the writable directories only: a path
// outside, an escape through a symlink, a FIFO or a piece out of order is
// refused and reported, and an existing file keeps its mode.
func TestWriteBack(t *testing.T) {
	w1, outside := t.TempDir(), t.TempDir()
	os.Symlink(outside, filepath.Join(w1, "escape"))
	syscall.Mkfifo(filepath.Join(w1, "fifo"), 0o644)
	os.WriteFile(filepath.Join(w1, "kept"), []byte("old content"), 0o600)
	wb := newWriteBack([]vmproto.Bind{{Path: w1, Writable: true}, {Path: outside}})
	for _, f := range []vmproto.File{
		{Path: filepath.Join(w1, "a", "b", "new"), Mode: 0o640, Data: []byte("one ")},
		{Path: filepath.Join(w1, "a", "b", "new"), Offset: 4, Data: []byte("two")},
		{Path: filepath.Join(w1, "kept"), Mode: 0o777, Data: []byte("new")},
		{Path: filepath.Join(outside, "x"), Mode: 0o644, Data: []byte("no")},
		{Path: filepath.Join(w1, "escape", "y"), Mode: 0o644, Data: []byte("no")},
		{Path: filepath.Join(w1, "fifo"), Mode: 0o644, Data: []byte("no")},
		{Path: filepath.Join(w1, "gap"), Mode: 0o644, Data: []byte("a")},
		{Path: filepath.Join(w1, "gap"), Offset: 9, Data: []byte("b")},
	} {
		wb.piece(&f)
	}
	err := wb.close()
	if got, _ := os.ReadFile(filepath.Join(w1, "a", "b", "new")); string(got) != "one two" {
		t.Errorf("new file: %q, want both pieces", got)
	}
	if st, _ := os.Stat(filepath.Join(w1, "a", "b", "new")); st == nil || st.Mode().Perm() != 0o640 {
		t.Errorf("new file's mode: %v, want 0640", st)
	}
	if got, _ := os.ReadFile(filepath.Join(w1, "kept")); string(got) != "new" {
		t.Errorf("existing file: %q, want the guest's content", got)
	}
	if st, _ := os.Stat(filepath.Join(w1, "kept")); st == nil || st.Mode().Perm() != 0o600 {
		t.Errorf("existing file's mode changed: %v", st)
	}
	for _, p := range []string{filepath.Join(outside, "x"), filepath.Join(outside, "y")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was written outside the writable directory", p)
		}
	}
	if st, _ := os.Lstat(filepath.Join(w1, "fifo")); st == nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v", st)
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	for _, want := range []string{"/x: not inside a writable directory", "escape/y", "fifo", "gap: a piece at offset 9 out of order"} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors lack %q:\n%s", want, msg)
		}
	}
}
