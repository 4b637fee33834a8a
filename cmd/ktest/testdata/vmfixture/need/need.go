// Package need holds the fixture's one skip vocabulary. A test skips with
// the prefix HostCannot when the machine it runs on cannot answer its
// question (not root, no cgroup2 at /sys/fs/cgroup, no modprobe): such a
// skip is expected on a development host and is a failure under
// `ktest --vm`, where every kernel question must be answerable. The
// harness (cmd/ktest/vmfixture_test.go) tells the two apart by the prefix.
package need

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// HostCannot starts the message of every skip that is the machine's fault.
const HostCannot = "vmfixture: host cannot: "

// Cannot skips t as the machine's fault.
func Cannot(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Skipf(HostCannot+format, args...)
}

// Root skips t unless it runs as root.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Cannot(t, "not root (euid %d)", os.Geteuid())
	}
}

// Release is the running kernel's release, as `uname -r` prints it.
func Release(t testing.TB) string {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatalf("uname: %v", err)
	}
	return unix.ByteSliceToString(u.Release[:])
}

// InSelectedKernel reports whether the test runs on the kernel that ktest
// selected (KTEST_KERNEL_RELEASE), which is the case inside a
// `ktest --vm` guest and, on a host, only by coincidence.
func InSelectedKernel(t testing.TB) bool {
	t.Helper()
	want := strings.TrimSpace(os.Getenv("KTEST_KERNEL_RELEASE"))
	return want != "" && want == Release(t)
}
