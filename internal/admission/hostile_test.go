package admission

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func wantUnsafe(t *testing.T, err error, path string) {
	t.Helper()
	var ue *UnsafeFileError
	if !errors.As(err, &ue) || ue.Path != path {
		t.Fatalf("err = %v, want *UnsafeFileError for %s", err, path)
	}
}

// A directory created by admission is mode 1777 whatever the umask.
func TestDirMode(t *testing.T) {
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	dir := filepath.Join(t.TempDir(), "a", "adm")
	s, err := oneCPU(dir).Acquire(t.Context(), small, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for path, want := range map[string]os.FileMode{dir: os.ModeDir | os.ModeSticky | 0o777, s.Path(): 0o666, filepath.Join(dir, ledgerName): 0o666} {
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}
}

// The directory as a symlink is refused, and nothing is created where it
// points.
func TestDirSymlink(t *testing.T) {
	tmp := t.TempDir()
	target := filepath.Join(tmp, "elsewhere")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(tmp, "adm")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	_, err := oneCPU(link).Acquire(t.Context(), small, 0)
	wantUnsafe(t, err, link)
	if entries, _ := os.ReadDir(target); len(entries) != 0 {
		t.Errorf("the symlink's target got %v", entries)
	}
	fi, _ := os.Stat(target)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("the symlink's target was chmod-ed to %v", fi.Mode())
	}

	file := filepath.Join(tmp, "file")
	os.WriteFile(file, nil, 0o600)
	_, err = oneCPU(file).Acquire(t.Context(), small, 0)
	wantUnsafe(t, err, file)
}

// A directory others may write without the sticky bit is refused: anyone
// could swap the slots in it.
func TestDirNotSticky(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "adm")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := oneCPU(dir).Acquire(t.Context(), small, 0)
	wantUnsafe(t, err, dir)
}

// A symlink or FIFO planted as a slot is skipped: never followed, never
// opened, never blocking; admission uses the next slot. A symlink planted
// as the ledger is refused.
func TestPlantedSlots(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "adm")
	s, err := oneCPU(dir).Acquire(t.Context(), small, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	victim := filepath.Join(tmp, "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "slot.0"))
	if err := os.Symlink(victim, filepath.Join(dir, "slot.0")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "slot.1"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(tmp, "dangling"), filepath.Join(dir, "slot.2")); err != nil {
		t.Fatal(err)
	}
	s, err = oneCPU(dir).Acquire(t.Context(), small, 0)
	if err != nil {
		t.Fatalf("Acquire with planted slots: %v", err)
	}
	if want := filepath.Join(dir, "slot.3"); s.Path() != want {
		t.Errorf("slot %s, want %s (the first usable)", s.Path(), want)
	}
	s.Close()
	if data, _ := os.ReadFile(victim); string(data) != "precious\n" {
		t.Errorf("the symlinked victim now holds %q", data)
	}
	if fi, _ := os.Stat(victim); fi.Mode().Perm() != 0o600 {
		t.Errorf("the symlinked victim was chmod-ed to %v", fi.Mode())
	}
	if _, err := os.Lstat(filepath.Join(tmp, "dangling")); !os.IsNotExist(err) {
		t.Errorf("a file was created through the dangling symlink: %v", err)
	}

	ledger := filepath.Join(dir, ledgerName)
	os.Remove(ledger)
	if err := os.Symlink(victim, ledger); err != nil {
		t.Fatal(err)
	}
	_, err = oneCPU(dir).Acquire(t.Context(), small, 0)
	wantUnsafe(t, err, ledger)
}
