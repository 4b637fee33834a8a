package kerneltest

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/testproto"
	"github.com/ktest-dev/ktest/vm"
)

// testGuest is the guest program of these tests (built once per process).
const testGuest = "./testdata/guest"

func init() {
	childRoles["boot-noqemu"] = func(t *testing.T) {
		Boot(t, vm.Config{Kernel: "/nonexistent/bzImage", Guest: testGuest, QEMU: "/nonexistent/qemu-system-x86_64"})
		t.Error("not reached: Boot returned without QEMU")
	}
	childRoles["boot-guestfail"] = func(t *testing.T) {
		Boot(t, vm.Config{Guest: testGuest, Args: []string{"fail"}})
		t.Error("not reached: Boot returned although the guest failed")
	}
	childRoles["boot-panic"] = func(t *testing.T) {
		// No /init where the kernel is told to look: it panics.
		Boot(t, vm.Config{Guest: testGuest, Args: []string{"ok"}, Cmdline: "rdinit=/nonexistent"})
		t.Error("not reached: Boot returned although the kernel panicked")
	}
	childRoles["boot-timeout"] = func(t *testing.T) {
		Boot(t, vm.Config{Guest: testGuest, Args: []string{"hang"}, Timeout: time.Second})
		t.Error("not reached: Boot returned although the boot timed out")
	}
}

// TestBoot boots the real kernel with a guest that reports its release,
// which must be the one KernelInfo says the kernel has.
func TestBoot(t *testing.T) {
	t.Parallel()
	kernel := KernelInfo(t)
	if kernel.Release == "" {
		t.Fatalf("KernelInfo %+v: no release", kernel)
	}
	res := Boot(t, vm.Config{Guest: testGuest, Args: []string{"ok", "two words"}})
	for _, want := range []string{"release: " + kernel.Release + "\n", `args: ["ok" "two words"]`} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("guest output lacks %q:\n%s", want, res.Output)
		}
	}
	if res.ExitCode != 0 || res.BootToVerdict <= 0 {
		t.Errorf("result: exit %d, boot-to-verdict %v; want 0 and a duration", res.ExitCode, res.BootToVerdict)
	}
}

// TestBootGuestFailureFails checks that a failing guest fails the test with
// the guest's message and whole output, and is not a skip.
func TestBootGuestFailureFails(t *testing.T) {
	t.Parallel()
	res := runFailingBootChild(t, "boot-guestfail")
	for _, want := range []string{
		"guest ./testdata/guest failed with exit status 1: kerneltest guest: failing as asked",
		"--- guest output ---",
		"kerneltest guest: about to fail",
	} {
		if !strings.Contains(res.output, want) {
			t.Errorf("child output lacks %q", want)
		}
	}
}

// TestBootTimeoutFails checks that a boot that runs out of time fails the
// test. The guest never returns, so however fast the host, the time runs
// out: under TCG while the kernel boots (it needs about 2 s), on a fast host
// when the guest's own guard expires (exit status 124).
func TestBootTimeoutFails(t *testing.T) {
	t.Parallel()
	res := runFailingBootChild(t, "boot-timeout")
	if !strings.Contains(res.output, "vm timed out after 1s") && !strings.Contains(res.output, "exit status 124") {
		t.Errorf("child output lacks the host timeout or the guest guard's exit status 124")
	}
}

// TestBootKernelPanicFails checks that a boot that crashes fails the test
// with vm's BootError and logs the whole serial console, whose tail shows
// the panic.
func TestBootKernelPanicFails(t *testing.T) {
	t.Parallel()
	res := runFailingBootChild(t, "boot-panic")
	for _, want := range []string{"vm boot failed: ", "vm: serial console of the failed boot", "Linux version ", "Kernel panic"} {
		if !strings.Contains(res.output, want) {
			t.Errorf("child output lacks %q", want)
		}
	}
}

// runFailingBootChild boots in a child test binary running role, with this
// run's kernel and accelerator, and checks that the child test failed (and
// did not go on past the failure). The child's output is logged when the
// calling test fails.
func runFailingBootChild(t *testing.T, role string) childResult {
	t.Helper()
	kernel := Kernel(t)
	res := runChild(t, role, "KTSTR_TEST_KERNEL="+kernel, "KTEST_ACCEL="+os.Getenv(vm.AccelEnv))
	if res.verdict() != "FAIL" || strings.Contains(res.output, "not reached") {
		t.Errorf("want FAIL; verdict %s", res.verdict())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("child output:\n%s", res.output)
		}
	})
	return res
}

// TestBootWithoutQEMUSkips needs neither a kernel nor QEMU: vm.Run looks for
// QEMU first.
func TestBootWithoutQEMUSkips(t *testing.T) {
	t.Parallel()
	runDir := t.TempDir()
	res := runChild(t, "boot-noqemu", "KTEST_SIDECAR_DIR="+runDir)
	banner := `ktest: SKIP: no-qemu: QEMU (/nonexistent/qemu-system-x86_64) is not installed: `
	if res.verdict() != "SKIP" || !strings.Contains(res.output, banner) || !strings.Contains(res.output, "hint: install it: apt-get install -y qemu-system-x86") {
		t.Errorf("want SKIP with banner %q... and an install hint; output:\n%s", banner, res.output)
	}
	rec, raw := readOneSidecar(t, runDir)
	if rec.Category != testproto.NoQEMU || rec.Errno != "ENOENT" || rec.Kernel == nil || rec.Kernel.Path != "/nonexistent/bzImage" {
		t.Errorf("skip sidecar: want no-qemu, errno ENOENT, the configured kernel:\n%s", raw)
	}
}

func TestBootTimeout(t *testing.T) {
	cases := []struct{ timeout, remaining, want time.Duration }{
		{0, 10 * time.Minute, vm.DefaultTimeout},                            // far deadline: vm's default
		{30 * time.Second, 10 * time.Minute, 30 * time.Second},              // far deadline: the config
		{0, 60 * time.Second, 54 * time.Second},                             // margin 10%
		{10 * time.Minute, 5 * time.Minute, 5*time.Minute - 10*time.Second}, // margin at most 10 s
		{0, 5 * time.Second, 4 * time.Second},                               // margin at least 1 s
		{0, 1500 * time.Millisecond, 750 * time.Millisecond},                // at least half the time left
		{10 * time.Second, -time.Second, time.Millisecond},                  // deadline passed: fail fast
		{time.Second, 2 * time.Minute, time.Second},                         // short config wins
		{-time.Second, 10 * time.Minute, vm.DefaultTimeout},                 // negative: default
	}
	for _, c := range cases {
		if got := bootTimeout(c.timeout, c.remaining); got != c.want {
			t.Errorf("bootTimeout(%v, %v) = %v, want %v", c.timeout, c.remaining, got, c.want)
		}
	}
}
