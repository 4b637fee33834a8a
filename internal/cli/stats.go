package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ktest-dev/ktest/internal/outfile"
	"github.com/ktest-dev/ktest/internal/skipreport"
	"github.com/ktest-dev/ktest/internal/termtext"
)

const statsUsage = `usage: ktest stats [--dir DIR]... [--since DUR] [--top N] [--json] [--html FILE]

Summarises the sidecars ktest writes for each run (run.json and skips/*.json):
runs and verdicts; passed, failed and skipped tests; the skip rate by
category, package, kernel, host and run source; the most-skipped tests; the
cache-lock wait (p50, p95, max) and the processes holding the lock; and a
per-day trend.

Each DIR is a sidecar directory holding run directories (<UTC stamp>-<hex>/),
or a single run directory. Repeat --dir to merge the directories of several
shards or machines. Without --dir: $KTEST_SIDECAR_DIR, else .ktest/runs under
the main module root (where ktest writes them).

Files that cannot be used (corrupt or truncated JSON, a newer ktest's schema,
files ktest does not write) and runs without run.json are counted and listed,
never fatal. A directory without runs prints "no runs found under DIR" and
exits 0; --json then prints the document with zero counts.

Examples:
  ktest stats
  ktest stats --since 7d
  ktest stats --dir shard-1/.ktest/runs --dir shard-2/.ktest/runs
  ktest stats --json > stats.json        # schema ktest.stats/v1, see docs/stats-schema.md
  ktest stats --since 30d --html stats.html

Flags:
`

// statsFlags are the flags of ktest stats.
type statsFlags struct {
	set   *flag.FlagSet
	dirs  dirList
	since string
	top   int
	json  bool
	html  string
	help  bool
}

// dirList is a repeatable --dir.
type dirList []string

func (d *dirList) String() string { return strings.Join(*d, ",") }

func (d *dirList) Set(v string) error {
	if v == "" {
		return errors.New("empty directory")
	}
	*d = append(*d, v)
	return nil
}

func newStatsFlags() *statsFlags {
	f := &statsFlags{set: flag.NewFlagSet("ktest stats", flag.ContinueOnError)}
	f.set.SetOutput(io.Discard)
	f.set.Var(&f.dirs, "dir", "read sidecars from `DIR` (repeatable; default $KTEST_SIDECAR_DIR, else .ktest/runs)")
	f.set.StringVar(&f.since, "since", "", "only runs started within `DUR` (7d, 24h, 30m, 1d12h) or since a UTC date (2026-11-28)")
	f.set.IntVar(&f.top, "top", 10, "list at most `N` packages, kernels, hosts, tests and lock holders; 0 for all")
	f.set.BoolVar(&f.json, "json", false, "print the ktest.stats/v1 JSON document instead of tables")
	f.set.StringVar(&f.html, "html", "", "also write a self-contained HTML report with charts to `FILE`")
	f.set.BoolVar(&f.help, "help", false, "print this help")
	return f
}

func (f *statsFlags) parse(args []string) error {
	if err := f.set.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.help = true
			return nil
		}
		return statsFlagError(err)
	}
	if f.set.NArg() > 0 {
		return fmt.Errorf("ktest stats takes no arguments, got %s: name sidecar directories with --dir DIR", termtext.Quote(f.set.Arg(0)))
	}
	if f.top < 0 {
		return fmt.Errorf("invalid --top %d: want 0 (all) or a positive count", f.top)
	}
	return nil
}

// statsFlagError rewords the flag package's errors in ktest's terms
// (two-dash flags, what to do next).
func statsFlagError(err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return fmt.Errorf("unknown ktest stats flag --%s; the flags are --dir, --since, --top, --json and --html (see ktest stats --help)", strings.TrimLeft(name, "-"))
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return fmt.Errorf("--%s needs a value; see ktest stats --help", strings.TrimLeft(name, "-"))
	}
	msg = strings.Replace(msg, " for flag -", " for --", 1)
	return fmt.Errorf("ktest stats: %s; see ktest stats --help", msg)
}

func printStatsHelp(w io.Writer) error {
	var b strings.Builder
	b.WriteString(statsUsage)
	writeFlags(&b, newStatsFlags().set)
	b.WriteString("\n" + exitCodeTable)
	_, err := io.WriteString(w, b.String())
	return err
}

// runStats is `ktest stats`. Errors (a --dir that does not exist, a bad
// flag, an HTML file that cannot be written) are returned; main prints them
// and exits 3.
func runStats(ctx context.Context, args []string, stdio IO) error {
	f := newStatsFlags()
	if err := f.parse(args); err != nil {
		return err
	}
	if f.help {
		return printStatsHelp(stdio.Stdout)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var since time.Time
	if f.since != "" {
		var err error
		if since, err = skipreport.ParseSince(f.since, now); err != nil {
			return err
		}
	}
	dirs, existing, err := statsDirs(f.dirs)
	if err != nil {
		return err
	}
	runDirs, err := skipreport.FindRunDirs(existing)
	if err != nil {
		return err
	}
	var html *outfile.File
	if f.html != "" {
		// Opened before the sidecars are read: a report that cannot
		// be written fails now, and the old one stays until the new
		// one is complete.
		if html, err = outfile.Create(ctx, f.html, outfile.Options{}); err != nil {
			return fmt.Errorf("--html %w", err)
		}
		defer html.Abort()
	}
	if os.Getenv("GOGC") == "" {
		// Reading 100k sidecars allocates a few hundred MB in short-lived
		// garbage; fewer collections make it about 15% cheaper, for a
		// bounded, short-lived rise in memory. GOGC still wins.
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	s := skipreport.ComputeStats(skipreport.ReadRunDirs(runDirs), skipreport.StatsOptions{
		Dirs: dirs, Since: since, Now: now, Top: f.top,
	})

	if html != nil {
		var page bytes.Buffer
		if err := skipreport.WriteStatsHTML(&page, s); err != nil {
			return err
		}
		if _, err := html.Write(page.Bytes()); err != nil {
			return fmt.Errorf("--html %w", err)
		}
		if err := html.Commit(); err != nil {
			return fmt.Errorf("--html %w", err)
		}
	}
	if f.json {
		data, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return fmt.Errorf("encode stats JSON: %w", err)
		}
		if _, err := stdio.Stdout.Write(append(data, '\n')); err != nil {
			return err
		}
		if s.Runs.Total == 0 {
			fmt.Fprintf(stdio.Stderr, "ktest: no runs found under %s\n", echo(strings.Join(dirs, ", ")))
		}
	} else if err := skipreport.WriteStatsText(stdio.Stdout, s); err != nil {
		return err
	}
	if f.html != "" {
		fmt.Fprintf(stdio.Stderr, "ktest: wrote HTML report %s\n", echo(f.html))
	}
	return nil
}

// statsDirs resolves the directories to read (docs/spec.md §8 order): --dir, else
// KTEST_SIDECAR_DIR, else .ktest/runs under the main module root. It returns
// them for the report, and those that exist for reading. A --dir must
// exist; the default may be missing (nothing ran yet), which reports no
// runs.
func statsDirs(given []string) (dirs, existing []string, err error) {
	if len(given) > 0 {
		for _, d := range given {
			fi, err := os.Stat(d)
			switch {
			case errors.Is(err, os.ErrNotExist):
				return nil, nil, fmt.Errorf("--dir %s: no such directory (name a sidecar directory: a run's --sidecar-dir, or .ktest/runs under a module root)", echo(d))
			case err != nil:
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err // the path is echoed, cut, already
				}
				return nil, nil, fmt.Errorf("--dir %s: %w", echo(d), err)
			case !fi.IsDir():
				return nil, nil, fmt.Errorf("--dir %s: not a directory (name the directory holding run directories, or one run directory)", echo(d))
			}
		}
		return given, given, nil
	}
	dir := os.Getenv("KTEST_SIDECAR_DIR")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, nil, fmt.Errorf("find the sidecar directory: %w (use --dir)", err)
		}
		dir = skipreport.DefaultBase(wd)
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return []string{dir}, nil, nil
	}
	return []string{dir}, []string{dir}, nil
}
