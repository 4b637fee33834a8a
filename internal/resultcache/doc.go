// Package resultcache is ktest's cache of passing test binary runs under
// `--vm` (docs/spec.md §18). go test disables its own result cache when
// -exec is set; vm-exec looks here before it boots a guest, and replays a
// hit's stdout and stderr byte for byte, in the order they were written.
//
// Use:
//
//	if reason, ok := resultcache.Bypass(args, env); !ok { ... run, no caching (reason says why) }
//	key, err := resultcache.Inputs{...}.Key()
//	c, err := resultcache.Open(dir, resultcache.DefaultMaxBytes)
//	if e, ok := c.Get(key); ok { e.Replay(os.Stdout, os.Stderr); exit 0 }
//	rec := resultcache.NewRecorder(os.Stdout, os.Stderr, resultcache.MaxEntryBytes)
//	... run with rec.Stdout(), rec.Stderr() ...
//	if e, ok := rec.Entry(exitCode, elapsed); ok { c.Put(key, e) }
//
// Only exit-0 runs are stored (Recorder.Entry refuses the others). A
// missing, truncated, corrupt or foreign entry is a miss, never an error.
package resultcache
