package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func lockPathIn(t *testing.T) string {
	return filepath.Join(t.TempDir(), ".locks", "k.lock")
}

func holderPIDs(hs []Holder) []int {
	var pids []int
	for _, h := range hs {
		pids = append(pids, h.PID)
	}
	return pids
}

func TestLockSharedShared(t *testing.T) {
	path := lockPathIn(t)
	holder := startHolder(t, path, Shared)
	l, err := AcquireLock(t.Context(), path, Shared, 5*time.Second, "test")
	if err != nil {
		t.Fatalf("LOCK_SH while another process holds LOCK_SH: %v", err)
	}
	defer l.Unlock()
	hs, err := LockHolders(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{holder.pid(), os.Getpid()} {
		i := slices.IndexFunc(hs, func(h Holder) bool { return h.PID == pid })
		if i < 0 || hs[i].Mode != "READ" {
			t.Errorf("holders %+v: want pid %d with mode READ", hs, pid)
		}
	}
}

// timeoutMessage matches the docs/spec.md §7 message shape for one holder.
func timeoutMessage(mode LockMode, what, path string, timeout string, h Holder) *regexp.Regexp {
	return regexp.MustCompile("^" + regexp.QuoteMeta(fmt.Sprintf(
		"flock %s on %s timed out after %s (lockfile %s, holders: pid=%d cmd=%s)",
		mode, what, timeout, path, h.PID, h.Cmdline)) + "$")
}

func TestLockSharedBlocksExclusive(t *testing.T) {
	path := lockPathIn(t)
	holder := startHolder(t, path, Shared)
	l, err := AcquireLock(t.Context(), path, Exclusive, 300*time.Millisecond, `cache entry "k"`)
	if err == nil {
		l.Unlock()
		t.Fatal("LOCK_EX succeeded while another process holds LOCK_SH")
	}
	var lte *LockTimeoutError
	if !errors.As(err, &lte) {
		t.Fatalf("got %T %v, want *LockTimeoutError", err, err)
	}
	want := Holder{PID: holder.pid(), Mode: "READ", Cmdline: holder.cmdline()}
	if len(lte.Holders) != 1 || lte.Holders[0] != want {
		t.Errorf("holders %+v, want [%+v]", lte.Holders, want)
	}
	if re := timeoutMessage(Exclusive, `cache entry "k"`, path, "300ms", want); !re.MatchString(err.Error()) {
		t.Errorf("message\n %s\ndoes not match\n %s", err, re)
	}
	// Test code recognises it as contention by interface, not by type.
	var ce interface {
		Contention() bool
		Hints() []string
	}
	if !errors.As(fmt.Errorf("use kernel: %w", err), &ce) || !ce.Contention() || len(ce.Hints()) == 0 {
		t.Errorf("a lock timeout does not report contention with hints")
	}
}

func TestLockExclusiveBlocksShared(t *testing.T) {
	path := lockPathIn(t)
	holder := startHolder(t, path, Exclusive)
	_, err := AcquireLock(t.Context(), path, Shared, time.Second, `cache entry "6.1.0"`)
	var lte *LockTimeoutError
	if !errors.As(err, &lte) {
		t.Fatalf("got %v, want *LockTimeoutError while another process holds LOCK_EX", err)
	}
	want := Holder{PID: holder.pid(), Mode: "WRITE", Cmdline: holder.cmdline()}
	re := timeoutMessage(Shared, `cache entry "6.1.0"`, path, "1s", want)
	if !re.MatchString(err.Error()) {
		t.Errorf("message\n %s\ndoes not match\n %s", err, re)
	}
	if lte.Waited < time.Second {
		t.Errorf("Waited = %v, want at least the 1s timeout", lte.Waited)
	}
}

func TestLockTimeoutMessageFormats(t *testing.T) {
	e := &LockTimeoutError{Mode: Shared, What: `cache entry "k"`, Path: "/c/.locks/k.lock", Timeout: 10 * time.Second}
	if got, want := e.Error(), `flock LOCK_SH on cache entry "k" timed out after 10s (lockfile /c/.locks/k.lock, holders: unknown)`; got != want {
		t.Errorf("no holders:\n got %s\nwant %s", got, want)
	}
	e.Mode, e.Timeout = Exclusive, 60*time.Second
	e.Holders = []Holder{{PID: 1, Mode: "READ", Cmdline: "a b"}, {PID: 2, Mode: "READ", Cmdline: "c"}}
	if got, want := e.Error(), `flock LOCK_EX on cache entry "k" timed out after 60s (lockfile /c/.locks/k.lock, holders: pid=1 cmd=a b, pid=2 cmd=c)`; got != want {
		t.Errorf("two holders:\n got %s\nwant %s", got, want)
	}
}

// A holder that dies releases its lock; the waiter gets it (through the
// inotify close event) well before its 30 s deadline. Only the acquisition
// is asserted; the latency is measured in BenchmarkLockHandoff.
func TestLockFreedWhenHolderKilled(t *testing.T) {
	path := lockPathIn(t)
	holder := startHolder(t, path, Exclusive)
	res := make(chan error, 1)
	go func() {
		l, err := AcquireLock(context.Background(), path, Exclusive, 30*time.Second, "test")
		if err == nil {
			err = l.Unlock()
		}
		res <- err
	}()
	time.Sleep(200 * time.Millisecond) // let the waiter block
	select {
	case err := <-res:
		t.Fatalf("waiter returned while the holder was alive: %v", err)
	default:
	}
	holder.kill(t)
	if err := <-res; err != nil {
		t.Fatalf("waiter did not get the lock after the holder was killed: %v", err)
	}
}

// An explicit LOCK_UN without close produces no inotify event; the bounded
// poll must still hand the lock over.
func TestLockFreedByExplicitUnlock(t *testing.T) {
	path := lockPathIn(t)
	holder := startHolder(t, path, Exclusive)
	res := make(chan error, 1)
	go func() {
		l, err := AcquireLock(context.Background(), path, Shared, 30*time.Second, "test")
		if err == nil {
			err = l.Unlock()
		}
		res <- err
	}()
	time.Sleep(100 * time.Millisecond)
	holder.send(t, "unlock")
	holder.expect(t, "unlocked")
	if err := <-res; err != nil {
		t.Fatalf("waiter did not get the lock after LOCK_UN: %v", err)
	}
}

func TestLockContextCancel(t *testing.T) {
	path := lockPathIn(t)
	startHolder(t, path, Exclusive)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := AcquireLock(ctx, path, Exclusive, time.Minute, "test")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want an error wrapping context.Canceled", err)
	}
	var lte *LockTimeoutError
	if errors.As(err, &lte) {
		t.Errorf("cancellation reported as a timeout: %v", err)
	}
	// An already-cancelled context does not take even a free lock.
	if l, err := AcquireLock(ctx, lockPathIn(t), Shared, time.Minute, "test"); !errors.Is(err, context.Canceled) {
		if l != nil {
			l.Unlock()
		}
		t.Errorf("cancelled context, free lock: got %v", err)
	}
}

func TestLockZeroTimeoutMakesOneAttempt(t *testing.T) {
	path := lockPathIn(t)
	l, err := AcquireLock(t.Context(), path, Exclusive, 0, "test")
	if err != nil {
		t.Fatalf("free lock with timeout 0: %v", err)
	}
	l.Unlock()
	startHolder(t, path, Exclusive)
	_, err = AcquireLock(t.Context(), path, Shared, 0, "test")
	var lte *LockTimeoutError
	if !errors.As(err, &lte) {
		t.Fatalf("held lock with timeout 0: got %v, want *LockTimeoutError", err)
	}
	if !strings.Contains(err.Error(), "timed out after 0s") {
		t.Errorf("message %q should say 0s", err)
	}
}

func TestLockFileModeAndUnlockIdempotent(t *testing.T) {
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	path := lockPathIn(t) // parent .locks does not exist yet
	l, err := AcquireLock(t.Context(), path, Exclusive, time.Second, "test")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o666 {
		t.Errorf("lockfile mode %v, want 0666 regardless of umask", st.Mode().Perm())
	}
	if l.Path() != path || l.Mode() != Exclusive || l.Waited() < 0 {
		t.Errorf("accessors: %q %v %v", l.Path(), l.Mode(), l.Waited())
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatalf("second Unlock: %v", err)
	}
	// Really released: another open file description gets LOCK_EX at once.
	l2, err := AcquireLock(t.Context(), path, Exclusive, 0, "test")
	if err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
	l2.Unlock()
}

func TestLockInvalidMode(t *testing.T) {
	if _, err := AcquireLock(t.Context(), lockPathIn(t), LockMode(0), 0, "test"); err == nil {
		t.Fatal("zero LockMode accepted")
	}
	if got := LockMode(7).String(); got != "LockMode(7)" {
		t.Errorf("String = %q", got)
	}
}

// Within one process two open file descriptions contend, so in-process
// locks serialise too (the cache relies on this for concurrent Stores).
func TestLockInProcessContention(t *testing.T) {
	path := lockPathIn(t)
	l, err := AcquireLock(t.Context(), path, Exclusive, 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AcquireLock(t.Context(), path, Shared, 0, "test"); err == nil {
		t.Fatal("second open file description got LOCK_SH under our own LOCK_EX")
	}
	res := make(chan error, 1)
	go func() {
		l2, err := AcquireLock(context.Background(), path, Shared, 30*time.Second, "test")
		if err == nil {
			l2.Unlock()
		}
		res <- err
	}()
	time.Sleep(50 * time.Millisecond)
	l.Unlock()
	if err := <-res; err != nil {
		t.Fatalf("waiter after in-process Unlock: %v", err)
	}
}

// If the lockfile is deleted while a holder keeps the old inode locked, a
// waiter moves to the new file at that path (the one every later process
// will lock) instead of waiting on the orphaned inode.
func TestLockFollowsReplacedLockfile(t *testing.T) {
	path := lockPathIn(t)
	startHolder(t, path, Exclusive)
	res := make(chan *Lock, 1)
	errc := make(chan error, 1)
	go func() {
		l, err := AcquireLock(context.Background(), path, Exclusive, 30*time.Second, "test")
		if err != nil {
			errc <- err
			return
		}
		res <- l
	}()
	time.Sleep(100 * time.Millisecond)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		t.Fatalf("waiter failed: %v", err)
	case l := <-res:
		defer l.Unlock()
		var fst, pst unix.Stat_t
		if err := controlFd(l.file, func(fd int) error { return unix.Fstat(fd, &fst) }); err != nil {
			t.Fatal(err)
		}
		if err := unix.Stat(path, &pst); err != nil {
			t.Fatal(err)
		}
		if fst.Ino != pst.Ino {
			t.Errorf("lock held on inode %d, but the path names inode %d", fst.Ino, pst.Ino)
		}
	}
}

// roBindMount makes dir read-only by bind-mounting it over itself read-only
// (root only; skips otherwise). The mount is removed at cleanup.
func roBindMount(t *testing.T, dir string) {
	t.Helper()
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount %s (needs CAP_SYS_ADMIN): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount %s read-only: %v", dir, err)
	}
}

// A lockfile that cannot be opened for writing (here: on a read-only
// mount) is opened read-only; flock does not need write access.
func TestLockReadOnlyLockfileStillShareable(t *testing.T) {
	path := lockPathIn(t)
	l, err := AcquireLock(t.Context(), path, Shared, 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	roBindMount(t, filepath.Dir(path))
	if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
		f.Close()
		t.Fatal("read-only mount still allows O_RDWR; the test would prove nothing")
	}
	l, err = AcquireLock(t.Context(), path, Exclusive, 0, "test")
	if err != nil {
		t.Fatalf("lockfile on a read-only mount: %v", err)
	}
	l.Unlock()
}

func TestClassifyFSMagic(t *testing.T) {
	bad := map[string]int64{
		"NFS":           0x6969,
		"CIFS/SMB":      0xFF534D42,
		"SMB2":          0xFE534D42,
		"CephFS":        0x00C36400,
		"AFS (kAFS)":    0x6B414653,
		"AFS (OpenAFS)": 0x5346414F,
		"FUSE":          0x65735546,
	}
	for name, magic := range bad {
		err := classifyFSMagic(magic)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("magic %#x: got %v, want an error naming %s", magic, err, name)
		}
	}
	// 32-bit kernels report the large magics sign-extended.
	if err := classifyFSMagic(int64(int32(-0x00ACB2BE))); err == nil { // 0xFF534D42 as int32
		t.Errorf("sign-extended CIFS magic accepted")
	}
	for name, magic := range map[string]int64{"ext4": 0xEF53, "tmpfs": 0x01021994, "btrfs": 0x9123683E, "xfs": 0x58465342, "overlayfs": 0x794C7630} {
		if err := classifyFSMagic(magic); err != nil {
			t.Errorf("%s (%#x) refused: %v", name, magic, err)
		}
	}
	// The real filesystem under the test temp dir is accepted.
	if err := checkLockableFS(t.TempDir(), "test dir"); err != nil {
		t.Errorf("local temp dir refused: %v", err)
	}
}
