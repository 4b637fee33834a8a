package outfile

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func write(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

// noTemps fails when a temp file of an output is left in dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left behind: %s", filepath.Join(dir, e.Name()))
		}
	}
}

func TestNewFileGetsTheUmaskMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.xml")
	if err := WriteFile(context.Background(), path, []byte("<report/>"), Options{}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "<report/>" {
		t.Errorf("content %q", got)
	}
	mask := syscall.Umask(0)
	syscall.Umask(mask)
	st, _ := os.Stat(path)
	if want := os.FileMode(0o666 &^ mask); st.Mode().Perm() != want {
		t.Errorf("mode %v, want %v (0666 less the umask, as os.Create)", st.Mode().Perm(), want)
	}
	noTemps(t, dir)
}

// TestExistingFileKeepsContentUntilCommitAndItsMode: the old report
// survives Create and Abort; Commit replaces it and keeps its mode.
func TestExistingFileKeepsContentUntilCommitAndItsMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.json")
	write(t, path, "old", 0o640)

	f, err := Create(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(f, "half"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "old" {
		t.Fatalf("old content lost before Commit: %q", got)
	}
	f.Abort()
	if got := readFile(t, path); got != "old" {
		t.Fatalf("Abort lost the old content: %q", got)
	}
	noTemps(t, dir)

	f, err = Create(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "new")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // a no-op after Commit
	if got := readFile(t, path); got != "new" {
		t.Errorf("content %q after Commit", got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the old 0640", st.Mode().Perm())
	}
	noTemps(t, dir)
}

func TestSymlinkStaysAndItsTargetGetsTheContent(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "reports")
	os.Mkdir(sub, 0o755)
	target := filepath.Join(sub, "real.xml")
	write(t, target, "old", 0o600)
	// A relative link, through a second link.
	link1 := filepath.Join(dir, "link1.xml")
	link2 := filepath.Join(dir, "link2.xml")
	if err := os.Symlink("reports/real.xml", link1); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(link1, link2); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(context.Background(), link2, []byte("new"), Options{}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{link1, link2} {
		if st, err := os.Lstat(l); err != nil || st.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s is no longer a symlink: %v %v", l, st.Mode(), err)
		}
	}
	if got := readFile(t, target); got != "new" {
		t.Errorf("target content %q", got)
	}
	if st, _ := os.Stat(target); st.Mode().Perm() != 0o600 {
		t.Errorf("target mode %v, want 0600 kept", st.Mode().Perm())
	}
	noTemps(t, dir)
	noTemps(t, sub)

	// A dangling link gets its target created; the link stays.
	dangling := filepath.Join(dir, "dangling.xml")
	os.Symlink("reports/new.xml", dangling)
	if err := WriteFile(context.Background(), dangling, []byte("created"), Options{}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(sub, "new.xml")); got != "created" {
		t.Errorf("dangling link target %q", got)
	}
	if st, _ := os.Lstat(dangling); st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("dangling link replaced by %v", st.Mode())
	}

	loop := filepath.Join(dir, "loop")
	os.Symlink("loop", loop)
	if err := WriteFile(context.Background(), loop, nil, Options{}); err == nil {
		t.Errorf("a symlink loop was written")
	}
}

func mkfifo(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFIFOWithReaderIsStreamed(t *testing.T) {
	path := mkfifo(t)
	got := make(chan string, 1)
	go func() {
		r, err := os.Open(path) // blocks until the writer opens
		if err != nil {
			got <- err.Error()
			return
		}
		data, _ := io.ReadAll(r)
		r.Close()
		got <- string(data)
	}()
	payload := strings.Repeat("event\n", 50_000) // more than a pipe holds
	if err := WriteFile(context.Background(), path, []byte(payload), Options{}); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != payload {
		t.Errorf("reader got %d bytes, want %d", len(s), len(payload))
	}
	if st, err := os.Lstat(path); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("FIFO replaced: %v %v", st.Mode(), err)
	}
	noTemps(t, filepath.Dir(path))
}

func TestFIFOWithoutReaderFailsInsteadOfHanging(t *testing.T) {
	path := mkfifo(t)
	var told string
	_, err := Create(context.Background(), path, Options{FIFOWait: 100 * time.Millisecond,
		Waiting: func(p string, limit time.Duration) { told = p }})
	if err == nil || !strings.Contains(err.Error(), "FIFO has no reader after 100ms; start the reader first") {
		t.Errorf("err = %v", err)
	}
	if told != path {
		t.Errorf("Waiting was told %q", told)
	}

	// A cancelled context ends the wait at once, with its cause.
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("interrupted by SIGINT")
	time.AfterFunc(50*time.Millisecond, func() { cancel(cause) })
	_, err = Create(ctx, path, Options{FIFOWait: time.Hour})
	if !errors.Is(err, cause) {
		t.Errorf("err = %v, want the context's cause", err)
	}
}

// TestFIFOWriteEndsAfterCancel: a reader that opens the FIFO and never
// reads cannot hold a write forever once the context is done.
func TestFIFOWriteEndsAfterCancel(t *testing.T) {
	path := mkfifo(t)
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	f, err := Create(ctx, path, Options{CancelGrace: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = f.Write(make([]byte, 4<<20))
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("blocked write ended with %v, want an error naming %s", err, path)
	}
}

// TestFIFOWriteStallEnds: a reader that opens the FIFO and never reads
// cannot hold a write forever even while the run goes on (no cancel): the
// write fails after the stall bound, naming the FIFO. A slow reader that
// keeps reading is not a stall.
func TestFIFOWriteStallEnds(t *testing.T) {
	path := mkfifo(t)
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := Create(context.Background(), path, Options{Stall: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	_, err = f.Write(make([]byte, 4<<20))
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "read nothing for 100ms") {
		t.Errorf("stalled write ended with %v, want the stall error naming %s", err, path)
	}

	slow := mkfifo(t)
	done := make(chan int)
	go func() {
		r, err := os.Open(slow)
		if err != nil {
			done <- -1
			return
		}
		defer r.Close()
		n := 0
		buf := make([]byte, 4096)
		for {
			time.Sleep(5 * time.Millisecond) // slower than the writer
			m, err := r.Read(buf)
			n += m
			if err != nil {
				done <- n
				return
			}
		}
	}()
	f, err = Create(context.Background(), slow, Options{Stall: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 256<<10)
	if _, err := f.Write(payload); err != nil {
		t.Errorf("write to a slow reader: %v", err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := <-done; n != len(payload) {
		t.Errorf("slow reader got %d bytes, want %d", n, len(payload))
	}
}

func TestDevNull(t *testing.T) {
	before := devInfo(t, "/dev/null")
	if err := WriteFile(context.Background(), "/dev/null", []byte("discarded"), Options{}); err != nil {
		t.Fatal(err)
	}
	if after := devInfo(t, "/dev/null"); after != before {
		t.Errorf("/dev/null changed: %+v, was %+v", after, before)
	}
}

// TestDevFull: the write error is reported and the device stays a device
// (as root, the old temp+rename replaced /dev/full with a regular file).
func TestDevFull(t *testing.T) {
	before := devInfo(t, "/dev/full")
	err := WriteFile(context.Background(), "/dev/full", []byte("report"), Options{})
	if !errors.Is(err, unix.ENOSPC) || !strings.HasPrefix(err.Error(), "/dev/full: ") {
		t.Errorf("err = %v, want ENOSPC naming /dev/full", err)
	}
	if after := devInfo(t, "/dev/full"); after != before {
		t.Errorf("/dev/full changed: %+v, was %+v", after, before)
	}
	noTemps(t, "/dev")
}

type devID struct {
	mode uint32
	rdev uint64
	ino  uint64
}

func devInfo(t *testing.T, path string) devID {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		t.Fatalf("%s is not a character device", path)
	}
	return devID{st.Mode, st.Rdev, st.Ino}
}

// TestOpenFileThroughProc: /dev/stdout or /dev/fd/N naming a regular file
// is written in place (appended), never replaced: the file belongs to
// whoever opened it.
func TestOpenFileThroughProc(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout.txt")
	write(t, path, "shell output\n", 0o644)
	held, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	var before unix.Stat_t
	unix.Stat(path, &before)
	magic := "/proc/self/fd/" + strconv.Itoa(int(held.Fd()))
	if err := WriteFile(context.Background(), magic, []byte("report\n"), Options{}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "shell output\nreport\n" {
		t.Errorf("content %q", got)
	}
	var after unix.Stat_t
	unix.Stat(path, &after)
	if after.Ino != before.Ino {
		t.Errorf("the open file was replaced (inode %d, was %d)", after.Ino, before.Ino)
	}
}

func TestUnusablePaths(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing", "r.xml"), "directory " + filepath.Join(dir, "missing") + " does not exist; create it first"},
		{dir, "is a directory; give a file name"},
		{sock, "is a socket"},
		{"", "empty path"},
	} {
		for name, try := range map[string]func() error{
			"Check":  func() error { return Check(tc.path) },
			"Create": func() error { _, err := Create(context.Background(), tc.path, Options{}); return err },
		} {
			if err := try(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s(%q) = %v, want %q", name, tc.path, err, tc.want)
			}
		}
	}
}

// TestUnwritableDirectory: a directory the process cannot write to fails
// at Create, before any work. As root, /sys stands in (no file can be
// created there); as another user, a directory without write permission.
func TestUnwritableDirectory(t *testing.T) {
	dir := "/sys"
	if os.Geteuid() != 0 {
		dir = filepath.Join(t.TempDir(), "ro")
		os.Mkdir(dir, 0o555)
	}
	path := filepath.Join(dir, "ktest-outfile-test.xml")
	if _, err := Create(context.Background(), path, Options{}); err == nil {
		t.Fatalf("Create(%s) succeeded", path)
	} else if !strings.HasPrefix(err.Error(), path+": ") {
		t.Errorf("err = %v, want it to name %s", err, path)
	}
	if _, err := os.Lstat(path); err == nil {
		t.Errorf("%s was created", path)
	}
}

// TestCheckChangesNothing: a dry run's Check neither creates a temp file
// nor opens a FIFO (a reader would see an end of file).
func TestCheckChangesNothing(t *testing.T) {
	dir := t.TempDir()
	if err := Check(filepath.Join(dir, "new.xml")); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("Check left %v", entries)
	}
	fifo := mkfifo(t)
	if err := Check(fifo); err != nil {
		t.Errorf("Check(FIFO without reader) = %v", err)
	}
}

// TestRootKeepsTheOwner: root replacing another user's report leaves the
// report theirs.
func TestRootKeepsTheOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	path := filepath.Join(t.TempDir(), "r.xml")
	write(t, path, "old", 0o664)
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(context.Background(), path, []byte("new"), Options{}); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	sys := st.Sys().(*syscall.Stat_t)
	if sys.Uid != 65534 || sys.Gid != 65534 || st.Mode().Perm() != 0o664 {
		t.Errorf("owner %d:%d mode %v, want 65534:65534 0664", sys.Uid, sys.Gid, st.Mode().Perm())
	}
}
