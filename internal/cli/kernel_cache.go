package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/hint"
)

// cacheRootHint is attached to every failure to find or open the cache root.
const cacheRootHint = "point KTSTR_CACHE_DIR at a writable directory on a local filesystem, e.g. KTSTR_CACHE_DIR=/tmp/ktstr-cache"

// openKernelCache resolves the cache root from the environment (docs/spec.md §7)
// and opens it: read-only commands (list, path, locks) create nothing and
// see a missing root as empty; writing commands (add, rm, clean) create the
// root and refuse one they cannot write or lock.
func openKernelCache(write bool) (*cache.Cache, error) {
	root, err := cache.RootFromLookupEnv(os.LookupEnv)
	if err != nil {
		return nil, err // the message names the variable and the fix
	}
	var c *cache.Cache
	if write {
		c, err = cache.Open(root)
	} else {
		c, err = cache.OpenReadOnly(root)
	}
	if err != nil {
		return nil, hint.Wrap(err, cacheRootHint)
	}
	return c, nil
}

// printCacheRoot writes "cache: ROOT" to w (stderr), so that stdout stays
// clean for scripts while a person still sees which cache was used.
func printCacheRoot(w io.Writer, c *cache.Cache) {
	fmt.Fprintf(w, "cache: %s\n", c.Root)
}

// formatHolderList is "pid=N cmd=CMDLINE; pid=M cmd=..." or "-" when nobody
// holds the lock.
func formatHolderList(hs []cache.Holder) string {
	if len(hs) == 0 {
		return "-"
	}
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = h.String()
	}
	return strings.Join(parts, "; ")
}

// humanBytes formats n with a binary unit, e.g. "7.9 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
