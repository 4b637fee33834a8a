package skipreport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A symlink planted as a run's skips/ directory must not receive the
// sidecar: it would be written wherever the link points.
func TestWriteSkipRefusesSymlinkedSkipsDir(t *testing.T) {
	run := t.TempDir()
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(run, "skips")); err != nil {
		t.Fatal(err)
	}
	_, err := WriteSkip(run, SkipRecord{Category: NoKernel, Reason: "r"})
	if err == nil || !strings.Contains(err.Error(), "symbolic link, not a directory") {
		t.Fatalf("WriteSkip through a symlinked skips/: %v", err)
	}
	if des, _ := os.ReadDir(elsewhere); len(des) != 0 {
		t.Errorf("sidecar written through the symlink: %v", des)
	}
	// A missing skips/ is still created.
	run2 := t.TempDir()
	if p, err := WriteSkip(run2, SkipRecord{Category: NoKernel, Reason: "r"}); err != nil || filepath.Dir(p) != filepath.Join(run2, "skips") {
		t.Errorf("WriteSkip with no skips/ yet: %q, %v", p, err)
	}
}

// CreateRunDir makes a new directory: it never adopts one that exists.
func TestCreateRunDirMakesNewDirectories(t *testing.T) {
	base := t.TempDir()
	d, err := CreateRunDir(base, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{d.Path, filepath.Join(d.Path, "skips")} {
		st, err := os.Lstat(p)
		if err != nil || !st.IsDir() {
			t.Errorf("%s: %v, %v", p, st, err)
		}
	}
}
