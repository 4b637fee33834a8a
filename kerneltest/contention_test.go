package kerneltest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/testproto"
	"github.com/ktest-dev/ktest/vm"
)

func init() {
	childRoles["contention-wrapped"] = func(t *testing.T) {
		err := fmt.Errorf("reserve widget: %w", &ContentionError{Reason: "widget 3 is busy", Err: syscall.EBUSY})
		SkipOnContention(t, err)
		t.Error("not reached: SkipOnContention returned on a contention error")
	}
	childRoles["contention-hostbusy"] = func(t *testing.T) {
		SkipOnContention(t, fmt.Errorf("boot: %w", &vm.HostBusyError{Reason: "qemu: failed to allocate guest RAM: ENOMEM", Err: syscall.ENOMEM}))
		t.Error("not reached: SkipOnContention returned on a HostBusyError")
	}
	childRoles["contention-locktimeout"] = func(t *testing.T) {
		// A real lock held by this process through a second open file
		// description: two opens of one file contend like two processes.
		path := filepath.Join(t.TempDir(), "entry.lock")
		held, err := cache.AcquireLock(context.Background(), path, cache.Exclusive, 0, "cache entry \"k\"")
		if err != nil {
			t.Fatal(err)
		}
		defer held.Unlock()
		_, err = cache.AcquireLock(context.Background(), path, cache.Shared, 0, "cache entry \"k\"")
		SkipOnContention(t, fmt.Errorf("use kernel: %w", err))
		t.Error("not reached: SkipOnContention returned on a lock timeout")
	}
	childRoles["contention-own-type"] = func(t *testing.T) {
		SkipOnContention(t, fmt.Errorf("reserve port: %w", &portBusyError{port: 8443, busy: true}))
		t.Error("not reached: SkipOnContention returned on an error reporting contention")
	}
	childRoles["contention-own-type-not-busy"] = func(t *testing.T) {
		SkipOnContention(t, fmt.Errorf("reserve port: %w", &portBusyError{port: 8443, busy: false}))
		t.Log("not reached: SkipOnContention returned on an error denying contention")
	}
	childRoles["contention-other"] = func(t *testing.T) {
		SkipOnContention(t, fmt.Errorf("reserve widget: %w", errors.New("widget on fire")))
		t.Log("not reached: SkipOnContention returned on a non-contention error")
	}
}

func TestSkipOnContentionNil(t *testing.T) {
	SkipOnContention(t, nil) // must return: a skip or failure here ends this test
	if t.Skipped() || t.Failed() {
		t.Error("SkipOnContention(nil) skipped or failed the test")
	}
}

func TestSkipOnContentionSkipsWithSidecar(t *testing.T) {
	t.Parallel()
	img := writeFakeBzImage(t, "9.9.9-fake")
	runDir := t.TempDir()
	res := runChild(t, "contention-wrapped", "KTEST_SIDECAR_DIR="+runDir, "KTEST_RUN_ID=run-3", "KTSTR_TEST_KERNEL="+img)

	// The reason keeps the caller's context; the banner adds the host snapshot.
	const reason = "reserve widget: widget 3 is busy: device or resource busy"
	banner := "ktest: SKIP: contention: " + reason + "; host: mem_available="
	if res.verdict() != "SKIP" || !strings.Contains(res.output, banner) || strings.Contains(res.output, "not reached") {
		t.Errorf("want SKIP with banner %q...; output:\n%s", banner, res.output)
	}
	rec, raw := readOneSidecar(t, runDir)
	ok := rec.Schema == testproto.SkipSchema &&
		rec.Category == testproto.Contention &&
		rec.Reason == reason &&
		rec.Errno == "EBUSY" && // from the wrapped syscall.Errno
		rec.Test == "TestChildRole" &&
		rec.Package == "github.com/ktest-dev/ktest/kerneltest" &&
		rec.RunSource == "local" &&
		rec.Kernel != nil && rec.Kernel.Path == img && rec.Kernel.Version == "9.9.9-fake" && rec.Kernel.Source == testproto.EnvTestKernel
	if !ok {
		t.Errorf("skip sidecar does not record the skip:\n%s", raw)
	}
}

func TestSkipOnContentionHostBusy(t *testing.T) {
	t.Parallel()
	runDir := t.TempDir()
	res := runChild(t, "contention-hostbusy", "KTEST_SIDECAR_DIR="+runDir)
	banner := "ktest: SKIP: contention: boot: start vm: host resources temporarily unavailable: qemu: failed to allocate guest RAM: ENOMEM; host: "
	if res.verdict() != "SKIP" || !strings.Contains(res.output, banner) {
		t.Errorf("want SKIP with banner %q...; output:\n%s", banner, res.output)
	}
	if rec, raw := readOneSidecar(t, runDir); rec.Category != testproto.Contention || rec.Errno != "ENOMEM" || rec.Kernel != nil {
		t.Errorf("skip sidecar: want contention, errno ENOMEM from the error's errno, no kernel:\n%s", raw)
	}
}

// TestSkipOnContentionLockTimeout: ktest's own lock timeout is contention too.
func TestSkipOnContentionLockTimeout(t *testing.T) {
	t.Parallel()
	runDir := t.TempDir()
	res := runChild(t, "contention-locktimeout", "KTEST_SIDECAR_DIR="+runDir)
	banner := `ktest: SKIP: contention: use kernel: flock LOCK_SH on cache entry "k" timed out after 0s`
	if res.verdict() != "SKIP" || !strings.Contains(res.output, banner) || strings.Contains(res.output, "not reached") {
		t.Errorf("want SKIP with banner %q...; output:\n%s", banner, res.output)
	}
	if rec, raw := readOneSidecar(t, runDir); rec.Category != testproto.Contention {
		t.Errorf("skip sidecar: want contention:\n%s", raw)
	}
}

func TestSkipOnContentionFailsOtherErrors(t *testing.T) {
	t.Parallel()
	runDir := t.TempDir()
	res := runChild(t, "contention-other", "KTEST_SIDECAR_DIR="+runDir)
	if res.verdict() != "FAIL" || res.exit == 0 || !strings.Contains(res.output, "reserve widget: widget on fire") ||
		strings.Contains(res.output, "ktest: SKIP") || strings.Contains(res.output, "not reached") {
		t.Errorf("want FAIL with the error and no skip; exit %d, output:\n%s", res.exit, res.output)
	}
	if files, _ := filepath.Glob(filepath.Join(runDir, "skips", "*.json")); len(files) != 0 {
		t.Errorf("a failure wrote skip sidecars: %v", files)
	}
}

func TestContentionErrorText(t *testing.T) {
	cases := []struct {
		err  *ContentionError
		want string
	}{
		{&ContentionError{Reason: "lock held", Err: syscall.EWOULDBLOCK}, "lock held: resource temporarily unavailable"},
		{&ContentionError{Reason: "lock held"}, "lock held"},
		{&ContentionError{}, "resource busy"},
	}
	for _, c := range cases {
		if got := c.err.Error(); got != c.want {
			t.Errorf("%#v.Error() = %q, want %q", c.err, got, c.want)
		}
	}
	wrapped := fmt.Errorf("ctx: %w", cases[0].err)
	if !errors.Is(wrapped, syscall.EWOULDBLOCK) {
		t.Error("ContentionError does not unwrap to its Err")
	}
	var ce *ContentionError
	if !errors.As(wrapped, &ce) || ce != cases[0].err {
		t.Error("errors.As does not find a wrapped *ContentionError")
	}
}

// portBusyError is a test's own error type: SkipOnContention knows nothing
// of it but its methods.
type portBusyError struct {
	port int
	busy bool
}

func (e *portBusyError) Error() string    { return fmt.Sprintf("port %d: %v", e.port, syscall.EADDRINUSE) }
func (e *portBusyError) Unwrap() error    { return syscall.EADDRINUSE }
func (e *portBusyError) Contention() bool { return e.busy }
func (e *portBusyError) Hints() []string {
	return []string{"another run uses the port; it is free again when that run ends"}
}

// TestSkipOnContentionByInterface: any error type with Contention() bool
// true is contention, with its Hints and the errno it wraps; one that
// returns false is an ordinary failure.
func TestSkipOnContentionByInterface(t *testing.T) {
	t.Parallel()
	runDir := t.TempDir()
	res := runChild(t, "contention-own-type", "KTEST_SIDECAR_DIR="+runDir)
	banner := "ktest: SKIP: contention: reserve port: port 8443: address already in use; host: mem_available="
	if res.verdict() != "SKIP" || !strings.Contains(res.output, banner) ||
		!strings.Contains(res.output, "hint: another run uses the port") || strings.Contains(res.output, "not reached") {
		t.Errorf("want SKIP with banner %q... and the error's hint; output:\n%s", banner, res.output)
	}
	if rec, raw := readOneSidecar(t, runDir); rec.Category != testproto.Contention || rec.Errno != "EADDRINUSE" {
		t.Errorf("skip sidecar: want contention with errno EADDRINUSE:\n%s", raw)
	}

	res = runChild(t, "contention-own-type-not-busy")
	if res.verdict() != "FAIL" || strings.Contains(res.output, "ktest: SKIP") || !strings.Contains(res.output, "reserve port: port 8443") {
		t.Errorf("Contention() false: want FAIL with the error; output:\n%s", res.output)
	}
}
