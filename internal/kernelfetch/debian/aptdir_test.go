package debian

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The private apt directory may sit in a cache directory others can write
// (an XDG_CACHE_HOME under /tmp): a planted symlink, a directory of another
// user's or one writable by others is refused, and nothing is followed,
// chmod-ed or written there.
func TestPrivateDirsRefuseWhatKtestDidNotMake(t *testing.T) {
	base := t.TempDir()
	if err := ensurePrivateDirs(base, "ktest/apt/lists"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"ktest", "ktest/apt", "ktest/apt/lists"} {
		st, err := os.Lstat(filepath.Join(base, d))
		if err != nil || !st.IsDir() || st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: %v, %v; want a 0700 directory", d, st.Mode(), err)
		}
	}

	victim := t.TempDir()
	planted := t.TempDir()
	os.Symlink(victim, filepath.Join(planted, "ktest"))
	err := ensurePrivateDirs(planted, "ktest/apt")
	if err == nil || !strings.Contains(err.Error(), "is a symlink") {
		t.Errorf("symlinked ktest dir: %v", err)
	}
	if des, _ := os.ReadDir(victim); len(des) != 0 {
		t.Errorf("wrote through the symlink: %v", des)
	}

	open := t.TempDir()
	os.Mkdir(filepath.Join(open, "ktest"), 0o777)
	os.Chmod(filepath.Join(open, "ktest"), 0o777)
	err = ensurePrivateDirs(open, "ktest/apt")
	if err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("world-writable dir: %v", err)
	}
	if st, _ := os.Stat(filepath.Join(open, "ktest")); st.Mode().Perm() != 0o777 {
		t.Errorf("mode changed to %v: ktest must not chmod what it did not make", st.Mode().Perm())
	}

	file := t.TempDir()
	os.WriteFile(filepath.Join(file, "ktest"), nil, 0o600)
	if err := ensurePrivateDirs(file, "ktest/apt"); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file in the way: %v", err)
	}

	if os.Geteuid() == 0 {
		other := t.TempDir()
		os.Mkdir(filepath.Join(other, "ktest"), 0o700)
		os.Chown(filepath.Join(other, "ktest"), 65534, 65534)
		if err := ensurePrivateDirs(other, "ktest/apt"); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
			t.Errorf("another user's dir: %v", err)
		}
	}
}

func TestReadPrivateFileRefusesSymlinksAndFIFOs(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("secret"), 0o600)
	os.Symlink(target, filepath.Join(dir, "link"))
	if _, err := readPrivateFile(filepath.Join(dir, "link")); err == nil {
		t.Error("read through a symlink")
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readPrivateFile(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("FIFO: %v (and it must not block)", err)
	}
}
