package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/termtext"
)

const kernelListUsage = `usage: ktest kernel list [--json]

Lists the cache entries: valid ones first, newest built first, then corrupt
ones (with the reason and its kind: missing, unreadable, schema_drift,
malformed, truncated, image_missing, image_corrupt: the image's header is
not a kernel's or the file is shorter than its header says), which
'ktest kernel rm KEY' or 'ktest kernel clean --corrupt-only' remove. HELD-BY shows the processes
holding the entry's lock (runs using it). The cache root is printed on
stderr as "cache: ROOT". Nothing is created or locked.

Columns: KEY VERSION SOURCE ARCH BUILT SIZE HELD-BY, and for a corrupt
entry a last column "corrupt (KIND): REASON". Debris that crashed processes
left in the root (staging .tmp-*, removal .rm-*, write probes .probe-*) is
noted on stderr, with whether 'ktest kernel clean' can remove it.

--json prints one object (schema ktest.kernel-list/v1):
  {"schema": "ktest.kernel-list/v1",
   "root": "/abs/cache/root",
   "entries": [
     {"key": "...", "dir": "...", "image": "/abs/path/of/bzImage",
      "version": "6.9.0" | null, "source": {"type": "local", ...} | null,
      "arch": "x86_64" | null, "built_at": "2025-01-02T03:04:05Z" | null,
      "size": BYTES (all files of the entry),
      "sha256": "..." | null, "original_path": "..." | null,
      "has_vmlinux": false, "valid": true,
      "problem": {"kind": "truncated", "reason": "..."} | null,
      "holders": [{"pid": 123, "mode": "READ", "cmdline": "..."}]}],
   "debris": [{"name": ".tmp-KEY-PID", "path": "...", "kind": "staging" |
               "removal" | "probe", "key": "..." (not for probes),
               "pid": 123 (when the name has one), "owner_uid": 0,
               "removable": true, "reason": "..."}]}
Fields are never omitted; unknown values are null; holders and debris are
[] when there are none.

Examples:
  ktest kernel list
  ktest kernel list --json | jq -r '.entries[] | select(.valid) | .key'
`

// kernelListJSON is `ktest kernel list --json`. The shape is stable: fields
// are added, never renamed or removed, without a schema change.
type kernelListJSON struct {
	Schema  string            `json:"schema"`
	Root    string            `json:"root"`
	Entries []kernelEntryJSON `json:"entries"`
	// Debris are leftovers of crashed processes in the root (see
	// cache.Debris); [] when there are none.
	Debris []cache.Debris `json:"debris"`
}

// kernelListSchema names the JSON shape of `ktest kernel list --json`.
const kernelListSchema = "ktest.kernel-list/v1"

// kernelEntryJSON is one entry of kernelListJSON.
type kernelEntryJSON struct {
	Key          string         `json:"key"`
	Dir          string         `json:"dir"`
	Image        string         `json:"image"`
	Version      *string        `json:"version"`
	Source       *cache.Source  `json:"source"`
	Arch         *string        `json:"arch"`
	BuiltAt      *string        `json:"built_at"`
	Size         int64          `json:"size"`
	SHA256       *string        `json:"sha256"`
	OriginalPath *string        `json:"original_path"`
	HasVmlinux   bool           `json:"has_vmlinux"`
	Valid        bool           `json:"valid"`
	Problem      *cache.Problem `json:"problem"`
	Holders      []cache.Holder `json:"holders"`
}

func runKernelList(_ context.Context, args []string, stdio IO) error {
	f := newSubFlags("kernel list")
	var asJSON bool
	f.boolFlag(&asJSON, "json", "print JSON (schema ktest.kernel-list/v1) instead of a table")
	pos, help, err := f.parse(args)
	if err != nil {
		return err
	}
	if help {
		return f.printUsage(stdio.Stdout, kernelListUsage)
	}
	if len(pos) > 0 {
		return fmt.Errorf("kernel list: unexpected argument %s (it takes none); to find one kernel use ktest kernel path ID", termtext.Quote(pos[0]))
	}
	c, err := openKernelCache(false)
	if err != nil {
		return err
	}
	printCacheRoot(stdio.Stderr, c)
	entries, err := c.List()
	if err != nil {
		return err
	}
	holders, herr := holdersByKey(c)
	if herr != nil {
		fmt.Fprintf(stdio.Stderr, "ktest: warning: cannot tell which entries are in use: %v\n", herr)
	}
	rows := make([]kernelEntryJSON, len(entries))
	for i, e := range entries {
		rows[i] = describeEntry(e, holders[e.Key])
	}
	debris, derr := c.Debris()
	if derr != nil {
		fmt.Fprintf(stdio.Stderr, "ktest: warning: cannot look for debris: %v\n", derr)
	}
	if debris == nil {
		debris = []cache.Debris{}
	}
	if asJSON {
		return writeJSON(stdio.Stdout, kernelListJSON{Schema: kernelListSchema, Root: c.Root, Entries: rows, Debris: debris})
	}
	if err := printKernelTable(stdio.Stdout, rows, herr != nil); err != nil {
		return err
	}
	printDebris(stdio.Stderr, debris)
	return nil
}

// printDebris notes the leftovers of crashed processes on w (stderr: the
// table on stdout stays the entries only).
func printDebris(w io.Writer, debris []cache.Debris) {
	for _, d := range debris {
		what := "removable by ktest kernel clean"
		if !d.Removable {
			what = "left alone by ktest kernel clean"
		}
		fmt.Fprintf(w, "ktest: note: cache debris %s (%s %s): %s; %s\n", termtext.Line(d.Path), d.Kind, debrisNoun(d), termtext.Line(d.Reason), what)
	}
}

func debrisNoun(d cache.Debris) string {
	if d.Kind == cache.DebrisProbe {
		return "file"
	}
	return "directory"
}

// holdersByKey maps each entry key to the processes holding its lock, from
// one pass over /proc/locks.
func holdersByKey(c *cache.Cache) (map[string][]cache.Holder, error) {
	locks, err := c.Locks()
	if err != nil {
		return nil, err
	}
	out := make(map[string][]cache.Holder, len(locks))
	for _, l := range locks {
		if l.Kind == cache.LockKindLockfile && len(l.Holders) > 0 {
			out[l.Key] = l.Holders
		}
	}
	return out, nil
}

// describeEntry flattens an entry for the table and the JSON output.
func describeEntry(e cache.Entry, holders []cache.Holder) kernelEntryJSON {
	row := kernelEntryJSON{
		Key:     e.Key,
		Dir:     e.Dir,
		Image:   e.ImagePath(),
		Size:    entrySize(e.Dir),
		Valid:   e.Valid(),
		Problem: e.Problem,
		Holders: holders,
	}
	if row.Holders == nil {
		row.Holders = []cache.Holder{}
	}
	if m := e.Metadata; m != nil {
		src := m.Source
		row.Version, row.Source = m.Version, &src
		row.Arch, row.BuiltAt = &m.Arch, &m.BuiltAt
		row.HasVmlinux = m.HasVmlinux
		if s, ok := m.ExtraString(cache.ExtraSHA256); ok {
			row.SHA256 = &s
		}
		if s, ok := m.ExtraString(cache.ExtraOriginalPath); ok {
			row.OriginalPath = &s
		}
	}
	return row
}

// entrySize is the total size of the regular files in an entry directory
// (entries are flat: image, vmlinux, metadata.json).
func entrySize(dir string) int64 {
	des, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		if fi, err := de.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

func printKernelTable(w io.Writer, rows []kernelEntryJSON, holdersUnknown bool) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no cached kernels; add one with: ktest kernel fetch 6.12 (a Debian kernel), or ktest kernel add IMAGE")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVERSION\tSOURCE\tARCH\tBUILT\tSIZE\tHELD-BY")
	for _, r := range rows {
		held := formatHolderList(r.Holders)
		if holdersUnknown {
			held = "?"
		}
		line := row(r.Key, strOrDash(r.Version), sourceLabel(r.Source),
			strOrDash(r.Arch), strOrDash(r.BuiltAt), humanBytes(r.Size), held)
		if r.Problem != nil {
			line += "\t" + row(fmt.Sprintf("corrupt (%s): %s", r.Problem.Kind, r.Problem.Reason))
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

func strOrDash(p *string) string {
	if p == nil || *p == "" {
		return "-"
	}
	return *p
}

// sourceLabel is the source type, with the ref for git sources.
func sourceLabel(s *cache.Source) string {
	switch {
	case s == nil:
		return "-"
	case s.Type == cache.SourceGit && s.Ref != nil && *s.Ref != "":
		return "git:" + *s.Ref
	}
	return s.Type
}

// writeJSON writes v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
