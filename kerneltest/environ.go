package kerneltest

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/testproto"
)

// received is what ktest told this test binary (package testproto owns
// the protocol; docs/spec.md §9), read afresh on every call: a test may
// change the environment with t.Setenv.
func received() (testproto.Received, error) {
	return testproto.Receive(os.Getenv)
}

// errnoOf names the syscall.Errno err wraps, or returns "".
func errnoOf(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return ""
}

// runSource is the sidecar's run_source: "ci" when KTSTR_CI or CI is
// non-empty, else "local" (as in run.json).
func runSource() string { return testproto.RunSource(os.Getenv) }
