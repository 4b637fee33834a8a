package fdlimit

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestHint(t *testing.T) {
	wrapped := fmt.Errorf("create pipe: %w", &os.SyscallError{Syscall: "pipe2", Err: syscall.EMFILE})
	if h := Hint(wrapped); !strings.Contains(h, "ulimit -n is ") {
		t.Errorf("Hint(EMFILE) = %q, want the current limit", h)
	}
	if h := Hint(&LimitError{Soft: 5, Hard: 5}); !strings.Contains(h, "raise the open-file limit") {
		t.Errorf("Hint(LimitError) = %q", h)
	}
	if h := Hint(fmt.Errorf("x: %w", syscall.ENFILE)); !strings.Contains(h, "fs.file-max") {
		t.Errorf("Hint(ENFILE) = %q", h)
	}
	// What os/exec returns when the child cannot place its descriptors
	// under a low limit (seen as `fork/exec go: bad file descriptor`).
	forkErr := fmt.Errorf("start go test: %w", &os.PathError{Op: "fork/exec", Path: "/usr/bin/go", Err: syscall.EBADF})
	if h := Hint(forkErr); !strings.Contains(h, "raise the open-file limit") {
		t.Errorf("Hint(fork/exec EBADF) = %q, want the limit advice", h)
	}
	if h := Hint(&os.PathError{Op: "read", Path: "x", Err: syscall.EBADF}); h != "" {
		t.Errorf("Hint(read EBADF) = %q, want none: only a process start means the limit", h)
	}
	if h := Hint(fmt.Errorf("x: %w", syscall.ENOENT)); h != "" {
		t.Errorf("Hint(ENOENT) = %q, want none", h)
	}
}

// TestCheckPasses: with the limit of a test run there is room, and Check
// leaves no descriptor behind.
func TestCheckPasses(t *testing.T) {
	before, _ := os.ReadDir("/proc/self/fd")
	if err := Check(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadDir("/proc/self/fd")
	if len(after) != len(before) {
		t.Errorf("Check left descriptors open: %d before, %d after", len(before), len(after))
	}
}
