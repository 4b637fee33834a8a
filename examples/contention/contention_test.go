package contention

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktest-dev/ktest/kerneltest"
	"github.com/ktest-dev/ktest/vm"
)

// TestMain removes the guest program vm builds for the tests.
func TestMain(m *testing.M) { os.Exit(kerneltest.Main(m)) }

// exclusiveLockPath is the host-wide lockfile of the example's exclusive
// resource: every run of this example on the host uses the same file.
var exclusiveLockPath = filepath.Join(os.TempDir(), "ktest-example-exclusive.lock")

// TestExclusiveResource boots a VM while holding the host-wide exclusive
// resource. If another run holds it, the test skips with category
// "contention"; any other error taking it fails the test.
func TestExclusiveResource(t *testing.T) {
	kernel := kerneltest.Kernel(t)

	lock, err := kerneltest.TryLockFile(exclusiveLockPath)
	kerneltest.SkipOnContention(t, err)
	t.Cleanup(func() {
		if err := lock.Unlock(); err != nil {
			t.Error(err)
		}
	})

	res := kerneltest.Boot(t, vm.Config{Kernel: kernel, Guest: "./guest", Args: []string{"token-42"}})
	if !strings.Contains(res.Output, "using exclusive resource: token-42") {
		t.Errorf("guest output lacks its report:\n%s", res.Output)
	}
}
