package kerneltest

import (
	"cmp"
	"errors"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/skipreport"
	"github.com/ktest-dev/ktest/vm"
)

// ContentionError reports that something a test needs is busy right now
// (a lock held by another run, a device in use, the host short of memory):
// a transient condition that retrying later may clear. Return or wrap one
// where such a failure is detected and pass the error to SkipOnContention,
// which skips the test with category "contention" instead of failing it.
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

// SkipOnContention returns if err is nil, skips the test if err is (or
// wraps) a contention error — a *ContentionError, a *vm.HostBusyError, a
// *cache.LockTimeoutError, or a *preflight.KVMError of class contention —
// and fails it with err otherwise. The skip message is the banner
// "ktest: SKIP: contention: <err>; host: <host snapshot summary>", and
// under ktest a skip sidecar records it.
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

// contentionSite describes err as a contention skip, or returns false if
// err is not a contention error. The reason is err's whole text, so the
// context a caller wrapped around the contention error shows.
func contentionSite(err error) (skipSite, bool) {
	var (
		ce       *ContentionError
		busy     *vm.HostBusyError
		lockWait *cache.LockTimeoutError
		kvmErr   *preflight.KVMError
	)
	switch {
	case errors.As(err, &lockWait):
		return skipSite{category: skipreport.Contention, reason: err.Error(), kernel: kernelFromEnv(),
			hints: []string{"another process held the lock for too long; `ktest locks` shows who holds it"}}, true
	case errors.As(err, &kvmErr) && kvmErr.Class == preflight.ClassContention:
		return skipSite{category: skipreport.Contention, reason: err.Error(), errno: errnoOf(err), kernel: kernelFromEnv(), hints: kvmErr.Hints()}, true
	case errors.As(err, &ce):
		errno := ce.Errno
		if errno == "" {
			errno = errnoOf(err)
		}
		return skipSite{category: skipreport.Contention, reason: err.Error(), errno: errno, kernel: kernelFromEnv()}, true
	case errors.As(err, &busy):
		return skipSite{
			category: skipreport.Contention,
			reason:   err.Error(),
			errno:    cmp.Or(errnoOf(err), errnoIn(busy.Reason)),
			kernel:   kernelFromEnv(),
			hints:    []string{"QEMU could not get a host resource at the time; it is transient, so retry the run"},
		}, true
	}
	return skipSite{}, false
}

// errnoOf names the syscall.Errno err wraps, or returns "".
func errnoOf(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return ""
}

// kernelFromEnv is the kernel the run provides, for a sidecar ("" if none).
func kernelFromEnv() string {
	if os.Getenv(envUnavailable) != "" {
		return ""
	}
	return os.Getenv(envTestKernel)
}
