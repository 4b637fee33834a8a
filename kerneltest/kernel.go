package kerneltest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/ktest-dev/ktest/internal/kernelimage"
	"github.com/ktest-dev/ktest/internal/skipreport"
)

// Kernel returns the path of the kernel image the test should boot:
// $KTSTR_TEST_KERNEL, which ktest sets to the absolute path of the kernel
// it resolved and locked (and which a user may set by hand to run kernel
// tests with plain go test).
//
// It skips the test, with the SKIP banner as the message and a skip
// sidecar under ktest, when ktest exported KTEST_UNAVAILABLE (the banner
// then carries ktest's category and reason), or when the test runs outside
// ktest and KTSTR_TEST_KERNEL is unset (category no-kernel). It fails the
// test when KTSTR_TEST_KERNEL is set but does not name a kernel image: a
// wrong path is a mistake to fix, never a reason to skip.
func Kernel(t testing.TB) string {
	t.Helper()
	if text := os.Getenv(envUnavailable); text != "" {
		cat, reason := parseUnavailable(text)
		skipTest(t, skipSite{category: cat, reason: reason, errno: errnoIn(reason), hints: unavailableHints(cat)})
	}
	path := os.Getenv(envTestKernel)
	if path == "" {
		if os.Getenv(envRunID) == "" {
			skipTest(t, skipSite{
				category: skipreport.NoKernel,
				reason:   "not run under ktest and " + envTestKernel + " is unset",
				hints: []string{
					"run the tests with ktest, which finds a kernel and exports it: ktest ./...",
					"or name a kernel image for go test: " + envTestKernel + "=/path/to/bzImage go test ./...",
				},
			})
		}
		skipTest(t, skipSite{
			category: skipreport.NoKernel,
			reason:   "ktest exported neither " + envTestKernel + " nor " + envUnavailable,
			hints:    []string{"this ktest and this kerneltest package disagree on the protocol; use matching versions"},
		})
	}
	if _, err := kernelimage.Inspect(path); err != nil {
		hint := ""
		if !filepath.IsAbs(path) && errors.Is(err, fs.ErrNotExist) {
			// go test runs each package's tests in the package directory.
			hint = " (a relative path is resolved against the package directory go test runs in; use an absolute path)"
		}
		t.Fatalf("kernel from $%s: %v%s", envTestKernel, err, hint)
	}
	return path
}

// unavailableHints are the test-level hints for a skip ktest announced; the
// run-level banner ktest printed has the detailed ones.
func unavailableHints(cat skipreport.Category) []string {
	switch cat {
	case skipreport.NoKernel:
		return []string{"add a kernel to the cache (ktest kernel add <image>), set KTSTR_TEST_KERNEL=/path/to/bzImage, or pass --kernel"}
	case skipreport.NoKVM:
		return []string{"KVM is absent or not permitted here; ktest doctor shows what it needs"}
	case skipreport.Contention:
		return []string{"the host was short of a resource at the time; it is transient, so retry the run"}
	}
	return nil
}
