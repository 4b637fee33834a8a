// Package testkernel finds the real kernel image that this project's own
// tests boot. It is the one place that knows where that kernel comes from,
// so that no test names a path of one development machine:
//
//  1. KTSTR_TEST_KERNEL, when set (scripts/test.sh exports it), which must
//     then name a regular file;
//  2. else the newest valid entry of the ktstr kernel cache
//     (KTSTR_CACHE_DIR, else XDG_CACHE_HOME, else HOME; see docs/spec.md §7),
//     which is what `ktest kernel path` would print for it.
//
// Nothing is created or written: the cache is opened read-only and no lock
// is taken. Tests that need the kernel and find none skip with the no-kernel
// banner, so that they pass on a host without one; CI has one and allows no
// skips in the examples.
package testkernel

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/ktest-dev/ktest/internal/cache"
)

// EnvTestKernel is the variable a caller sets to choose the kernel.
const EnvTestKernel = "KTSTR_TEST_KERNEL"

// ErrNone reports that no test kernel was found anywhere.
var ErrNone = errors.New("no test kernel: set KTSTR_TEST_KERNEL=/path/to/bzImage, or put one in the kernel cache (scripts/setup.sh does)")

// Lookup returns the test kernel's path. It returns an error wrapping ErrNone
// when there is none, and another error when KTSTR_TEST_KERNEL is set but
// unusable or the cache cannot be read.
func Lookup() (string, error) {
	if p := os.Getenv(EnvTestKernel); p != "" {
		st, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("%s is set but unusable: %w", EnvTestKernel, err)
		}
		if !st.Mode().IsRegular() {
			return "", fmt.Errorf("%s=%s is not a regular file", EnvTestKernel, p)
		}
		return p, nil
	}
	root, err := cache.RootFromLookupEnv(os.LookupEnv)
	if err != nil {
		return "", fmt.Errorf("find test kernel: %w", err)
	}
	c, err := cache.OpenReadOnly(root)
	if err != nil {
		return "", fmt.Errorf("find test kernel: %w", err)
	}
	entries, err := c.List()
	if err != nil {
		return "", fmt.Errorf("find test kernel: %w", err)
	}
	for _, e := range entries {
		if e.Valid() && e.Metadata.Arch == cache.HostArch() {
			return e.ImagePath(), nil
		}
	}
	return "", fmt.Errorf("%w (cache %s has no valid %s entry)", ErrNone, root, cache.HostArch())
}

// Path returns the test kernel's path. It skips the test with the no-kernel
// banner when there is none, and fails it when the configuration is broken.
func Path(t testing.TB) string {
	t.Helper()
	p, err := Lookup()
	switch {
	case errors.Is(err, ErrNone):
		t.Skipf("ktest: SKIP: no-kernel: %v", err)
	case err != nil:
		t.Fatal(err)
	}
	return p
}
