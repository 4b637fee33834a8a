package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/hint"
)

// testImage is a small synthetic bzImage (valid header, version 6.9.0-ktest).
var testImage = filepath.Join("..", "kernelimage", "testdata", "images", "bzImage-6.9.0")

const testImageKey = "6.9.0-ktest-image-x86_64-093b017f"

// runCLI runs ktest with args and returns stdout, stderr and the error.
func runCLI(t *testing.T, stdin *os.File, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	io := IO{Stdout: &stdout, Stderr: &stderr}
	if stdin != nil {
		io.Stdin = stdin
	} else {
		io.Stdin = strings.NewReader("")
	}
	err := Run(context.Background(), args, io)
	return stdout.String(), stderr.String(), err
}

// useCache points KTSTR_CACHE_DIR at a fresh directory and returns it.
func useCache(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "cache")
	t.Setenv("KTSTR_CACHE_DIR", root)
	return root
}

func mustContain(t *testing.T, what, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("%s = %q, want it to contain %q", what, got, want)
	}
}

// TestCacheRootFromUnsetHOME: an unset HOME (which a testscript cannot
// produce) gets its own message, and nothing is created anywhere.
func TestCacheRootFromUnsetHOME(t *testing.T) {
	t.Setenv("KTSTR_CACHE_DIR", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	os.Unsetenv("HOME") // t.Setenv restores it afterwards
	for _, args := range [][]string{
		{"kernel", "list"},
		{"kernel", "add", testImage},
		{"kernel", "rm", "k"},
		{"kernel", "clean", "--force"},
		{"kernel", "path", "6.1"},
		{"locks"},
	} {
		_, _, err := runCLI(t, nil, args...)
		if err == nil {
			t.Fatalf("ktest %v with HOME unset succeeded", args)
		}
		mustContain(t, fmt.Sprintf("ktest %v error", args), err.Error(), "HOME is unset and neither KTSTR_CACHE_DIR nor an absolute XDG_CACHE_HOME is set")
		mustContain(t, fmt.Sprintf("ktest %v error", args), err.Error(), "KTSTR_CACHE_DIR (e.g. /tmp/ktstr-cache)")
	}
}

// TestCacheRootNotUTF8: a non-UTF-8 KTSTR_CACHE_DIR is refused, not used.
func TestCacheRootNotUTF8(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "k\xff\xfe")
	t.Setenv("KTSTR_CACHE_DIR", dir)
	for _, args := range [][]string{{"kernel", "add", testImage}, {"kernel", "list"}, {"locks"}} {
		_, _, err := runCLI(t, nil, args...)
		if err == nil {
			t.Fatalf("ktest %v with a non-UTF-8 root succeeded", args)
		}
		mustContain(t, "error", err.Error(), "KTSTR_CACHE_DIR contains non-UTF-8 bytes")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the non-UTF-8 root was created (stat: %v)", err)
	}
}

// TestKeyWithNUL: a NUL byte (impossible in a real argv) is still refused
// with a clear message by every command that takes a key.
func TestKeyWithNUL(t *testing.T) {
	root := useCache(t)
	_, _, err := runCLI(t, nil, "kernel", "add", testImage, "--key", "a\x00b")
	if err == nil {
		t.Fatal("add --key with NUL succeeded")
	}
	mustContain(t, "add error", err.Error(), "contains a NUL byte at offset 1")
	_, _, err = runCLI(t, nil, "kernel", "rm", "a\x00b")
	if err == nil {
		t.Fatal("rm of a key with NUL succeeded")
	}
	mustContain(t, "rm error", err.Error(), "contains a NUL byte")
	_, _, err = runCLI(t, nil, "kernel", "path", "a\x00b")
	if err == nil {
		t.Fatal("path of a key with NUL succeeded")
	}
	mustContain(t, "path error", err.Error(), "contains a NUL byte")
	if des, _ := os.ReadDir(root); len(des) > 0 {
		t.Errorf("cache root has %d entries after refused commands", len(des))
	}
}

// TestReadOnlyRoot bind-mounts the cache root read-only: listing still
// works, every writing command fails with a clear error, and the entry is
// untouched. Needs root (CAP_SYS_ADMIN) for mount(2).
func TestReadOnlyRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to bind-mount a directory read-only")
	}
	root := useCache(t)
	if _, _, err := runCLI(t, nil, "kernel", "add", testImage); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(root, root, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("bind mount: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(root, 0); err != nil {
			t.Errorf("unmount %s: %v", root, err)
		}
	})
	if err := unix.Mount("", root, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		t.Skipf("remount read-only: %v", err)
	}

	stdout, _, err := runCLI(t, nil, "kernel", "list")
	if err != nil {
		t.Fatalf("list on a read-only root: %v", err)
	}
	mustContain(t, "list", stdout, testImageKey)

	for _, args := range [][]string{
		{"kernel", "add", testImage, "--key", "other"},
		{"kernel", "rm", testImageKey},
		{"kernel", "clean", "--force"},
	} {
		_, _, err := runCLI(t, nil, args...)
		if err == nil {
			t.Fatalf("ktest %v on a read-only root succeeded", args)
		}
		mustContain(t, fmt.Sprintf("ktest %v error", args), err.Error(), "is not writable")
		mustContain(t, fmt.Sprintf("ktest %v error", args), err.Error(), "read-only file system")
		if hs := hint.Of(err); len(hs) == 0 || !strings.Contains(hs[0], "KTSTR_CACHE_DIR") {
			t.Errorf("ktest %v: hints %q do not name KTSTR_CACHE_DIR", args, hs)
		}
	}
	stdout, _, err = runCLI(t, nil, "kernel", "path", testImageKey)
	if err != nil {
		t.Fatalf("path after refused writes: %v", err)
	}
	mustContain(t, "path", stdout, filepath.Join(root, testImageKey, "bzImage"))
}

// openPTY returns a pseudo-terminal pair: the controller (what a person
// types into) and the terminal end ktest reads as its stdin.
func openPTY(t *testing.T) (controller, terminal *os.File) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	controller = os.NewFile(uintptr(fd), "/dev/ptmx")
	t.Cleanup(func() { controller.Close() })
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("pty number: %v", err)
	}
	terminal, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pty: %v", err)
	}
	t.Cleanup(func() { terminal.Close() })
	return controller, terminal
}

// TestCleanAsksOnTerminal: on a real terminal clean asks, removes only on
// "y", and removes exactly the entries it listed.
func TestCleanAsksOnTerminal(t *testing.T) {
	root := useCache(t)
	for _, key := range []string{"a", "b"} {
		if _, _, err := runCLI(t, nil, "kernel", "add", testImage, "--key", key); err != nil {
			t.Fatal(err)
		}
	}
	controller, terminal := openPTY(t)
	if !isTerminal(terminal) {
		t.Fatal("isTerminal(pty) = false")
	}

	// "n" (or anything but y/yes) removes nothing.
	if _, err := controller.WriteString("n\n"); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runCLI(t, terminal, "kernel", "clean")
	if err != nil {
		t.Fatalf("clean answered n: %v", err)
	}
	mustContain(t, "prompt", stderr, "Remove 2 cache entries from "+root+"? [y/N] ")
	mustContain(t, "stdout", stdout, "nothing removed")
	for _, key := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(root, key)); err != nil {
			t.Errorf("entry %s gone after answering n: %v", key, err)
		}
	}

	if _, err := controller.WriteString("y\n"); err != nil {
		t.Fatal(err)
	}
	stdout, _, err = runCLI(t, terminal, "kernel", "clean", "--keep", "1")
	if err != nil {
		t.Fatalf("clean answered y: %v", err)
	}
	mustContain(t, "stdout", stdout, "clean: removed 1, kept 1, in use 0")
	des, _ := os.ReadDir(root)
	var left []string
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), ".") {
			left = append(left, de.Name())
		}
	}
	if len(left) != 1 {
		t.Errorf("entries left after clean --keep 1: %v", left)
	}
}

func TestIsTerminalNotAFile(t *testing.T) {
	if isTerminal(strings.NewReader("y\n")) {
		t.Error("a strings.Reader counts as a terminal")
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("/dev/null counts as a terminal")
	}
}

func newTestFlags() (*subFlags, *string, *bool, *int) {
	f := newSubFlags("kernel test")
	var key string
	var force bool
	var keep int
	f.stringFlag(&key, "key", "", "a cache key")
	f.boolFlag(&force, "force", "")
	f.intFlag(&keep, "keep", 0, "", "a whole number")
	return f, &key, &force, &keep
}

func TestSubFlagsParse(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		pos   []string
		key   string
		force bool
		keep  int
		help  bool
		err   string
	}{
		{args: []string{"img", "--key", "k"}, pos: []string{"img"}, key: "k"},
		{args: []string{"--key=k", "img", "--force"}, pos: []string{"img"}, key: "k", force: true},
		{args: []string{"-key", "k", "a", "-force=false", "b"}, pos: []string{"a", "b"}, key: "k"},
		{args: []string{"--keep", "-1"}, keep: -1},
		{args: []string{"a", "--", "--key", "-"}, pos: []string{"a", "--key", "-"}},
		{args: []string{"-"}, pos: []string{"-"}},
		{args: []string{"x", "--help", "--zzzzzz"}, err: "kernel test: unknown flag --zzzzzz; it takes --force, --keep, --key; see ktest kernel test --help"},
		{args: []string{"x", "-h"}, pos: []string{"x"}, help: true},
		{args: []string{"--forse"}, err: "kernel test: unknown flag --forse; did you mean --force?"},
		{args: []string{"--zzzzzz"}, err: "kernel test: unknown flag --zzzzzz; it takes --force, --keep, --key; see ktest kernel test --help"},
		{args: []string{"--key"}, err: "kernel test: --key needs a value: a cache key"},
		{args: []string{"--keep", "x"}, err: `kernel test: invalid value "x" for --keep: want a whole number`},
		{args: []string{"--force=maybe"}, err: `kernel test: invalid value "maybe" for --force: want true or false`},
	} {
		f, key, force, keep := newTestFlags()
		pos, help, err := f.parse(tc.args)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("parse(%q) error = %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parse(%q): %v", tc.args, err)
			continue
		}
		if !reflect.DeepEqual(pos, tc.pos) || *key != tc.key || *force != tc.force || *keep != tc.keep || help != tc.help {
			t.Errorf("parse(%q) = pos %q key %q force %v keep %d help %v; want %q %q %v %d %v",
				tc.args, pos, *key, *force, *keep, help, tc.pos, tc.key, tc.force, tc.keep, tc.help)
		}
	}
}

func TestSubFlagsNoFlags(t *testing.T) {
	f := newSubFlags("kernel rm")
	_, _, err := f.parse([]string{"k", "--force"})
	want := "kernel rm: unknown flag --force (it takes no flags); to pass an argument that starts with -, put it after --; see ktest kernel rm --help"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

// FuzzSubFlagsParse: any argument list parses or fails with a one-line
// message; positional arguments keep their order and nothing is invented.
func FuzzSubFlagsParse(f *testing.F) {
	for _, seed := range []string{"img\x00--key\x00k", "--keep=3\x00--force", "--\x00--key", "-\x00--kye", "--keep\x00-1", "-h"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		fl, _, _, _ := newTestFlags()
		pos, _, err := fl.parse(args)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.ContainsAny(joined, "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		// Every positional argument is one of the inputs, in order.
		i := 0
		for _, p := range pos {
			for i < len(args) && args[i] != p {
				i++
			}
			if i == len(args) {
				t.Fatalf("positional %q not among the arguments %q in order", p, args)
			}
			i++
		}
	})
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 14186432: "13.5 MiB", 3 << 30: "3.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestCleanAsksPerUntracedDirectory: a directory without ktest or ktstr
// traces is removed only after its own "y" on a terminal; --force does not
// remove it, and neither does piped input.
func TestCleanAsksPerUntracedDirectory(t *testing.T) {
	root := useCache(t)
	if _, _, err := runCLI(t, nil, "kernel", "add", testImage, "--key", "a"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"u1", "u2"} {
		if err := os.MkdirAll(filepath.Join(root, d, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// --force without a terminal: the traced entry goes, the others stay.
	stdout, _, err := runCLI(t, nil, "kernel", "clean", "--force")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "stdout", stdout, "left     u1 (no ktest or ktstr traces")
	for _, d := range []string{"u1", "u2"} {
		if _, err := os.Stat(filepath.Join(root, d, "data")); err != nil {
			t.Fatalf("%s removed by --force: %v", d, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "a")); err == nil {
		t.Fatal("the traced entry a was not removed")
	}

	controller, terminal := openPTY(t)
	if _, err := controller.WriteString("y\nn\n"); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runCLI(t, terminal, "kernel", "clean")
	if err != nil {
		t.Fatalf("clean on a terminal: %v", err)
	}
	mustContain(t, "prompt", stderr, root+"/u1 has no ktest or ktstr traces")
	mustContain(t, "prompt", stderr, root+"/u2 has no ktest or ktstr traces")
	mustContain(t, "stdout", stdout, "removed  u1")
	mustContain(t, "stdout", stdout, "left     u2")
	if _, err := os.Stat(filepath.Join(root, "u1")); err == nil {
		t.Error("u1 kept after its yes")
	}
	if _, err := os.Stat(filepath.Join(root, "u2", "data")); err != nil {
		t.Errorf("u2 removed after its no: %v", err)
	}
}
