package regularfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestOpenRegular(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, st, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil || string(b) != "data" || st.Size() != 4 {
		t.Errorf("read %q, %v, size %d", b, err, st.Size())
	}
}

// A FIFO, a directory and a device are refused at once; the FIFO open must
// not block (with a plain open it waits for a writer forever).
func TestOpenRefusesNonRegularWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for path, kind := range map[string]string{fifo: "named pipe", dir: "directory", "/dev/null": "character device"} {
		done := make(chan error, 1)
		go func() {
			f, _, err := Open(path)
			if err == nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			var nr *NotRegularError
			if !errors.As(err, &nr) || nr.Path != path || nr.Error() != path+" is a "+kind+", not a regular file" {
				t.Errorf("Open(%s) = %v, want *NotRegularError naming a %s", path, err, kind)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("Open(%s) hung", path)
		}
	}
	if _, _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
