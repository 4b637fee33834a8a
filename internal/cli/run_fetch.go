package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/kernelfetch"
	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/runner"
)

// EnvFetch turns --fetch on for runs (docs/spec.md §13): "1" or "true".
const EnvFetch = "KTEST_FETCH"

// fetchForRun is the run form's --fetch (or KTEST_FETCH=1): when --kernel
// is a version that no valid cache entry matches, it is fetched first, as
// `ktest kernel fetch VERSION` would (under the entry's LOCK_EX, so that
// concurrent runs download it once). Resolution then finds it as usual.
// Other kernel IDs, and a version already cached, fetch nothing; --dry-run
// only says what it would fetch.
func fetchForRun(ctx context.Context, flag bool, opts runner.Options, stderr io.Writer) error {
	on := flag
	switch v := os.Getenv(EnvFetch); v {
	case "", "0", "false":
	case "1", "true":
		on = true
	default:
		return fmt.Errorf("%s=%q: want 1 (fetch a missing --kernel version first) or 0", EnvFetch, v)
	}
	if !on || !preflight.IsVersionID(opts.Kernel) {
		return nil
	}
	if c, err := openKernelCache(false); err == nil {
		if entries, err := c.List(); err == nil {
			for _, e := range entries {
				if e.Valid() && e.Metadata.Version != nil && preflight.VersionMatches(*e.Metadata.Version, opts.Kernel) {
					return nil
				}
			}
		}
	}
	if opts.DryRun {
		fmt.Fprintf(stderr, "ktest: --fetch: no cached kernel matches %s; a run would fetch it first (ktest kernel fetch %s)\n", opts.Kernel, opts.Kernel)
		return nil
	}
	spec, err := kernelfetch.ParseSpec(opts.Kernel)
	if err != nil {
		return fmt.Errorf("--fetch: %w", err)
	}
	src, cfg, err := newDebianSource(stderr)
	if err != nil {
		return hint.Wrap(fmt.Errorf("--fetch --kernel %s: %w", opts.Kernel, err), "or put the kernel in the cache yourself and drop --fetch")
	}
	c, err := openKernelCache(true)
	if err != nil {
		return err
	}
	f := &kernelfetch.Fetcher{Cache: c, Source: src, WorkDir: filepath.Join(cfg.Dir, "work"), Notes: stderr}
	res, err := f.Fetch(ctx, spec)
	if err != nil {
		return fmt.Errorf("--fetch --kernel %s: %w", opts.Kernel, err)
	}
	if res.Downloaded {
		fmt.Fprintf(stderr, "ktest: --fetch: fetched %s for --kernel %s\n", res.Key, opts.Kernel)
	}
	return nil
}
