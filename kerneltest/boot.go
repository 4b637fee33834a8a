package kerneltest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/testproto"
	"github.com/ktest-dev/ktest/vm"
)

// Boot boots a kernel under QEMU with cfg.Guest as /init (see vm.Run and
// package vm/guest) and returns the result of a guest that exited 0.
//
// Zero fields get these defaults: Kernel from Kernel(t) (which may skip
// the test), Accel from $KTEST_ACCEL (else TCG), and vm's defaults for the
// rest. The boot is bounded by cfg.Timeout (default vm.DefaultTimeout) and,
// when the test binary has a deadline (go test -timeout), by that deadline
// less a margin, so that a hung boot fails this test with the console tail
// instead of the binary panicking; it also ends with the test's context.
//
// Outcomes other than success end the test:
//   - QEMU not installed (*vm.NoQEMUError): skip, category no-qemu;
//   - host short of a resource (*vm.HostBusyError): skip, category
//     contention (see SkipOnContention);
//   - the guest failed (*vm.GuestError): t.Fatal with the guest's message
//     and its whole output;
//   - the boot timed out or crashed (*vm.TimeoutError, *vm.BootError):
//     t.Fatal with the error and its console tail, after logging the rest
//     of the serial console (t.Log);
//   - anything else (bad config, guest build failure): t.Fatal.
//
// On success Boot logs a summary line and the guest's output (shown by go
// test with -v or when the test fails later).
func Boot(t testing.TB, cfg vm.Config) *vm.Result {
	t.Helper()
	if cfg.Kernel == "" {
		cfg.Kernel = Kernel(t)
	}
	if deadline, ok := testDeadline(t); ok {
		cfg.Timeout = bootTimeout(cfg.Timeout, time.Until(deadline))
	}
	res, err := vm.Run(t.Context(), cfg)
	if err == nil {
		t.Logf("vm: booted %s, guest %s: verdict after %v (%s)\n--- guest output ---\n%s--- end guest output ---",
			cfg.Kernel, cfg.Guest, res.BootToVerdict.Round(time.Millisecond), accelName(cfg), withNewline(res.Output))
		return res
	}
	failBoot(t, cfg, res, err)
	return nil // not reached: failBoot skips or fails the test
}

// failBoot maps a vm.Run error to a skip or a test failure.
func failBoot(t testing.TB, cfg vm.Config, res *vm.Result, err error) {
	t.Helper()
	var noQEMU *vm.NoQEMUError
	var guestErr *vm.GuestError
	var timeout *vm.TimeoutError
	var bootErr *vm.BootError
	switch {
	case errors.As(err, &noQEMU):
		skipTest(t, skipSite{
			category: testproto.NoQEMU,
			reason:   fmt.Sprintf("QEMU (%s) is not installed: %v", noQEMU.Binary, noQEMU.Err),
			errno:    errnoOf(err),
			kernel:   cfg.Kernel,
			hints: []string{
				"install it: apt-get install -y qemu-system-x86 (Debian/Ubuntu) or dnf install -y qemu-system-x86-core (Fedora/RHEL)",
				"or point vm.Config.QEMU at the emulator binary",
			},
		})
	case errors.As(err, new(*vm.HostBusyError)):
		site, _ := contentionSite(err)
		site.kernel = cfg.Kernel
		if len(site.hints) == 0 {
			site.hints = []string{"QEMU could not get a host resource at the time; it is transient, so retry the run"}
		}
		skipTest(t, site)
	case errors.As(err, &guestErr):
		// The whole output, not the tail GuestError.Error quotes: it is
		// the test's own diagnostics.
		how := fmt.Sprintf("failed with exit status %d", guestErr.ExitCode)
		switch {
		case guestErr.Panicked:
			how = "panicked"
		case guestErr.TimedOut:
			how = "did not finish in time"
		}
		t.Fatalf("guest %s %s: %s\n--- guest output ---\n%s--- end guest output ---",
			cfg.Guest, how, guestErr.Message, withNewline(guestErr.Output))
	case errors.As(err, &timeout):
		logConsoleHead(t, res, timeout.ConsoleTail)
		t.Fatalf("boot %s with guest %s: %v", cfg.Kernel, cfg.Guest, err)
	case errors.As(err, &bootErr):
		logConsoleHead(t, res, bootErr.ConsoleTail)
		t.Fatalf("boot %s with guest %s: %v", cfg.Kernel, cfg.Guest, err)
	default:
		t.Fatalf("boot %s with guest %s: %v", cfg.Kernel, cfg.Guest, err)
	}
}

// logConsoleHead logs the serial console of a failed boot, except for its
// last lines (tail), which the failure message itself quotes.
func logConsoleHead(t testing.TB, res *vm.Result, tail string) {
	t.Helper()
	if res == nil || strings.TrimSpace(res.Console) == "" {
		return
	}
	console := strings.TrimRight(res.Console, "\n")
	tail = strings.TrimRight(tail, "\n")
	if head, ok := strings.CutSuffix(console, tail); ok && tail != "" {
		if strings.TrimSpace(head) != "" {
			t.Logf("vm: serial console of the failed boot, up to the tail quoted below:\n%s", withNewline(head))
		}
		return
	}
	t.Logf("vm: serial console of the failed boot:\n%s", withNewline(console))
}

// testDeadline is the test binary's deadline, when t can tell it
// (*testing.T can; testing.TB in general cannot).
func testDeadline(t testing.TB) (time.Time, bool) {
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		return d.Deadline()
	}
	return time.Time{}, false
}

// bootTimeout caps a boot's timeout (0 means vm.DefaultTimeout) so that it
// ends before the test binary's deadline, remaining from now. The margin
// (a tenth of what remains, between 1 s and 10 s) leaves the test time to
// report the timeout and kill QEMU; with little time left, the boot gets
// at least half of it.
func bootTimeout(timeout, remaining time.Duration) time.Duration {
	if timeout <= 0 {
		timeout = vm.DefaultTimeout
	}
	margin := min(max(remaining/10, time.Second), 10*time.Second)
	limit := max(remaining-margin, remaining/2, time.Millisecond)
	return min(timeout, limit)
}

// accelName is the accelerator vm.Run uses for cfg, for the log line.
func accelName(cfg vm.Config) string {
	if a := strings.TrimSpace(cfg.Accel); a != "" {
		return a
	}
	if a := strings.TrimSpace(os.Getenv(vm.AccelEnv)); a != "" {
		return a
	}
	return vm.AccelTCG
}

// withNewline returns s ending in exactly one newline ("" stays "").
func withNewline(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return s + "\n"
}
