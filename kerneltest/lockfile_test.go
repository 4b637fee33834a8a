package kerneltest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	childRoles["trylock"] = func(t *testing.T) {
		lock, err := TryLockFile(os.Getenv("KERNELTEST_LOCKFILE"))
		SkipOnContention(t, err)
		defer lock.Unlock()
		t.Log("got the lock")
	}
}

// Two TryLockFile calls on one file contend (flock locks belong to open
// file descriptions); after Unlock the next one gets it. A new lockfile is
// mode 0666 whatever the umask.
func TestTryLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resource.lock")
	old := syscall.Umask(0o022)
	first, err := TryLockFile(path)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o666 {
		t.Errorf("new lockfile: %v, %v; want mode 0666", st.Mode(), err)
	}
	second, err := TryLockFile(path)
	var ce *ContentionError
	if !errors.As(err, &ce) || ce.Errno != "EWOULDBLOCK" || !errors.Is(err, unix.EWOULDBLOCK) ||
		!strings.Contains(err.Error(), "lockfile "+path+" is held by another process or open file") {
		t.Fatalf("second TryLockFile: %v, %v; want a *ContentionError with EWOULDBLOCK", second, err)
	}
	if site, ok := contentionSite(err); !ok || site.errno != "EWOULDBLOCK" {
		t.Errorf("the busy lock is not contention for SkipOnContention: %+v", site)
	}
	if err := first.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := first.Unlock(); err != nil {
		t.Errorf("second Unlock: %v", err)
	}
	third, err := TryLockFile(path)
	if err != nil {
		t.Fatalf("TryLockFile after Unlock: %v", err)
	}
	if third.Path() != path {
		t.Errorf("Path() = %q", third.Path())
	}
	third.Unlock()
}

// A lock held by this process makes another process's TryLockFile skip
// its test as contention, banner and all.
func TestTryLockFileAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resource.lock")
	held, err := TryLockFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res := runChild(t, "trylock", "KERNELTEST_LOCKFILE="+path)
	if res.verdict() != "SKIP" || !strings.Contains(res.output, "ktest: SKIP: contention: lockfile "+path+" is held by another process or open file: resource temporarily unavailable; host: ") {
		t.Errorf("child with the lock held here: want a contention SKIP; output:\n%s", res.output)
	}
	held.Unlock()
	if res := runChild(t, "trylock", "KERNELTEST_LOCKFILE="+path); res.verdict() != "PASS" || !strings.Contains(res.output, "got the lock") {
		t.Errorf("child after Unlock: want PASS; output:\n%s", res.output)
	}
}

// What others can plant under the name in a shared directory is refused:
// never followed, never opened for I/O (a FIFO would block), never
// chmodded.
func TestTryLockFileRefusesPlantedFiles(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("private"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.lock")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.lock")
	if err := unix.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir.lock")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{link: "symbolic link", fifo: "named pipe", sub: "directory"} {
		done := make(chan error, 1)
		go func() {
			_, err := TryLockFile(path)
			done <- err
		}()
		select {
		case err := <-done:
			var ce *ContentionError
			if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), "refuse lockfile "+path+": it is a "+want+", not a regular file") {
				t.Errorf("TryLockFile(%s): %v; want a refusal naming the %s", path, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("TryLockFile(%s) blocked", path)
		}
	}
	if st, _ := os.Stat(victim); st.Mode().Perm() != 0o600 {
		t.Errorf("the symlink's target was chmodded to %v", st.Mode().Perm())
	}
}

// A lockfile another user made read-only for us is still shared: flock
// works on a read-only descriptor. And a lockfile that exists keeps its
// mode: only a file TryLockFile created is widened.
func TestTryLockFileExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resource.lock")
	if err := os.WriteFile(path, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	lock, err := TryLockFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o444 {
		t.Errorf("an existing lockfile was chmodded to %v", st.Mode().Perm())
	}
}
