package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/termtext"
)

const locksUsage = `usage: ktest locks [--json]

Lists every entry of the kernel cache's lock directory {root}/.locks: the
lockfiles (KEY.lock, shared with ktstr and never deleted) with the processes
holding them, from /proc/locks: pid, mode (READ = a run using the entry,
WRITE = a store or removal in progress) and command line; the writer gates
(KEY.gate, ktest's own) when a writer is queued on one (STATE "queued
WRITE"); and anything that does not belong there (STATE "odd": a symbolic
link, a FIFO, a directory, a hard link, another user's lockfile with a mode
others cannot use, a name that is no lockfile's), with what to do about it.
ktest refuses to lock a key whose lockfile is odd. A lockfile whose holders
cannot be determined shows the reason. The cache root is printed on stderr
as "cache: ROOT"; nothing is created, followed or locked.

--json prints one object (schema ktest.locks/v1):
  {"schema": "ktest.locks/v1", "root": "/abs/cache/root",
   "locks": [{"key": "...", "name": "KEY.lock", "path": "/abs/.locks/KEY.lock",
              "kind": "lockfile" | "gate" | "unknown",
              "type": "regular file" | "symbolic link" | ...,
              "target": "..." (symbolic links only),
              "owner_uid": 1000, "mode": "0666", "links": 1,
              "holders": [{"pid": 123, "mode": "READ", "cmdline": "..."}],
              "problems": ["..."] (only when something is odd),
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

// printLocks writes one row per holder of a lockfile, or one "free" row per
// lockfile nobody holds; a gate only for a writer queued on it; and one
// "odd" row per problem of anything that does not belong in .locks.
func printLocks(w io.Writer, locks []cache.LockInfo) error {
	if len(locks) == 0 {
		_, err := fmt.Fprintln(w, "no lockfiles")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tSTATE\tPID\tCOMMAND")
	for _, l := range locks {
		if l.Odd() {
			for _, p := range l.Problems {
				fmt.Fprintln(tw, row(strconv.Quote(l.Name), "odd", "-", l.Path+": "+p))
			}
			continue
		}
		if l.Kind == cache.LockKindGate {
			for _, h := range l.Holders {
				if h.Mode == "WRITE" {
					fmt.Fprintln(tw, row(l.Key, "queued WRITE", h.PID, h.Cmdline))
				}
			}
			continue
		}
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
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, l := range locks {
		if l.Odd() {
			_, err := fmt.Fprintf(w, "\nktest refuses to lock keys whose lockfile is odd; remove the odd entries (they are not ktest's or ktstr's) and retry\n")
			return err
		}
	}
	return nil
}
