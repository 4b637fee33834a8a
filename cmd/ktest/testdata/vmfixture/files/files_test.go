package files

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestTestdata(t *testing.T) {
	lines, err := Lines(filepath.Join("testdata", "greeting.txt"))
	if err != nil {
		wd, _ := os.Getwd()
		t.Fatalf("in %s: %v", wd, err)
	}
	if want := []string{"hello from the host", "read in the guest"}; !slices.Equal(lines, want) {
		t.Fatalf("testdata/greeting.txt has lines %q, want %q", lines, want)
	}
	if got := Longest(lines); got != "hello from the host" {
		t.Fatalf("Longest = %q", got)
	}
	// How the tree reached the test: virtiofs is FUSE; the initramfs
	// transport is a ramfs or tmpfs.
	var fs unix.Statfs_t
	if err := unix.Statfs(".", &fs); err != nil {
		t.Fatalf("statfs the package directory: %v", err)
	}
	t.Logf("vmfixture: package directory on filesystem magic %#x", fs.Type)
}

// TestWritable checks the writable places a guest must offer the test:
// its temp dir (t.TempDir, under $TMPDIR or /tmp) and the package
// directory must not be needed for writing.
func TestWritable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	if err := os.WriteFile(path, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, err := Lines(path)
	if err != nil || !slices.Equal(lines, []string{"x"}) {
		t.Fatalf("Lines of a file just written: %q, %v", lines, err)
	}
}
