package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/kernelimage"
	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/termtext"
)

const kernelPathUsage = `usage: ktest kernel path ID

Prints the absolute path of a cached kernel image, for scripts. ID is a
cache key, or a version MAJOR.MINOR[.PATCH][-rcN], which selects the newest
valid entry whose version matches it as a prefix ending at a version
component (6.1 matches 6.1.0-56-cloud-amd64 but not 6.10.2), as --kernel
does. The image is validated before it is printed.

Examples:
  ktest kernel path 6.1
  ktest kernel path 6.9.0-image-x86_64-0123abcd
  qemu-system-x86_64 -kernel "$(ktest kernel path 6.1)" ...
`

func runKernelPath(_ context.Context, args []string, stdio IO) error {
	f := newSubFlags("kernel path")
	pos, help, err := f.parse(args)
	if err != nil {
		return err
	}
	if help {
		return f.printUsage(stdio.Stdout, kernelPathUsage)
	}
	switch {
	case len(pos) == 0:
		return errors.New("kernel path: no ID given; give a cache key or a version such as 6.1 (ktest kernel list shows them)")
	case len(pos) > 1:
		return fmt.Errorf("kernel path: takes one ID, got %d arguments (%s)", len(pos), echo(strings.Join(pos, " ")))
	case strings.Contains(pos[0], "/") || strings.HasPrefix(pos[0], "~"):
		return fmt.Errorf("kernel path: %s is a path; ID is a cache key or a version such as 6.1 (ktest kernel list shows them)", termtext.Quote(pos[0]))
	}
	c, err := openKernelCache(false)
	if err != nil {
		return err
	}
	id := pos[0]
	var e cache.Entry
	if preflight.IsVersionID(id) {
		e, err = newestWithVersion(c, id)
	} else {
		e, err = lookupKey(c, id)
	}
	if err != nil {
		return err
	}
	if _, err := kernelimage.Inspect(e.ImagePath()); err != nil {
		return hint.Wrap(fmt.Errorf("kernel path %s: cache entry %s: %w", id, e.Key, err),
			"remove it with ktest kernel rm "+e.Key+" and add the image again")
	}
	_, err = fmt.Fprintln(stdio.Stdout, e.ImagePath())
	return err
}

func lookupKey(c *cache.Cache, key string) (cache.Entry, error) {
	if err := cache.ValidateKey(key); err != nil {
		return cache.Entry{}, fmt.Errorf("kernel path: %s is neither a version (MAJOR.MINOR[.PATCH][-rcN]) nor a valid cache key: %w", termtext.Quote(key), err)
	}
	e, err := c.Lookup(key)
	switch {
	case errors.Is(err, cache.ErrNotFound):
		return e, hint.Wrap(fmt.Errorf("kernel path: no cache entry %s in %s", termtext.Quote(key), echo(c.Root)), "ktest kernel list shows the keys")
	case errors.Is(err, cache.ErrCorrupt):
		return e, hint.Wrap(fmt.Errorf("kernel path: %w", err), "remove it with ktest kernel rm "+key+" and add the image again")
	case err != nil:
		return e, fmt.Errorf("kernel path: %w", err)
	}
	return e, nil
}

// newestWithVersion returns the newest valid entry (List's order) whose
// version matches want.
func newestWithVersion(c *cache.Cache, want string) (cache.Entry, error) {
	entries, err := c.List()
	if err != nil {
		return cache.Entry{}, fmt.Errorf("kernel path: %w", err)
	}
	// The newest matching version, as --kernel picks it.
	best, versions := preflight.NewestWithVersion(entries, want)
	seen := make([]string, len(versions))
	for i, v := range versions {
		seen[i] = termtext.Line(v)
	}
	if best != nil {
		return *best, nil
	}
	msg := fmt.Sprintf("kernel path: no valid cache entry in %s has version %s", echo(c.Root), echo(want))
	if len(seen) > 0 {
		msg += " (cached versions: " + termtext.Clip(strings.Join(seen, ", "), 0) + ")"
	}
	return cache.Entry{}, hint.Wrap(errors.New(msg), "fetch one with ktest kernel fetch "+echo(want)+", or add one with ktest kernel add IMAGE")
}
