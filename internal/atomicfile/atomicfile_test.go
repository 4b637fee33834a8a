package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.json")
	if err := WriteFile(path, []byte("one"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("two"), 0o640); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	st, _ := os.Stat(path)
	if string(b) != "two" || st.Mode().Perm() != 0o640 {
		t.Errorf("content %q mode %v", b, st.Mode().Perm())
	}
	if des, _ := os.ReadDir(dir); len(des) != 1 {
		t.Errorf("leftovers: %v", des)
	}
}

// A symlink at path is replaced, never followed: its target (another
// file of the user's) keeps its content and mode.
func TestWriteFileReplacesSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("private"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "run.json")
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(victim)
	st, _ := os.Stat(victim)
	if string(b) != "private" || st.Mode().Perm() != 0o600 {
		t.Errorf("symlink target changed: %q %v", b, st.Mode().Perm())
	}
	if li, _ := os.Lstat(path); li.Mode()&os.ModeSymlink != 0 {
		t.Error("path is still the symlink")
	}
}

// A failed write leaves no temp file behind.
func TestWriteFileFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "busy")
	if err := os.MkdirAll(filepath.Join(path, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(path, []byte("x"), 0o644)
	if err == nil || !strings.Contains(err.Error(), "rename") {
		t.Fatalf("WriteFile over a non-empty directory: %v", err)
	}
	des, _ := os.ReadDir(dir)
	if len(des) != 1 || des[0].Name() != "busy" {
		t.Errorf("leftovers: %v", des)
	}
}
