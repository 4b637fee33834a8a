package kerneltest

import (
	"cmp"
	"errors"
	"os"
	"testing"

	"github.com/ktest-dev/ktest/internal/testproto"
)

// ContentionError reports that something a test needs is busy right now
// (a lock held by another run, a device in use, the host short of memory):
// a transient condition that retrying later may clear. Return or wrap one
// where such a failure is detected and pass the error to SkipOnContention,
// which skips the test with category "contention" instead of failing it.
// A test's own error types can do the same by implementing Contention (see
// SkipOnContention).
type ContentionError struct {
	// Reason says what was busy, e.g. "lockfile /tmp/x.lock is held by
	// another process".
	Reason string
	// Errno is the symbolic errno that showed it (e.g. "EWOULDBLOCK"), or
	// "". When empty, SkipOnContention takes the name of a syscall.Errno
	// found in Err.
	Errno string
	// Err is the underlying error, if any.
	Err error
}

// Error is the reason followed by the underlying error.
func (e *ContentionError) Error() string {
	msg := e.Reason
	if msg == "" {
		msg = "resource busy"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *ContentionError) Unwrap() error { return e.Err }

// Contention reports true: a ContentionError always means contention.
func (e *ContentionError) Contention() bool { return true }

// SkipOnContention returns if err is nil, skips the test if err means
// contention, and fails it with err otherwise.
//
// An error means contention when it, or an error it wraps, has the method
//
//	Contention() bool
//
// and that method returns true; the first error in the chain that has the
// method decides (errors.As). *ContentionError has it, and so have the
// errors of a busy host that this module's packages return: *vm.HostBusyError
// (QEMU short of memory or another resource), ktest's cache lock timeout
// and a KVM device that is busy. A test's own error type takes part by
// defining the method; nothing needs to know its type. When that error
// also has a method Hints() []string, its hints are printed under the
// banner. The errno recorded is the ContentionError's Errno, else the name
// of the syscall.Errno that err wraps.
//
// The skip message is the banner "ktest: SKIP: contention: <err>; host:
// <host snapshot summary>" (err's whole text, so the context a caller
// wrapped around the contention error shows), and under ktest a skip
// sidecar records it.
func SkipOnContention(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if site, ok := contentionSite(err); ok {
		skipTest(t, site)
	}
	t.Fatal(err)
}

// contender is an error that can say it means contention.
type contender interface {
	error
	Contention() bool
}

// contentionSite describes err as a contention skip, or returns false if
// err does not mean contention (see SkipOnContention).
func contentionSite(err error) (skipSite, bool) {
	var c contender
	if !errors.As(err, &c) || !c.Contention() {
		return skipSite{}, false
	}
	site := skipSite{category: testproto.Contention, reason: err.Error(), errno: errnoOf(err), kernel: kernelFromEnv()}
	var ce *ContentionError
	if errors.As(err, &ce) {
		site.errno = cmp.Or(ce.Errno, site.errno)
	}
	if h, ok := c.(interface{ Hints() []string }); ok {
		site.hints = h.Hints()
	}
	return site, true
}

// kernelFromEnv is the kernel the run provides, for a sidecar ("" if none).
func kernelFromEnv() string {
	if os.Getenv(testproto.EnvUnavailable) != "" || os.Getenv(testproto.EnvUnavailableJSON) != "" {
		return ""
	}
	return os.Getenv(testproto.EnvTestKernel)
}
