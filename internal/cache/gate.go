package cache

import (
	"os"
	"strings"
	"time"
)

// Writer preference: the writer-intent gate.
//
// flock(2) has no queue: LOCK_SH is granted whenever no LOCK_EX is held, even
// while a LOCK_EX request waits. Readers that overlap (three test runs on one
// kernel, each starting before the last ends) therefore keep the entry
// shared forever, and a writer (`ktest kernel add` of that key, LOCK_EX with
// a 60 s deadline) never gets in. ktest gives writers preference the way
// lockedfile-style read/write locks do, with a second lockfile per key, the
// gate {root}/.locks/{key}.gate beside {root}/.locks/{key}.lock:
//
//	writer: LOCK_EX gate → LOCK_EX entry → release gate → ... → release entry
//	reader: LOCK_SH gate → LOCK_SH entry → release gate → ... → release entry
//
// A waiting writer holds the gate exclusively, so readers that arrive after
// it wait at the gate instead of joining the readers on the entry; those
// already inside finish, and the writer gets the entry. A reader holds the
// gate only while it waits for the entry (microseconds unless a writer holds
// the entry), so it never delays a writer by more than that. Everyone takes
// the gate before the entry and never the other way round, so the two locks
// cannot deadlock. Both waits share the caller's one deadline, and the
// entry's lockfile is re-checked (same inode at the path) after each flock,
// that is after every change of lock mode.
//
// ktstr interop: {key}.lock keeps its meaning. ktstr processes lock only it,
// and ktest locks it exactly as they do, so ktest and ktstr still exclude
// each other; ktstr readers simply do not yield to a waiting ktest writer.
// The gate is ktest's own bookkeeping; like the lockfile it is never
// deleted, and ktstr ignores it (it is not named *.lock).
//
// A writer that does not wait (timeout <= 0: Remove, Clean, the debris
// sweep) takes no gate: it only tries the entry once, so it cannot starve
// and must not report an entry as busy because a reader is passing the gate.

// gateSuffix names a key's writer-intent gate in {root}/.locks.
const gateSuffix = ".gate"

// gatePath returns the gate of the lockfile path: {key}.lock → {key}.gate
// (a path not ending in .lock gets .gate appended).
func gatePath(lockPath string) string {
	return strings.TrimSuffix(lockPath, lockSuffix) + gateSuffix
}

// usesGate says whether an acquisition goes through the gate: every reader,
// and writers that wait.
func usesGate(mode LockMode, timeout time.Duration) bool {
	return mode == Shared || timeout > 0
}

// blockingHolders lists who keeps a lock on path from us, for the timeout
// error: the holders of the lockfile, then the writers queued at its gate
// (other processes: a writer of this process holds its own gate while it
// waits). Best effort: nil when nothing can be read.
func blockingHolders(path string) []Holder {
	holders, _ := LockHolders(path)
	queued, _ := LockHolders(gatePath(path))
	self := os.Getpid()
	for _, h := range queued {
		if h.PID == self || h.Mode != "WRITE" {
			continue // readers at the gate are waiting like us
		}
		h.Queued = true
		holders = append(holders, h)
	}
	return holders
}
