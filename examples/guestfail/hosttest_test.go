package guestfail

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/kerneltest"
)

// What the guest program prints and returns (see guest/main.go).
const (
	guestPrints  = "guestfail: counting widgets in /proc/widgets"
	guestReturns = "guestfail: found 0 widgets, want 4"
)

// TestGuestFailureFailsHostTest runs TestGuestFails in a child go test and
// checks that it failed with the guest's error and output in its log.
func TestGuestFailureFailsHostTest(t *testing.T) {
	kernel := kerneltest.Kernel(t) // the child boots it; skip without one
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("find the go command to run the child test: %v", err)
	}

	cmd := exec.CommandContext(t.Context(), goTool, "test", "-tags", "ktest_guestfail",
		"-run", "^TestGuestFails$", "-count=1", "-json", ".")
	// The child inherits the environment, so it boots the same kernel and
	// writes a skip sidecar into this run's directory if it has to skip.
	cmd.Env = append(cmd.Environ(), "KTSTR_TEST_KERNEL="+kernel)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if err != nil && !errors.As(err, new(*exec.ExitError)) {
		t.Fatalf("run child go test: %v", err)
	}

	action, output := testResult(stdout.Bytes(), "TestGuestFails")
	switch action {
	case "fail":
	case "skip":
		// Same kernel, same host: only no-qemu or contention can get here.
		t.Skipf("child test skipped, so the failure path did not run: %s", output)
	default:
		t.Fatalf("child TestGuestFails: result %q, want fail; go test exit: %v\nstderr:\n%s\noutput:\n%s",
			action, err, stderr.String(), output)
	}
	for _, want := range []string{guestReturns, guestPrints, "--- guest output ---"} {
		if !strings.Contains(output, want) {
			t.Errorf("child test failed, but its output lacks %q:\n%s", want, output)
		}
	}
}

// testResult returns the final action of test name in go test -json output
// ("pass", "fail", "skip", or "" if it never finished) and what it
// printed. Lines that are not test2json events (build errors) are skipped.
func testResult(jsonOut []byte, name string) (action, output string) {
	var out strings.Builder
	for line := range bytes.Lines(jsonOut) {
		var ev struct{ Action, Test, Output string }
		if json.Unmarshal(line, &ev) != nil || ev.Test != name {
			continue
		}
		switch ev.Action {
		case "output":
			out.WriteString(ev.Output)
		case "pass", "fail", "skip":
			action = ev.Action
		}
	}
	return action, out.String()
}
