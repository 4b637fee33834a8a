package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/termtext"
)

const locksUsage = `usage: ktest locks [--json]

Lists every lockfile under the kernel cache ({root}/.locks/KEY.lock, shared
with ktstr and never deleted) with the processes holding it, from
/proc/locks: pid, mode (READ = a run using the entry, WRITE = a store or
removal in progress) and command line. A lockfile whose holders cannot be
determined shows the reason. The cache root is printed on stderr as
"cache: ROOT"; nothing is created or locked.

--json prints one object (schema ktest.locks/v1):
  {"schema": "ktest.locks/v1", "root": "/abs/cache/root",
   "locks": [{"key": "...", "path": "/abs/.locks/KEY.lock",
              "holders": [{"pid": 123, "mode": "READ", "cmdline": "..."}],
              "error": "..." (only when the holders are unknown)}]}

Examples:
  ktest locks
  ktest locks --json | jq '.locks[] | select(.holders | length > 0)'
`

// locksSchema names the JSON shape of `ktest locks --json`.
const locksSchema = "ktest.locks/v1"

// locksJSON is `ktest locks --json`.
type locksJSON struct {
	Schema string           `json:"schema"`
	Root   string           `json:"root"`
	Locks  []cache.LockInfo `json:"locks"`
}

// runLocks is `ktest locks`.
func runLocks(_ context.Context, args []string, stdio IO) error {
	f := newSubFlags("locks")
	var asJSON bool
	f.boolFlag(&asJSON, "json", "print JSON (schema ktest.locks/v1) instead of a table")
	pos, help, err := f.parse(args)
	if err != nil {
		return err
	}
	if help {
		return f.printUsage(stdio.Stdout, locksUsage)
	}
	if len(pos) > 0 {
		return fmt.Errorf("locks: unexpected argument %s (it takes none); see ktest locks --help", termtext.Quote(pos[0]))
	}
	c, err := openKernelCache(false)
	if err != nil {
		return err
	}
	printCacheRoot(stdio.Stderr, c)
	locks, err := c.Locks()
	if err != nil {
		return fmt.Errorf("locks: %w", err)
	}
	if locks == nil {
		locks = []cache.LockInfo{}
	}
	for i := range locks {
		if locks[i].Holders == nil {
			locks[i].Holders = []cache.Holder{}
		}
	}
	if asJSON {
		return writeJSON(stdio.Stdout, locksJSON{Schema: locksSchema, Root: c.Root, Locks: locks})
	}
	return printLocks(stdio.Stdout, locks)
}

// printLocks writes one row per holder, or one "free" row per lockfile
// nobody holds.
func printLocks(w io.Writer, locks []cache.LockInfo) error {
	if len(locks) == 0 {
		_, err := fmt.Fprintln(w, "no lockfiles")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tSTATE\tPID\tCOMMAND")
	for _, l := range locks {
		switch {
		case l.Err != "":
			fmt.Fprintln(tw, row(l.Key, "unknown", "-", l.Err))
		case len(l.Holders) == 0:
			fmt.Fprintln(tw, row(l.Key, "free", "-", "-"))
		}
		for _, h := range l.Holders {
			fmt.Fprintln(tw, row(l.Key, h.Mode, h.PID, h.Cmdline))
		}
	}
	return tw.Flush()
}
