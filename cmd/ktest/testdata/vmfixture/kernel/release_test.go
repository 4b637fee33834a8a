// Package kernel asks questions only a kernel can answer: its release,
// bpf(), cgroup2 and a module loaded on demand. On a host that cannot
// answer one, that test skips with need.HostCannot; inside a `ktest --vm`
// guest all four pass.
package kernel

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"example.com/vmfixture/need"
)

// TestRelease checks that the test runs on the kernel ktest selected: the
// uname(2) release, and what the uname(1) binary of the root filesystem
// prints, both equal KTEST_KERNEL_RELEASE.
func TestRelease(t *testing.T) {
	want := os.Getenv("KTEST_KERNEL_RELEASE")
	if want == "" {
		need.Cannot(t, "KTEST_KERNEL_RELEASE is not set: not run by ktest")
	}
	if got := need.Release(t); got != want {
		t.Fatalf("uname(2) release %q, ktest selected %q", got, want)
	}
	path, err := exec.LookPath("uname")
	if err != nil {
		t.Fatalf("no uname binary on PATH=%s: %v", os.Getenv("PATH"), err)
	}
	out, err := exec.Command(path, "-r").Output()
	if err != nil {
		t.Fatalf("uname -r: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("uname -r prints %q, ktest selected %q", got, want)
	}
	t.Logf("running on %s", want)
}
