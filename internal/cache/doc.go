// Package cache implements ktest's side of the ktstr-compatible kernel cache
// and the advisory flock(2) helper that coordinates it.
//
// # On-disk layout (shared with ktstr)
//
//	{root}/{key}/                 one cache entry
//	{root}/{key}/bzImage|Image    the boot image (name from metadata image_name)
//	{root}/{key}/vmlinux          optional
//	{root}/{key}/metadata.json    pretty JSON, see [Metadata]
//	{root}/.locks/{key}.lock      per-entry flock file; outside the entry, never deleted
//	{root}/.locks/{key}.gate      ktest's writer-intent gate for the entry (see gate.go); never deleted
//	{root}/.tmp-{key}-{pid}/      staging directory of a Store in progress (or crashed)
//	{root}/.rm-{key}-{pid}/       an entry renamed aside by Remove, being deleted
//
// Every bookkeeping name starts with "." and is skipped by [Cache.List];
// [ValidateKey] refuses keys that start with "." so the two can never collide.
//
// # Locking protocol
//
// Readers (a test run using an entry's image) hold LOCK_SH on the entry's
// lockfile for as long as they use the image. Writers ([Cache.Store]) hold
// LOCK_EX while they stage and publish a replacement; removal ([Cache.Remove],
// [Cache.Clean]) takes a non-blocking LOCK_EX and skips entries in use. The
// lockfile lives outside the entry so replacing or deleting the entry never
// changes which inode the peers lock. Waiting writers are preferred over new
// readers through a second lockfile, the gate (gate.go), which ktstr
// ignores; ktstr and ktest still exclude each other on {key}.lock.
//
// # Hostile files
//
// A shared cache can be written by other users, so nothing in it is trusted:
// lockfiles are opened without following symlinks, only regular files are
// locked, and only files this process created or owns are chmod'ed
// (lockfile.go); files that might be FIFOs or devices are typed before they
// are opened and opened O_NONBLOCK; and nothing is deleted that cannot be
// shown to be the cache's own (debris.go, clean.go).
//
// # Root resolution
//
// [RootFromEnv] / [RootFromLookupEnv] implement the KTSTR_CACHE_DIR →
// $XDG_CACHE_HOME/ktstr/kernels → $HOME/.cache/ktstr/kernels cascade.
package cache
