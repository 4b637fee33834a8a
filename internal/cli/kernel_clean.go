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
)

const kernelCleanUsage = `usage: ktest kernel clean [--keep N] [--corrupt-only] [--force] [--dry-run]

Removes cache entries: by default every entry except the newest N valid ones
(--keep, default 0: all), always including corrupt ones; with --corrupt-only
only the corrupt ones. It prints the plan, then asks for confirmation when
stdin is a terminal; without a terminal (CI, scripts) it refuses unless
--force is given. --dry-run prints the plan and removes nothing.

Each removal takes the entry's lock without waiting: an entry in use by a run
is skipped and reported with its holders, which is not an error (exit 0).
Leftover staging and removal directories of dead processes (.tmp-*, .rm-*)
are swept too. The report lists each entry as removed, kept or in use.

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
// entries are added meanwhile.
func cleanCache(c *cache.Cache, req cleanRequest, stdio IO) error {
	planOpts := req.opts
	planOpts.DryRun = true
	plan, err := c.Clean(planOpts)
	if err != nil {
		return err
	}
	holders, _ := holdersByKey(c)
	if req.dryRun {
		for _, k := range plan.Removed {
			line := "would remove " + k
			if hs := holders[k]; len(hs) > 0 {
				line += " (in use now, would be skipped: " + formatHolderList(hs) + ")"
			}
			fmt.Fprintln(stdio.Stdout, line)
		}
		for _, k := range plan.Kept {
			fmt.Fprintf(stdio.Stdout, "would keep   %s\n", k)
		}
		_, err := fmt.Fprintf(stdio.Stdout, "dry run: would remove %d, keep %d; nothing removed\n", len(plan.Removed), len(plan.Kept))
		return err
	}
	if len(plan.Removed) > 0 && !req.force {
		ok, err := confirmClean(c, plan, stdio)
		if err != nil {
			return err
		}
		if !ok {
			_, err := fmt.Fprintln(stdio.Stdout, "nothing removed")
			return err
		}
	}

	rep, err := c.RemoveEntries(plan.Removed)
	rep.Kept = plan.Kept
	printCleanReport(stdio.Stdout, rep)
	if err != nil {
		return fmt.Errorf("kernel clean: %w", err)
	}
	return nil
}

func printCleanReport(w io.Writer, rep cache.CleanReport) {
	for _, k := range rep.Removed {
		fmt.Fprintf(w, "removed  %s\n", k)
	}
	for _, k := range rep.Kept {
		fmt.Fprintf(w, "kept     %s\n", k)
	}
	for _, e := range rep.InUse {
		fmt.Fprintf(w, "in use   %s (skipped; holders: %s)\n", e.Key, formatHolderList(e.Holders))
	}
	for _, d := range rep.Debris {
		fmt.Fprintf(w, "swept    %s\n", d)
	}
	fmt.Fprintf(w, "clean: removed %d, kept %d, in use %d, debris swept %d\n", len(rep.Removed), len(rep.Kept), len(rep.InUse), len(rep.Debris))
}

// errNoTerminal is returned when clean would delete without --force and
// nobody can be asked.
var errNoTerminal = hint.Wrap(errors.New("refusing to delete without --force: stdin is not a terminal"),
	"review the plan with ktest kernel clean --dry-run, then rerun with --force")

// confirmClean shows the plan and asks on stderr for a y/N answer read from
// stdin. Only a terminal is asked: piped input is never taken as consent.
func confirmClean(c *cache.Cache, plan cache.CleanReport, stdio IO) (bool, error) {
	if !isTerminal(stdio.Stdin) {
		return false, errNoTerminal
	}
	for _, k := range plan.Removed {
		fmt.Fprintf(stdio.Stderr, "  remove %s\n", k)
	}
	for _, k := range plan.Kept {
		fmt.Fprintf(stdio.Stderr, "  keep   %s\n", k)
	}
	fmt.Fprintf(stdio.Stderr, "Remove %d cache entries from %s? [y/N] ", len(plan.Removed), c.Root)
	line, err := bufio.NewReader(stdio.Stdin).ReadString('\n')
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
