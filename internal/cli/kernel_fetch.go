package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/term"

	"github.com/ktest-dev/ktest/internal/kernelfetch"
	"github.com/ktest-dev/ktest/internal/kernelfetch/debian"
)

const kernelFetchUsage = `usage: ktest kernel fetch [--list] [--refresh] [--json] [--lock-timeout DUR] SPEC...

Downloads Debian kernel packages and stores each kernel in the cache, with
its vmlinux (extracted from the bzImage), its modules (with generated
modules.dep and modules.alias) and its config. Prints each kernel's cache
key, and only the keys, on stdout.

SPEC is a kernel line or version (6.1, 6.12, 7.2, 7.3-rc), a Debian suite
(bookworm, bookworm-backports, trixie, sid, experimental), an exact Debian
package version (6.1.176-1, 7.3~rc7-1~exp1) or a kernel release
(6.1.0-50-cloud-amd64). A version takes the newest matching package of all
suites; a suite takes what its linux-image-cloud-amd64 depends on.

Packages come from http://deb.debian.org/debian (KTEST_DEBIAN_MIRROR), are
verified by apt against the Debian archive keyring (KTEST_DEBIAN_KEYRING)
under a private apt configuration in ktest's cache directory
($XDG_CACHE_HOME/ktest/apt); the host's apt state is never read or
written. Keys are RELEASE-deb-VERSION, e.g.
6.12.117+deb13-cloud-amd64-deb-6.12.117-1. A kernel already cached is not
downloaded again: the package index is kept for 24h (--refresh renews it),
and an exact package version is answered from the cache alone.

Flags:
  --list               show the matching kernels (all with no SPEC); download nothing
  --json               with --list: JSON (ktest.kernel-fetch-list/v1)
  --refresh            update the package index first
  --lock-timeout DUR   wait at most DUR for another fetch of the same kernel (default 10m)

Environment: KTEST_DEBIAN_MIRROR, KTEST_DEBIAN_KEYRING, and
KTEST_APT_MIN_VALID_TIME (e.g. 60d: accept an expired Release file of a
frozen mirror you trust).

Examples:
  ktest kernel fetch 6.1 6.12
  ktest kernel fetch --list 7
  ktest kernel fetch sid
  ktest --kernel 6.12 --fetch ./...
`

type fetchRequest struct {
	list, json, refresh bool
	lockTimeout         time.Duration
	specs               []kernelfetch.Spec
}

func runKernelFetch(ctx context.Context, args []string, stdio IO) error {
	f := newSubFlags("kernel fetch")
	var req fetchRequest
	var timeout string
	f.boolFlag(&req.list, "list", "show what is available, download nothing")
	f.boolFlag(&req.json, "json", "with --list, print JSON")
	f.boolFlag(&req.refresh, "refresh", "update the package index first")
	f.stringFlag(&timeout, "lock-timeout", "wait at most `DUR` for the entry's lock", "a duration such as 10m")
	pos, help, err := f.parse(args)
	if err != nil {
		return err
	}
	if help {
		return f.printUsage(stdio.Stdout, kernelFetchUsage)
	}
	if timeout != "" {
		if req.lockTimeout, err = time.ParseDuration(timeout); err != nil || req.lockTimeout < 0 {
			return fmt.Errorf("kernel fetch: invalid value %q for --lock-timeout: want a duration such as 10m", timeout)
		}
	}
	if req.json && !req.list {
		return errors.New("kernel fetch: --json goes with --list")
	}
	if len(pos) == 0 && !req.list {
		return errors.New("kernel fetch: no SPEC given, e.g. ktest kernel fetch 6.12 (ktest kernel fetch --list shows what exists)")
	}
	for _, p := range pos {
		spec, err := kernelfetch.ParseSpec(p)
		if err != nil {
			return fmt.Errorf("kernel fetch: %w", err)
		}
		req.specs = append(req.specs, spec)
	}
	src, cfg, err := newDebianSource(stdio.Stderr)
	if err != nil {
		return err
	}
	return fetchInterruptible(ctx, stdio.Stderr, func(ctx context.Context) error {
		return fetchAll(ctx, src, cfg, req, stdio)
	})
}

func fetchAll(ctx context.Context, src *debian.Source, cfg *debian.Config, req fetchRequest, stdio IO) error {
	if req.list {
		return listFetchable(ctx, src, req, stdio)
	}
	c, err := openKernelCache(true)
	if err != nil {
		return err
	}
	fetcher := &kernelfetch.Fetcher{Cache: c, Source: src, Refresh: req.refresh, LockTimeout: req.lockTimeout,
		WorkDir: filepath.Join(cfg.Dir, "work"), Notes: stdio.Stderr}
	var errs *multierror.Error
	for _, spec := range req.specs {
		start := time.Now()
		res, err := fetcher.Fetch(ctx, spec)
		if err != nil {
			errs = multierror.Append(errs, fmt.Errorf("kernel fetch %s: %w", spec.Raw, err))
			continue
		}
		reportFetch(stdio.Stderr, spec, res, time.Since(start))
		fmt.Fprintln(stdio.Stdout, res.Key)
	}
	if errs != nil {
		if len(errs.Errors) == 1 {
			return errs.Errors[0]
		}
		errs.ErrorFormat = func(es []error) string {
			var msgs []string
			for _, e := range es {
				msgs = append(msgs, e.Error())
			}
			return strings.Join(msgs, "\n")
		}
		return errs.ErrorOrNil()
	}
	return nil
}

// fetchLive reports whether apt may draw its progress: stderr is a terminal
// and this is not CI.
func fetchLive(w io.Writer) bool {
	if os.Getenv("CI") != "" || os.Getenv("KTSTR_CI") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && f != nil && term.IsTerminal(int(f.Fd()))
}

func newDebianSource(stderr io.Writer) (*debian.Source, *debian.Config, error) {
	cfg, err := debian.ConfigFromEnv(os.LookupEnv)
	if err != nil {
		return nil, nil, fmt.Errorf("kernel fetch: %w", err)
	}
	cfg.Notes = stderr
	if fetchLive(stderr) {
		cfg.Live = stderr
	}
	src, err := debian.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	return src, cfg, nil
}

func reportFetch(w io.Writer, spec kernelfetch.Spec, res kernelfetch.Result, took time.Duration) {
	if !res.Downloaded {
		fmt.Fprintf(w, "ktest: %s: %s is already cached; nothing downloaded\n", spec.Raw, res.Key)
		return
	}
	vml := "no vmlinux"
	if res.Vmlinux.Size > 0 {
		strip := "with symbols"
		if res.Vmlinux.Stripped {
			strip = "stripped"
		}
		vml = fmt.Sprintf("vmlinux from %s, %s, %s", res.Vmlinux.Format, kernelfetch.HumanBytes(res.Vmlinux.Size), strip)
	}
	fmt.Fprintf(w, "ktest: %s: fetched %s (%s from %s, %s layout, %d modules, %s) in %.1fs\n",
		spec.Raw, res.Key, res.Candidate.Version, res.Candidate.Suite, res.Candidate.Layout, res.Modules, vml, took.Seconds())
}

// fetchList is `kernel fetch --list --json`.
type fetchList struct {
	Schema  string          `json:"schema"`
	Kernels []fetchListItem `json:"kernels"`
}

type fetchListItem struct {
	kernelfetch.Candidate
	Spec   string `json:"spec"`
	Size   int64  `json:"size"`
	Cached bool   `json:"cached"`
}

func listFetchable(ctx context.Context, src *debian.Source, req fetchRequest, stdio IO) error {
	specs := req.specs
	if len(specs) == 0 {
		specs = []kernelfetch.Spec{{}}
	}
	c, _ := openKernelCache(false)
	var items []fetchListItem
	for _, spec := range specs {
		cands, err := src.Resolve(ctx, spec, req.refresh)
		if err != nil {
			return fmt.Errorf("kernel fetch --list %s: %w", spec.Raw, err)
		}
		for _, cd := range cands {
			it := fetchListItem{Candidate: cd, Spec: spec.Raw, Size: cd.Size()}
			if c != nil {
				if e, err := c.Lookup(cd.Key); err == nil {
					it.Cached = kernelfetch.Complete(e)
				}
			}
			items = append(items, it)
		}
	}
	if req.json {
		enc := json.NewEncoder(stdio.Stdout)
		enc.SetIndent("", "  ")
		if items == nil {
			items = []fetchListItem{}
		}
		return enc.Encode(fetchList{Schema: "ktest.kernel-fetch-list/v1", Kernels: items})
	}
	tw := tabwriter.NewWriter(stdio.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tPACKAGE VERSION\tSUITE\tLAYOUT\tDOWNLOAD\tCACHED\tKEY")
	for _, it := range items {
		cached := "-"
		if it.Cached {
			cached = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Upstream, it.Version, it.Suite, it.Layout, kernelfetch.HumanBytes(it.Size), cached, it.Key)
	}
	return tw.Flush()
}
