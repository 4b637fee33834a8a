package vmm

import (
	"fmt"
	"os"
	"testing"

	"github.com/ktest-dev/ktest/internal/reexec"
	"github.com/ktest-dev/ktest/internal/vminit"
)

// testCacheDir is the cache directory every test of the package shares
// (the initramfs and module indexes are built once), removed at the end.
var testCacheDir string

func TestMain(m *testing.M) {
	// The test binary is also the guest's init (and its modprobe helper).
	if vminit.Requested() {
		os.Exit(vminit.Main())
	}
	dir, err := os.MkdirTemp("", "ktest-vmm-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testCacheDir = dir
	code := reexec.Main(m, map[string]func() int{roleInitramfsProbe: initramfsProbe})
	os.RemoveAll(dir)
	os.Exit(code)
}
