package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/hint"
)

const kernelRmUsage = `usage: ktest kernel rm KEY...

Removes the named cache entries (keys as shown by ktest kernel list, corrupt
entries included). Each removal takes the entry's lock without waiting: an
entry in use by a run (or being replaced) is skipped and reported with the
processes holding it, and the command exits 3 after handling the other keys.
An unknown key is an error too. Prints "removed KEY" for each entry removed.

Examples:
  ktest kernel rm 6.9.0-image-x86_64-0123abcd
  ktest kernel rm $(ktest kernel list --json | jq -r '.entries[] | select(.valid | not) | .key')
`

func runKernelRm(_ context.Context, args []string, stdio IO) error {
	f := newSubFlags("kernel rm")
	keys, help, err := f.parse(args)
	if err != nil {
		return err
	}
	if help {
		return f.printUsage(stdio.Stdout, kernelRmUsage)
	}
	if len(keys) == 0 {
		return hint.Wrap(errors.New("kernel rm: no KEY given, e.g. ktest kernel rm 6.9.0-image-x86_64-0123abcd"),
			"ktest kernel list shows the keys")
	}
	c, err := openKernelCache(true)
	if err != nil {
		return err
	}
	// Refuse every malformed key before removing anything: a typo in one
	// argument must not be discovered after the others are gone.
	for _, key := range keys {
		if err := checkRemovableKey(c, key); err != nil {
			return err
		}
	}
	var failed []string
	var hints []string
	for _, key := range keys {
		err := c.Remove(key)
		var inUse *cache.InUseError
		switch {
		case err == nil:
			fmt.Fprintf(stdio.Stdout, "removed %s\n", key)
		case errors.As(err, &inUse):
			fmt.Fprintf(stdio.Stderr, "ktest: %s is in use, not removed (lockfile %s, holders: %s)\n", key, inUse.LockPath, formatHolderList(inUse.Holders))
			failed = append(failed, fmt.Sprintf("%s (in use)", key))
			hints = append(hints, "wait for the runs holding an entry to finish (ktest locks shows them), then retry")
		case errors.Is(err, cache.ErrNotFound):
			fmt.Fprintf(stdio.Stderr, "ktest: no cache entry %q in %s\n", key, c.Root)
			failed = append(failed, fmt.Sprintf("%s (no such entry)", key))
			hints = append(hints, "ktest kernel list shows the keys")
		default:
			fmt.Fprintf(stdio.Stderr, "ktest: %v\n", err)
			failed = append(failed, fmt.Sprintf("%s (%v)", key, err))
		}
	}
	if len(failed) > 0 {
		return hint.Wrap(fmt.Errorf("kernel rm: %d of %d entries not removed: %s", len(failed), len(keys), strings.Join(failed, ", ")), hints...)
	}
	return nil
}

// checkRemovableKey accepts a valid cache key, or the name of an existing
// entry directory that ktstr or a person created with a name ktest would
// not choose (anything List shows can be removed). Everything else, in
// particular a path, gets ValidateKey's explanation.
func checkRemovableKey(c *cache.Cache, key string) error {
	err := cache.ValidateKey(key)
	if err == nil {
		return nil
	}
	if key != "" && !strings.HasPrefix(key, ".") && !strings.ContainsAny(key, "/\x00") && len(key) <= 250 {
		if st, serr := os.Lstat(filepath.Join(c.Root, key)); serr == nil && st.IsDir() {
			return nil
		}
	}
	return hint.Wrap(fmt.Errorf("kernel rm: %w", err), "ktest kernel list shows the keys")
}
