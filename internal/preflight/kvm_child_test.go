package preflight

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/reexec"
)

// Helpers for tests that need a real fault: re-executed test binaries
// (another uid, a tiny RLIMIT_NOFILE) and device nodes without a driver.

// A re-executed test binary (package reexec, a role test) learns what to do
// from its role; childDeviceEnv names the device it checks.
const (
	childDeviceEnv = "KTEST_PREFLIGHT_CHILD_DEVICE"
	resultPrefix   = "KTEST-CHILD-RESULT "
)

// childResult is what a child reports about its CheckKVM call.
type childResult struct {
	Err    string `json:"err"`
	IsKVM  bool   `json:"is_kvm_error"`
	Class  Class  `json:"class"`
	Errno  int    `json:"errno"`
	Op     string `json:"op"`
	Hint   string `json:"hint"`
	Accel  string `json:"accel"`
	Status string `json:"status"`
	Setup  string `json:"setup_error,omitempty"`
}

// reportChild prints the result of a CheckKVM call in a form runChild parses.
func reportChild(rep KVMReport, err error) {
	res := childResult{Accel: rep.Accel, Status: rep.Status}
	if err != nil {
		res.Err = err.Error()
		var kerr *KVMError
		if errors.As(err, &kerr) {
			res.IsKVM = true
			res.Class, res.Errno, res.Op, res.Hint = kerr.Class, int(kerr.Errno), kerr.Op, kerr.Hint
		}
	}
	printChild(res)
}

func printChild(res childResult) {
	data, _ := json.Marshal(res)
	fmt.Printf("%s%s\n", resultPrefix, data)
}

// runChild re-executes binary (the test binary, or a copy of it) running
// only test name with role and device in the environment, and returns the
// child's result. sys may set credentials.
func runChild(t *testing.T, binary, dir, name, role, device string, sys *syscall.SysProcAttr) childResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := reexec.TestCommand(ctx, name, role, childDeviceEnv+"="+device)
	cmd.Args = append(cmd.Args, "-test.v")
	// A copy of the test binary (another uid must be able to run it).
	cmd.Path, cmd.Args[0] = binary, binary
	cmd.Dir = dir
	cmd.SysProcAttr = sys
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child %s (%s): %v\nstdout:\n%s\nstderr:\n%s", name, role, err, out, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), resultPrefix); ok {
			var res childResult
			if err := json.Unmarshal([]byte(rest), &res); err != nil {
				t.Fatalf("child result %q: %v", rest, err)
			}
			if res.Setup != "" {
				t.Fatalf("child %s (%s) could not set up: %s", name, role, res.Setup)
			}
			return res
		}
	}
	t.Fatalf("child %s (%s) printed no result\nstdout:\n%s\nstderr:\n%s", name, role, out, stderr.String())
	return childResult{}
}

// assertKVMError checks a child's (or this process's) classified error.
func assertChildError(t *testing.T, res childResult, class Class, errno syscall.Errno, op string) {
	t.Helper()
	if !res.IsKVM {
		t.Fatalf("error %q is not a *KVMError", res.Err)
	}
	if res.Class != class || syscall.Errno(res.Errno) != errno || res.Op != op {
		t.Fatalf("got class %q errno %s op %q (%s), want class %q errno %s op %q",
			res.Class, errnoName(syscall.Errno(res.Errno)), res.Op, res.Err, class, errnoName(errno), op)
	}
	if res.Accel != AccelTCG {
		t.Errorf("failed check reports accel %q, want %q", res.Accel, AccelTCG)
	}
	t.Logf("error: %s\n  hint: %s", res.Err, res.Hint)
}

// lowerNofile makes only free more fds openable: it sets RLIMIT_NOFILE's
// soft limit just above the highest open fd and fills every hole below it
// with /dev/null, then closes free of those fillers. The fillers stay open
// for the life of the (child) process.
func lowerNofile(free int) error {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	highest := 0
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil && n > highest {
			highest = n
		}
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = uint64(highest + 1 + free)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("setrlimit: %w", err)
	}
	var fillers []int
	for range highest + 1 + free {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.EMFILE) {
			break
		}
		if err != nil {
			return err
		}
		fillers = append(fillers, fd)
	}
	if _, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0); !errors.Is(err, unix.EMFILE) {
		return fmt.Errorf("fd table not full after filling: open returned %v", err)
	}
	if len(fillers) < free {
		return fmt.Errorf("only %d fillers, cannot free %d", len(fillers), free)
	}
	for _, fd := range fillers[len(fillers)-free:] {
		unix.Close(fd)
	}
	return nil
}

// freeCharMajor returns a character-device major with no driver, from the
// "LOCAL/EXPERIMENTAL USE" range 240-254 that /proc/devices does not list.
func freeCharMajor(t *testing.T) uint32 {
	t.Helper()
	data, err := os.ReadFile("/proc/devices")
	if err != nil {
		t.Skipf("cannot read /proc/devices: %v", err)
	}
	used := map[uint32]bool{}
	inChar := false
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		switch {
		case line == "Character devices:":
			inChar = true
		case line == "Block devices:":
			inChar = false
		case inChar:
			if f := strings.Fields(line); len(f) > 0 {
				if n, err := strconv.ParseUint(f[0], 10, 32); err == nil {
					used[uint32(n)] = true
				}
			}
		}
	}
	for major := uint32(240); major <= 254; major++ {
		if !used[major] {
			return major
		}
	}
	t.Skip("every character major in 240-254 has a driver here")
	return 0
}

// freeMiscMinor returns a misc (major 10) minor in the "reserved for local
// use" range 240-254 that has no driver and for which no module alias
// exists, so opening it fails ENODEV without loading anything.
func freeMiscMinor(t *testing.T) uint32 {
	t.Helper()
	data, err := os.ReadFile("/proc/misc")
	if err != nil {
		t.Skipf("cannot read /proc/misc: %v", err)
	}
	used := map[uint32]bool{}
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) > 0 {
			if n, err := strconv.ParseUint(f[0], 10, 32); err == nil {
				used[uint32(n)] = true
			}
		}
	}
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	aliases, _ := os.ReadFile(filepath.Join("/lib/modules", unix.ByteSliceToString(uts.Release[:]), "modules.alias"))
	for minor := uint32(240); minor <= 254; minor++ {
		if !used[minor] && !bytes.Contains(aliases, fmt.Appendf(nil, "char-major-10-%d ", minor)) {
			return minor
		}
	}
	t.Skip("no free misc minor in 240-254")
	return 0
}

// mknodChar creates a character device node, or skips when this process
// may not (no CAP_MKNOD, a nodev mount is caught at open instead).
func mknodChar(t *testing.T, path string, mode uint32, major, minor uint32) {
	t.Helper()
	err := unix.Mknod(path, unix.S_IFCHR|mode, int(unix.Mkdev(major, minor)))
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		t.Skipf("mknod %s: %v (needs CAP_MKNOD)", path, err)
	}
	if err != nil {
		t.Fatalf("mknod %s: %v", path, err)
	}
	if err := unix.Chmod(path, mode); err != nil { // undo the umask
		t.Fatal(err)
	}
}

// worldReadableDir makes a 0755 temporary directory that an unprivileged
// uid can enter (t.TempDir's are 0700).
func worldReadableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ktest-preflight-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyExecutable copies the running test binary into dir, mode 0755.
func copyExecutable(t *testing.T, dir string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(self))
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}
