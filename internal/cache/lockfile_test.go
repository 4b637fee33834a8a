package cache

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/hint"
)

// plantedCache returns a cache root with an existing .locks directory.
func plantedCache(t *testing.T) (root, locks string) {
	t.Helper()
	root = t.TempDir()
	locks = filepath.Join(root, locksDirName)
	if err := os.Mkdir(locks, 0o755); err != nil {
		t.Fatal(err)
	}
	return root, locks
}

func wantUnsafe(t *testing.T, err error, path, what string) {
	t.Helper()
	var ue *UnsafeLockfileError
	if !errors.As(err, &ue) {
		t.Fatalf("got %v (%T), want *UnsafeLockfileError", err, err)
	}
	if ue.Path != path || !strings.Contains(err.Error(), what) || !strings.Contains(err.Error(), "remove it (rm -r "+path+")") {
		t.Errorf("message %q should name %s, say %q and how to remove it", err, path, what)
	}
}

// A lockfile that is a symlink to a file of ours is refused, and that
// file keeps its mode: before, the open followed the link and fchmod made
// the target 0666.
func TestLockRefusesSymlinkedLockfile(t *testing.T) {
	root, locks := plantedCache(t)
	victim := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(victim, []byte("private"), 0o600); err != nil {
		t.Fatal(err)
	}
	lockPath := filepath.Join(locks, "k.lock")
	if err := os.Symlink(victim, lockPath); err != nil {
		t.Fatal(err)
	}
	c := &Cache{Root: root}
	for _, mode := range []LockMode{Shared, Exclusive} {
		_, err := c.LockEntry(t.Context(), "k", mode, time.Second)
		wantUnsafe(t, err, lockPath, "is a symbolic link to \""+victim+"\"")
	}
	st, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("the symlink's target is now mode %v, want 0600 unchanged", st.Mode().Perm())
	}
}

// A dangling symlink must not create its target: O_CREAT follows it.
func TestLockRefusesDanglingSymlink(t *testing.T) {
	root, locks := plantedCache(t)
	target := filepath.Join(t.TempDir(), "created-through-the-link")
	lockPath := filepath.Join(locks, "k.lock")
	if err := os.Symlink(target, lockPath); err != nil {
		t.Fatal(err)
	}
	_, err := (&Cache{Root: root}).LockEntry(t.Context(), "k", Shared, 0)
	wantUnsafe(t, err, lockPath, "symbolic link")
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dangling symlink's target exists now (%v): a file was created through it", err)
	}
}

// A symlinked .locks would move every lockfile elsewhere.
func TestLockRefusesSymlinkedLocksDir(t *testing.T) {
	root := t.TempDir()
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(root, locksDirName)); err != nil {
		t.Fatal(err)
	}
	_, err := (&Cache{Root: root}).LockEntry(t.Context(), "k", Exclusive, time.Second)
	wantUnsafe(t, err, filepath.Join(root, locksDirName), "is a symbolic link to")
	if des, _ := os.ReadDir(elsewhere); len(des) != 0 {
		t.Errorf("files were created through the symlinked .locks: %v", des)
	}
	// Locks (ktest locks) refuses it too, with the same advice.
	_, err = (&Cache{Root: root}).Locks()
	wantUnsafe(t, err, filepath.Join(root, locksDirName), "is a symbolic link to")
}

// A FIFO (or any non-regular file) under a lockfile's name is refused at
// once: it must neither hang the open nor be locked.
func TestLockRefusesNonRegularLockfile(t *testing.T) {
	root, locks := plantedCache(t)
	fifo := filepath.Join(locks, "fifo.lock")
	if err := unix.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(locks, "dir.lock"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := &Cache{Root: root}
	for key, what := range map[string]string{"fifo": "is a named pipe, not a regular file", "dir": "is a directory, not a regular file"} {
		done := make(chan error, 1)
		go func() {
			_, err := c.LockEntry(t.Context(), key, Shared, time.Second)
			done <- err
		}()
		select {
		case err := <-done:
			wantUnsafe(t, err, c.LockPath(key), what)
		case <-time.After(30 * time.Second):
			t.Fatalf("LockEntry(%s) hung", key)
		}
	}
}

// A file of ours hard-linked into .locks is locked (that harms nobody) but
// its mode is not touched: only a file with one link, or one this process
// created, is fchmod'ed.
func TestLockDoesNotChmodHardLinkedFile(t *testing.T) {
	root, locks := plantedCache(t)
	mine := filepath.Join(root, "mine") // same filesystem, so it can be linked
	if err := os.WriteFile(mine, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(mine, filepath.Join(locks, "k.lock")); err != nil {
		t.Fatal(err)
	}
	l, err := (&Cache{Root: root}).LockEntry(t.Context(), "k", Shared, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	if st, _ := os.Stat(mine); st.Mode().Perm() != 0o600 {
		t.Errorf("hard-linked file is mode %v now, want 0600 unchanged", st.Mode().Perm())
	}
}

// Another user's lockfile is theirs: ktest opens it (read-only if need be)
// and never chmods it. Root only: it needs a file owned by someone else.
func TestLockDoesNotChmodForeignLockfile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a file owned by another user")
	}
	root, locks := plantedCache(t)
	path := filepath.Join(locks, "k.lock")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	l, err := (&Cache{Root: root}).LockEntry(t.Context(), "k", Exclusive, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("foreign lockfile is mode %v now, want 0644 unchanged", st.Mode().Perm())
	}
}

// A lockfile that cannot be created (a read-only shared cache) says what
// to do.
func TestLockCreateDeniedHasHint(t *testing.T) {
	root, locks := plantedCache(t)
	roBindMount(t, locks)
	_, err := (&Cache{Root: root}).LockEntry(t.Context(), "k", Shared, 0)
	if err == nil || !strings.Contains(err.Error(), "open lockfile "+filepath.Join(locks, "k.lock")) {
		t.Fatalf("got %v, want the open lockfile error", err)
	}
	hs := hint.Of(err)
	if len(hs) == 0 || !strings.Contains(hs[0], "KTSTR_CACHE_DIR") || !strings.Contains(hs[0], "owner") {
		t.Errorf("hints %q: want KTSTR_CACHE_DIR to a writable copy, or asking the owner", hs)
	}
}

// ktest locks flags another user's lockfile that others cannot open for
// writing, and a hard-linked one. Root only (chown).
func TestLocksFlagsForeignModeAndHardLinks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a file owned by another user")
	}
	root, locks := plantedCache(t)
	foreign := filepath.Join(locks, "f.lock")
	if err := os.WriteFile(foreign, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(foreign, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(foreign, filepath.Join(locks, "h.lock")); err != nil {
		t.Fatal(err)
	}
	ls, err := (&Cache{Root: root}).Locks()
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 {
		t.Fatalf("locks %+v", ls)
	}
	for _, li := range ls {
		p := strings.Join(li.Problems, "; ")
		if !strings.Contains(p, "owned by uid 65534 with mode 0644, not 0666") || !strings.Contains(p, "has 2 hard links") {
			t.Errorf("%s: problems %q", li.Name, li.Problems)
		}
		if li.OwnerUID != 65534 || li.Links != 2 || li.Mode != "0644" {
			t.Errorf("%s: %+v", li.Name, li)
		}
	}
}
