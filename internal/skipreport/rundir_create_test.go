package skipreport

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

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
