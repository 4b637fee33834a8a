package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/kernelfetch"
	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/runner"
)

// EnvFetch turns --fetch on for runs (docs/spec.md §13): "1" or "true".
const EnvFetch = "KTEST_FETCH"

// fetchForRun is the run form's --fetch (or KTEST_FETCH=1): each --kernel
// that is a version no valid cache entry matches is fetched first, in the
// order given, as `ktest kernel fetch VERSION` would (under the entry's
// LOCK_EX, so that concurrent runs download it once). Resolution then
// finds it as usual. Other kernel IDs, and a version already cached, fetch
// nothing; --dry-run only says what it would fetch.
func fetchForRun(ctx context.Context, flag bool, opts runner.Options, stderr io.Writer) error {
	on := flag
	switch v := os.Getenv(EnvFetch); v {
	case "", "0", "false":
	case "1", "true":
		on = true
	default:
		return fmt.Errorf("%s=%q: want 1 (fetch a missing --kernel version first) or 0", EnvFetch, v)
	}
	if !on {
		return nil
	}
	for _, id := range opts.Kernels {
		if err := fetchKernelForRun(ctx, id, opts.DryRun, stderr); err != nil {
			return err
		}
	}
	return nil
}

// fetchKernelForRun fetches the --kernel version id unless it is cached.
func fetchKernelForRun(ctx context.Context, id string, dryRun bool, stderr io.Writer) error {
	if !preflight.IsVersionID(id) {
		return nil
	}
	if c, err := openKernelCache(false); err == nil {
		if entries, err := c.List(); err == nil {
			if best, _ := preflight.NewestWithVersion(entries, id); best != nil {
				return nil
			}
		}
	}
	if dryRun {
		fmt.Fprintf(stderr, "ktest: --fetch: no cached kernel matches %s; a run would fetch it first (ktest kernel fetch %s)\n", id, id)
		return nil
	}
	spec, err := kernelfetch.ParseSpec(id)
	if err != nil {
		return fmt.Errorf("--fetch: %w", err)
	}
	src, cfg, err := newDebianSource(stderr)
	if err != nil {
		return hint.Wrap(fmt.Errorf("--fetch --kernel %s: %w", id, err), "or put the kernel in the cache yourself and drop --fetch")
	}
	c, err := openKernelCache(true)
	if err != nil {
		return err
	}
	f := &kernelfetch.Fetcher{Cache: c, Source: src, WorkDir: filepath.Join(cfg.Dir, "work"), Notes: stderr}
	return fetchInterruptible(ctx, stderr, func(ctx context.Context) error {
		res, err := f.Fetch(ctx, spec)
		if err != nil {
			return fmt.Errorf("--fetch --kernel %s: %w", id, err)
		}
		if res.Downloaded {
			fmt.Fprintf(stderr, "ktest: --fetch: fetched %s for --kernel %s\n", res.Key, id)
		}
		return nil
	})
}

// fetchInterruptible runs fn with a context that SIGINT, SIGTERM and SIGHUP
// cancel, so that apt (in its own process group) is killed and nothing is
// stored; the signal then becomes ktest's 128+N exit status.
func fetchInterruptible(ctx context.Context, stderr io.Writer, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigc)
	var got atomic.Value
	go func() {
		select {
		case s := <-sigc:
			got.Store(s)
			cancel()
		case <-ctx.Done():
		}
	}()
	err := fn(ctx)
	if s, ok := got.Load().(os.Signal); ok {
		fmt.Fprintf(stderr, "ktest: kernel fetch interrupted by %v; apt was stopped and nothing partial was stored\n", s)
		return &runner.InterruptedError{Signal: s}
	}
	return err
}
