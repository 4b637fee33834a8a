package boot

import (
	"os"
	"strings"
	"testing"

	"github.com/ktest-dev/ktest/kerneltest"
	"github.com/ktest-dev/ktest/vm"
)

// TestMain removes the guest program vm builds for the tests.
func TestMain(m *testing.M) { os.Exit(kerneltest.Main(m)) }

// TestGuestRunsTheKernel boots the kernel and checks that `uname -r` in the
// guest is the release the kernel is known by: the one ktest exported, or,
// under plain go test, the one in the image's header.
func TestGuestRunsTheKernel(t *testing.T) {
	kernel := kerneltest.KernelInfo(t) // skips without a kernel
	if kernel.Release == "" {
		t.Fatalf("%s has no version string in its header (is it an x86 bzImage?)", kernel.Path)
	}

	res := kerneltest.Boot(t, vm.Config{Kernel: kernel.Path, Guest: "./guest"})

	if got := reported(t, res.Output, "uname -r"); got != kernel.Release {
		t.Errorf("guest runs kernel release %q, but %s is %q", got, kernel.Path, kernel.Release)
	}
	if kernel.CacheKey != "" {
		t.Logf("kernel %s from cache entry %s", kernel.Release, kernel.CacheKey)
	}
}

// reported returns the value of the guest's "<key>: <value>" output line.
func reported(t *testing.T, output, key string) string {
	t.Helper()
	for line := range strings.Lines(output) {
		if value, ok := strings.CutPrefix(line, key+": "); ok {
			return strings.TrimSpace(value)
		}
	}
	t.Fatalf("guest output has no %q line:\n%s", key+": ", output)
	return ""
}
