// Package reexec is how this module's tests start a second process: the
// test binary runs itself again in a named role. It is the one helper for
// that (cross-process flocks, another uid, a tiny RLIMIT_NOFILE, a process
// to SIGKILL), so that every package's children are started, named and
// told apart the same way. It is imported by _test.go files only.
//
// Two forms:
//   - a role function: TestMain calls Main with the package's roles, and
//     Command starts the binary with no test selected (-test.run=^$), so
//     only the role runs;
//   - a role test: TestCommand runs one test of the binary, which reads
//     Role to know it is the child (for children that need the testing
//     package's machinery, such as t.TempDir or t.Fatal).
package reexec

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// roleEnv carries the role to the child.
const roleEnv = "KTEST_REEXEC_ROLE"

// Role returns the role this process was started in, "" in the parent.
func Role() string { return os.Getenv(roleEnv) }

// Main runs the role named by the environment and returns its exit
// status, or, in the parent, runs the tests. An unknown role is exit 2
// with a message, so that a mistyped role fails its test loudly.
func Main(m *testing.M, roles map[string]func() int) int {
	role := Role()
	if role == "" {
		return m.Run()
	}
	f, ok := roles[role]
	if !ok {
		if m != nil && isRoleTest() {
			return m.Run() // a TestCommand child: the test reads Role itself
		}
		fmt.Fprintf(os.Stderr, "reexec: unknown role %q\n", role)
		return 2
	}
	return f()
}

// roleTestEnv marks a TestCommand child, whose role is a test, not a
// function of Main's table.
const roleTestEnv = "KTEST_REEXEC_ROLE_TEST"

func isRoleTest() bool { return os.Getenv(roleTestEnv) == "1" }

// Command returns a command that re-executes this test binary in role,
// with env (KEY=VALUE) added to the current environment. It selects no
// test, so only the role runs. The caller sets stdio and starts it.
func Command(ctx context.Context, role string, env ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = childEnv(role, env)
	return cmd
}

// TestCommand returns a command that re-executes this test binary running
// only the test named name, in role, with env added. Append -test.v to
// cmd.Args to see the child's test log.
func TestCommand(ctx context.Context, name, role string, env ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+name+"$", "-test.count=1")
	cmd.Env = append(childEnv(role, env), roleTestEnv+"=1")
	return cmd
}

// childEnv is the child's environment: the current one with the role and
// env set. A variable env sets is dropped from the inherited part, not
// only shadowed, since not every starter of a process dedups (a child's
// own children inherit the first value); a role test's marker is not
// inherited either. GORACE: a race-enabled binary otherwise sleeps a second
// at exit.
func childEnv(role string, env []string) []string {
	set := append([]string{roleEnv + "=" + role, "GORACE=atexit_sleep_ms=0"}, env...)
	drop := map[string]bool{roleTestEnv: true}
	for _, kv := range set {
		k, _, _ := strings.Cut(kv, "=")
		drop[k] = true
	}
	var out []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}
