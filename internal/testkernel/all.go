package testkernel

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ktest-dev/ktest/internal/cache"
)

// Cache is a kernel cache and its valid entries of the host architecture,
// for tests that boot every kernel there is rather than one.
type Cache struct {
	// Root is the cache root, for KTSTR_CACHE_DIR of a ktest run.
	Root string
	// Entries are in the order cache.List returns them.
	Entries []cache.Entry
}

// All returns the cache the test kernel comes from, with every valid entry
// of the host architecture: the cache holding KTSTR_TEST_KERNEL when that
// names an entry's image ({root}/{key}/bzImage), else the cache Lookup
// reads. When KTSTR_TEST_KERNEL names a file outside any cache, there is no
// cache to list and All returns an error wrapping ErrNone, as it does when
// the cache has no valid entry. Nothing is created or locked.
func All() (Cache, error) {
	root, err := cache.RootFromLookupEnv(os.LookupEnv)
	if p := os.Getenv(EnvTestKernel); p != "" {
		if _, lerr := Lookup(); lerr != nil {
			return Cache{}, lerr
		}
		abs, aerr := filepath.Abs(p)
		if aerr != nil {
			return Cache{}, fmt.Errorf("list test kernels: %w", aerr)
		}
		root, err = filepath.Dir(filepath.Dir(abs)), nil
	}
	if err != nil {
		return Cache{}, fmt.Errorf("list test kernels: %w", err)
	}
	c, err := cache.OpenReadOnly(root)
	if err != nil {
		return Cache{}, fmt.Errorf("list test kernels: %w", err)
	}
	entries, err := c.List()
	if err != nil {
		return Cache{}, fmt.Errorf("list test kernels: %w", err)
	}
	out := Cache{Root: c.Root}
	for _, e := range entries {
		if e.Valid() && e.Metadata.Arch == cache.HostArch() {
			out.Entries = append(out.Entries, e)
		}
	}
	if len(out.Entries) == 0 {
		return Cache{}, fmt.Errorf("%w (cache %s has no valid %s entry)", ErrNone, root, cache.HostArch())
	}
	return out, nil
}
