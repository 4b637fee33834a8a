package kerneltest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktest-dev/ktest/internal/testproto"
)

func TestMain(m *testing.M) {
	// The tests write nothing outside temp dirs: kerneltest.Run's boot
	// cache goes to one of its own (the guests, which run this binary
	// again, inherit it).
	if os.Getenv(testproto.EnvVMCacheDir) == "" && !InGuest() {
		dir, err := os.MkdirTemp("", "kerneltest-vm-cache-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Setenv(testproto.EnvVMCacheDir, dir)
		code := Main(m)
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(Main(m))
}

// childRoleEnv selects what TestChildRole does when the test binary is run
// again as a child by runChild.
const childRoleEnv = "KERNELTEST_CHILD_ROLE"

// childRoles are test bodies that skip or fail on purpose. They run only in
// a child process, where the parent reads the verdict and message from
// -test.v output: a skip or failure cannot be asserted from inside the test
// that suffers it, and skipping in this process would count as a skip in
// the real run.
var childRoles = map[string]func(t *testing.T){}

// TestChildRole is not a test of its own: it runs the body named by
// $KERNELTEST_CHILD_ROLE in a child started by runChild (the os/exec
// helper-process idiom), and does nothing in a normal run.
func TestChildRole(t *testing.T) {
	role := os.Getenv(childRoleEnv)
	if role == "" {
		return
	}
	body, ok := childRoles[role]
	if !ok {
		t.Fatalf("unknown child role %q", role)
	}
	body(t)
}

// childResult is what a child run of TestChildRole printed.
type childResult struct {
	output string
	exit   int
}

// verdict is "PASS", "FAIL" or "SKIP" from the child's "--- X: TestChildRole" line.
func (c childResult) verdict() string {
	for _, v := range []string{"PASS", "FAIL", "SKIP"} {
		if strings.Contains(c.output, "--- "+v+": TestChildRole ") {
			return v
		}
	}
	return "none"
}

// runChild runs TestChildRole with role in a child test process whose
// environment has none of ktest's variables except those in env.
func runChild(t *testing.T, role string, env ...string) childResult {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestChildRole$", "-test.v", "-test.count=1")
	cmd.Env = append(cleanEnv(), childRoleEnv+"="+role)
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	res := childResult{output: out.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.exit = ee.ExitCode()
	case err != nil:
		t.Fatalf("run child %s: %v", role, err)
	}
	return res
}

// cleanEnv is this process's environment without the variables ktest
// exports or this package reads, so that a child behaves as outside ktest.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "KTEST_") || strings.HasPrefix(k, "KTSTR_") || k == testproto.EnvCI || k == childRoleEnv {
			continue
		}
		env = append(env, kv)
	}
	if os.Getenv("GORACE") == "" {
		// A -race binary otherwise sleeps 1 s at exit (atexit_sleep_ms).
		env = append(env, "GORACE=atexit_sleep_ms=0")
	}
	return env
}

// readOneSidecar returns the single skip sidecar under runDir/skips.
func readOneSidecar(t *testing.T, runDir string) (testproto.SkipRecord, string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(runDir, "skips", "*.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("want exactly one skip sidecar in %s/skips, found %v (%v)", runDir, files, err)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var rec testproto.SkipRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatalf("parse %s: %v\n%s", files[0], err, data)
	}
	return rec, string(data)
}

// writeFakeBzImage writes a header-only x86 bzImage whose version string
// starts with release. It is a kernel image to everything that reads only
// headers; it cannot boot.
func writeFakeBzImage(t *testing.T, release string) string {
	t.Helper()
	img := make([]byte, 0x400)
	copy(img[0x1FE:], []byte{0x55, 0xAA})
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x206:], 0x0203) // boot protocol 2.03: no size fields
	binary.LittleEndian.PutUint16(img[0x20E:], 0x100)  // version string at 0x100+0x200
	copy(img[0x300:], fmt.Sprintf("%s (test@example) #1 SMP\x00", release))
	path := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
