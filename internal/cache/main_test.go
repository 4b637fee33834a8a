package cache

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/reexec"
)

// The test binary doubles as the second process of cross-process tests
// (package reexec): these variables configure the child's role.
const (
	envRoot     = "KTEST_CACHE_ROOT"
	envKey      = "KTEST_CACHE_KEY"
	envLockPath = "KTEST_CACHE_LOCK_PATH"
	envLockMode = "KTEST_CACHE_LOCK_MODE"
	envImage    = "KTEST_CACHE_IMAGE"
	envImages   = "KTEST_CACHE_IMAGES"
	envVmlinux  = "KTEST_CACHE_VMLINUX"
	// envPause names the Store step at which the "store" child prints the
	// step name and blocks (the crash tests SIGKILL it there).
	envPause    = "KTEST_CACHE_TEST_PAUSE"
	envHashes   = "KTEST_CACHE_HASHES"
	envDuration = "KTEST_CACHE_DURATION"
	// envHold is how long an "overlap-reader" holds each LOCK_SH.
	envHold = "KTEST_CACHE_HOLD"
)

func TestMain(m *testing.M) {
	os.Exit(reexec.Main(m, map[string]func() int{
		"holder":         childRole("holder", childHolder),
		"store":          childRole("store", childStore),
		"store-loop":     childRole("store-loop", childStoreLoop),
		"reader":         childRole("reader", childReader),
		"overlap-reader": childRole("overlap-reader", childOverlapReader),
		"raw-holder":     childRole("raw-holder", childRawHolder),
	}))
}

// childRole turns a role's error into its exit status and message.
func childRole(name string, f func() error) func() int {
	return func() int {
		if err := f(); err != nil {
			fmt.Fprintf(os.Stderr, "child %s: %v\n", name, err)
			return 1
		}
		return 0
	}
}

func monotonicNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// childHolder takes a lock, prints "locked", then obeys stdin commands until
// EOF or a signal:
//
//	unlock  LOCK_UN but keep the descriptor open; prints "unlocked"
//	close   close the descriptor without LOCK_UN; prints "closed <CLOCK_MONOTONIC ns before close>"
//	lock    take the lock again; prints "locked"
func childHolder() error {
	path := os.Getenv(envLockPath)
	mode := Exclusive
	if os.Getenv(envLockMode) == "LOCK_SH" {
		mode = Shared
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; os.Exit(0) }()

	lock, err := AcquireLock(context.Background(), path, mode, 30*time.Second, "test holder")
	if err != nil {
		return err
	}
	fmt.Println("locked")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "unlock":
			if err := flockFile(lock.file, unix.LOCK_UN); err != nil {
				return err
			}
			fmt.Println("unlocked")
		case "close":
			t := monotonicNow()
			lock.file.Close()
			lock.file = nil
			fmt.Println("closed", t)
		case "lock":
			if lock, err = AcquireLock(context.Background(), path, mode, 30*time.Second, "test holder"); err != nil {
				return err
			}
			fmt.Println("locked")
		}
	}
	return nil
}

// childOverlapReader is a test run that never pauses: it takes LOCK_SH on
// the lockfile at envLockPath through AcquireLock, prints "held N" (N
// counting its acquisitions), holds it for envHold, releases it and at once
// asks again, until killed. Three of them, started apart, always keep at
// least one LOCK_SH held: the load that starved writers.
func childOverlapReader() error {
	path := os.Getenv(envLockPath)
	hold, err := time.ParseDuration(os.Getenv(envHold))
	if err != nil {
		return err
	}
	for n := 1; ; n++ {
		l, err := AcquireLock(context.Background(), path, Shared, 60*time.Second, "overlap reader")
		if err != nil {
			return err
		}
		fmt.Println("held", n)
		time.Sleep(hold)
		if err := l.Unlock(); err != nil {
			return err
		}
	}
}

// childRawHolder locks the lockfile at envLockPath as ktstr does: a plain
// flock(2) on {key}.lock only, no gate. It prints "locked" and holds the
// lock until stdin closes or it is killed.
func childRawHolder() error {
	path := os.Getenv(envLockPath)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return err
	}
	how := unix.LOCK_EX
	if os.Getenv(envLockMode) == "LOCK_SH" {
		how = unix.LOCK_SH
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		return err
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// childStore runs one Store, pausing forever at envPause if set.
func childStore() error {
	if pause := os.Getenv(envPause); pause != "" {
		storeHook = func(step string) {
			if step == pause {
				fmt.Println(step)
				select {}
			}
		}
	}
	c := &Cache{Root: os.Getenv(envRoot)}
	_, err := c.Store(context.Background(), os.Getenv(envKey), StoreSource{
		Image:    os.Getenv(envImage),
		Vmlinux:  os.Getenv(envVmlinux),
		Metadata: testMetadata(),
	})
	if err != nil {
		return err
	}
	fmt.Println("stored")
	return nil
}

// childStoreLoop stores the images of envImages in turn until killed.
func childStoreLoop() error {
	c := &Cache{Root: os.Getenv(envRoot)}
	images := strings.Split(os.Getenv(envImages), ",")
	fmt.Println("started")
	for i := 0; ; i++ {
		if _, err := c.Store(context.Background(), os.Getenv(envKey), StoreSource{
			Image: images[i%len(images)], Metadata: testMetadata(),
		}); err != nil {
			return err
		}
	}
}

// readerReport is the last stdout line of a "reader" child.
type readerReport struct {
	Reads      int      `json:"reads"`
	Violations []string `json:"violations"`
}

// childReader loops for envDuration: LOCK_SH the entry, look it up, hash
// the image, check it is a known image and matches the sha256 in the
// metadata beside it, release. Prints a readerReport.
func childReader() error {
	c := &Cache{Root: os.Getenv(envRoot)}
	key := os.Getenv(envKey)
	known := map[string]bool{}
	for _, h := range strings.Split(os.Getenv(envHashes), ",") {
		known[h] = true
	}
	d, err := time.ParseDuration(os.Getenv(envDuration))
	if err != nil {
		return err
	}
	var rep readerReport
	violate := func(format string, args ...any) {
		if len(rep.Violations) < 20 {
			rep.Violations = append(rep.Violations, fmt.Sprintf(format, args...))
		}
	}
	fmt.Println("started")
	for end := time.Now().Add(d); time.Now().Before(end); {
		lock, err := c.LockEntry(context.Background(), key, Shared, 60*time.Second)
		if err != nil {
			return err
		}
		e, err := c.Lookup(key)
		if err != nil {
			violate("lookup under LOCK_SH: %v", err)
		} else {
			sum, err := fileSHA256(e.ImagePath())
			want, _ := e.Metadata.ExtraString(ExtraSHA256)
			switch {
			case err != nil:
				violate("read image: %v", err)
			case !known[sum]:
				violate("image sha256 %s is none of the stored images (torn copy)", sum)
			case sum != want:
				violate("image sha256 %s but metadata beside it says %s (mixed entry)", sum, want)
			}
		}
		if err := lock.Unlock(); err != nil {
			return err
		}
		rep.Reads++
		time.Sleep(time.Duration(1000+rand.IntN(3000)) * time.Microsecond)
	}
	out, _ := json.Marshal(rep)
	fmt.Println(string(out))
	return nil
}

// testMetadata is the metadata the tests store (a git-sourced x86_64 entry).
func testMetadata() Metadata {
	return Metadata{
		Version:    StringPtr("6.1.0-test"),
		Source:     Source{Type: SourceGit, GitHash: StringPtr("abc1234"), Ref: StringPtr("v6.1")},
		Arch:       "x86_64",
		ImageName:  "bzImage",
		ConfigHash: StringPtr("deadbeef"),
	}
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// child is a re-executed test binary running a role.
type child struct {
	cmd    *exec.Cmd
	args   []string
	stdin  io.WriteCloser
	lines  chan string
	stderr *lockedBuffer
	done   chan struct{}
	err    error // Wait's result, valid after done is closed
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startChild re-executes the test binary in role, in its own process group,
// with env (KEY=VALUE) added. The child is killed and reaped at cleanup.
func startChild(tb testing.TB, role string, env ...string) *child {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := reexec.Command(ctx, role, env...)
	args := cmd.Args[1:]
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	c := &child{cmd: cmd, args: append([]string{os.Args[0]}, args...), lines: make(chan string, 64),
		stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start child %s: %v", role, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.err = cmd.Wait()
		close(c.done)
	}()
	tb.Cleanup(func() {
		cancel()
		for range c.lines { // unblock the reader goroutine so it can reap
		}
		<-c.done
	})
	return c
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// cmdline is what /proc/<pid>/cmdline shows for the child, as formatted in
// holder lists (spaces for NULs, cut at 100 characters).
func (c *child) cmdline() string {
	s := strings.Join(c.args, " ")
	if r := []rune(s); len(r) > 100 {
		s = string(r[:100])
	}
	return s
}

// next returns the child's next stdout line, failing after timeout.
func (c *child) next(tb testing.TB, timeout time.Duration) string {
	tb.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			<-c.done
			tb.Fatalf("child exited (%v) before printing a line; stderr:\n%s", c.err, c.stderr)
		}
		return l
	case <-time.After(timeout):
		tb.Fatalf("child printed nothing within %v; stderr:\n%s", timeout, c.stderr)
	}
	return ""
}

// expect fails unless the next stdout line is want.
func (c *child) expect(tb testing.TB, want string) {
	tb.Helper()
	if got := c.next(tb, 30*time.Second); got != want {
		tb.Fatalf("child printed %q, want %q; stderr:\n%s", got, want, c.stderr)
	}
}

// send writes a command line to the child's stdin.
func (c *child) send(tb testing.TB, line string) {
	tb.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		tb.Fatalf("write to child: %v", err)
	}
}

// kill SIGKILLs the child's process group and waits for it to be reaped.
func (c *child) kill(tb testing.TB) {
	tb.Helper()
	_ = syscall.Kill(-c.pid(), syscall.SIGKILL)
	if !c.drainUntilDone(30 * time.Second) {
		tb.Fatal("killed child was not reaped within 30s")
	}
}

// drainUntilDone discards unread stdout lines until the child is reaped;
// false on timeout.
func (c *child) drainUntilDone(timeout time.Duration) bool {
	deadline := time.After(timeout)
	lines := c.lines
	for {
		select {
		case <-c.done:
			return true
		case _, ok := <-lines:
			if !ok {
				lines = nil
			}
		case <-deadline:
			return false
		}
	}
}

// wait closes stdin and waits for a clean exit.
func (c *child) wait(tb testing.TB) {
	tb.Helper()
	c.stdin.Close()
	if !c.drainUntilDone(60 * time.Second) {
		tb.Fatal("child did not exit within 60s")
	}
	if c.err != nil {
		tb.Fatalf("child failed: %v; stderr:\n%s", c.err, c.stderr)
	}
}

// startHolder starts a child holding path in mode and waits until it holds it.
func startHolder(tb testing.TB, path string, mode LockMode) *child {
	tb.Helper()
	c := startChild(tb, "holder", envLockPath+"="+path, envLockMode+"="+mode.String())
	c.expect(tb, "locked")
	return c
}

func itoa(i int) string { return strconv.Itoa(i) }
