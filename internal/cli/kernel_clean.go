package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/termtext"
)

const kernelCleanUsage = `usage: ktest kernel clean [--keep N] [--corrupt-only] [--force] [--dry-run]

Removes cache entries: by default every entry except the newest N valid ones
(--keep, default 0: all), always including corrupt ones; with --corrupt-only
only the corrupt ones. It prints the plan, then asks for confirmation when
stdin is a terminal; without a terminal (CI, scripts) it refuses unless
--force is given. --dry-run prints the plan and removes nothing.

Each removal takes the entry's lock without waiting: an entry in use by a run
is skipped and reported with its holders, which is not an error (exit 0).
A directory with no ktest or ktstr traces (no ktstr metadata.json, kernel
image or lockfile) is never removed on a plan's say-so: on a terminal clean
asks about each one, and otherwise (--force included) it is left and
reported. Debris of dead processes (staging .tmp-*, removal .rm-*, write
probes .probe-*) is swept when it is provably unused; other debris is
reported with the reason it was left. The report lists each entry as
removed, kept, in use or left.

A cache root that is /, $HOME or a version-control checkout is refused, and
so is a directory that does not look like a kernel cache at all (no .locks
and no entry with traces).

Examples:
  ktest kernel clean --dry-run
  ktest kernel clean --keep 2
  ktest kernel clean --corrupt-only --force
`

type cleanRequest struct {
	opts   cache.CleanOptions
	force  bool
	dryRun bool
}

func runKernelClean(_ context.Context, args []string, stdio IO) error {
	f := newSubFlags("kernel clean")
	var req cleanRequest
	f.intFlag(&req.opts.Keep, "keep", 0, "keep the newest `N` valid entries", "a whole number, 0 or more")
	f.boolFlag(&req.opts.CorruptOnly, "corrupt-only", "remove only corrupt entries")
	f.boolFlag(&req.force, "force", "do not ask for confirmation (required when stdin is not a terminal)")
	f.boolFlag(&req.dryRun, "dry-run", "print what would be removed; remove nothing")
	pos, help, err := f.parse(args)
	if err != nil {
		return err
	}
	if help {
		return f.printUsage(stdio.Stdout, kernelCleanUsage)
	}
	if len(pos) > 0 {
		return fmt.Errorf("kernel clean: unexpected argument %q (it takes none); to remove particular entries use ktest kernel rm KEY...", pos[0])
	}
	if req.opts.Keep < 0 {
		return fmt.Errorf("kernel clean: invalid value %d for --keep: want a whole number, 0 or more", req.opts.Keep)
	}
	if req.opts.CorruptOnly && req.opts.Keep > 0 {
		return errors.New("kernel clean: --keep and --corrupt-only do not combine: --corrupt-only keeps every valid entry; drop one of them")
	}
	c, err := openKernelCache(true)
	if err != nil {
		return err
	}
	printCacheRoot(stdio.Stderr, c)
	return cleanCache(c, req, stdio)
}

// cleanCache plans with Clean's dry run, confirms, then removes exactly the
// planned entries: what the user agreed to is what gets removed, even if
// entries are added meanwhile. Directories without ktest or ktstr traces
// are removed only when the user confirms each one on a terminal; --force
// never removes them.
func cleanCache(c *cache.Cache, req cleanRequest, stdio IO) error {
	planOpts := req.opts
	planOpts.DryRun = true
	plan, err := c.Clean(planOpts)
	if err != nil {
		return fmt.Errorf("kernel clean: %w", err)
	}
	holders, _ := holdersByKey(c)
	if req.dryRun {
		for _, k := range plan.Removed {
			line := "would remove " + termtext.Line(k)
			if hs := holders[k]; len(hs) > 0 {
				line += " (in use now, would be skipped: " + formatHolderList(hs) + ")"
			}
			fmt.Fprintln(stdio.Stdout, line)
		}
		for _, k := range plan.Kept {
			fmt.Fprintf(stdio.Stdout, "would keep   %s\n", termtext.Line(k))
		}
		for _, k := range plan.Untraced {
			fmt.Fprintf(stdio.Stdout, "would leave  %s (%s)\n", termtext.Line(k), untracedNote)
		}
		for _, d := range plan.Debris {
			fmt.Fprintf(stdio.Stdout, "would sweep  %s\n", termtext.Line(d))
		}
		for _, d := range plan.DebrisLeft {
			fmt.Fprintf(stdio.Stdout, "would leave  %s (%s)\n", termtext.Line(d.Path), termtext.Line(d.Reason))
		}
		_, err := fmt.Fprintf(stdio.Stdout, "dry run: would remove %d, keep %d, leave %d without ktest traces, sweep %d debris; nothing removed\n",
			len(plan.Removed), len(plan.Kept), len(plan.Untraced), len(plan.Debris))
		return err
	}
	remove := plan.Removed
	var answers *bufio.Reader
	if len(plan.Removed) > 0 && !req.force {
		if !isTerminal(stdio.Stdin) {
			return errNoTerminal
		}
		answers = bufio.NewReader(stdio.Stdin)
		ok, err := confirmClean(c, plan, answers, stdio)
		if err != nil {
			return err
		}
		if !ok {
			remove = nil
		}
	}
	// Each directory without traces needs its own yes, on a terminal.
	var untraced []string
	for _, k := range plan.Untraced {
		if !isTerminal(stdio.Stdin) {
			untraced = append(untraced, k)
			continue
		}
		if answers == nil {
			answers = bufio.NewReader(stdio.Stdin)
		}
		ok, err := confirmUntraced(c, k, answers, stdio)
		if err != nil {
			return err
		}
		if ok {
			remove = append(remove, k)
		} else {
			untraced = append(untraced, k)
		}
	}
	if len(remove) == 0 && len(plan.Removed) > 0 && !req.force && len(untraced) == len(plan.Untraced) {
		_, err := fmt.Fprintln(stdio.Stdout, "nothing removed")
		return err
	}

	rep, err := c.RemoveEntries(remove)
	rep.Kept, rep.Untraced = plan.Kept, untraced
	printCleanReport(stdio.Stdout, rep)
	if err != nil {
		return fmt.Errorf("kernel clean: %w", err)
	}
	return nil
}

// untracedNote says why a directory was left.
const untracedNote = "no ktest or ktstr traces: no ktstr metadata.json, kernel image or lockfile; remove it yourself, or with ktest kernel rm KEY, if it is a cache entry"

func printCleanReport(w io.Writer, rep cache.CleanReport) {
	for _, k := range rep.Removed {
		fmt.Fprintf(w, "removed  %s\n", termtext.Line(k))
	}
	for _, k := range rep.Kept {
		fmt.Fprintf(w, "kept     %s\n", termtext.Line(k))
	}
	for _, e := range rep.InUse {
		fmt.Fprintf(w, "in use   %s (skipped; holders: %s)\n", termtext.Line(e.Key), formatHolderList(e.Holders))
	}
	for _, k := range rep.Untraced {
		fmt.Fprintf(w, "left     %s (%s)\n", termtext.Line(k), untracedNote)
	}
	for _, d := range rep.Debris {
		fmt.Fprintf(w, "swept    %s\n", termtext.Line(d))
	}
	for _, d := range rep.DebrisLeft {
		fmt.Fprintf(w, "left     %s (%s)\n", termtext.Line(d.Path), termtext.Line(d.Reason))
	}
	fmt.Fprintf(w, "clean: removed %d, kept %d, in use %d, debris swept %d\n", len(rep.Removed), len(rep.Kept), len(rep.InUse), len(rep.Debris))
}

// errNoTerminal is returned when clean would delete without --force and
// nobody can be asked.
var errNoTerminal = hint.Wrap(errors.New("refusing to delete without --force: stdin is not a terminal"),
	"review the plan with ktest kernel clean --dry-run, then rerun with --force")

// confirmClean shows the plan and asks on stderr for a y/N answer read from
// answers (a terminal: piped input is never taken as consent).
func confirmClean(c *cache.Cache, plan cache.CleanReport, answers *bufio.Reader, stdio IO) (bool, error) {
	for _, k := range plan.Removed {
		fmt.Fprintf(stdio.Stderr, "  remove %s\n", termtext.Line(k))
	}
	for _, k := range plan.Kept {
		fmt.Fprintf(stdio.Stderr, "  keep   %s\n", termtext.Line(k))
	}
	fmt.Fprintf(stdio.Stderr, "Remove %d cache entries from %s? [y/N] ", len(plan.Removed), c.Root)
	return readYes(answers)
}

// confirmUntraced asks about one directory without ktest or ktstr traces.
func confirmUntraced(c *cache.Cache, key string, answers *bufio.Reader, stdio IO) (bool, error) {
	fmt.Fprintf(stdio.Stderr, "%s/%s has no ktest or ktstr traces (no ktstr metadata.json, kernel image or lockfile): it may not be a cache entry. Remove this directory and everything in it? [y/N] ",
		termtext.Line(c.Root), termtext.Line(key))
	return readYes(answers)
}

// readYes reads one answer line: true for y or yes.
func readYes(answers *bufio.Reader) (bool, error) {
	line, err := answers.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("kernel clean: read the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// isTerminal reports whether r is a terminal (only an *os.File can be).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && f != nil && term.IsTerminal(int(f.Fd()))
}
