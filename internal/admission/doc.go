// Package admission decides, host-wide and across processes and users,
// how many guests may run at once (docs/spec.md §17). A guest takes a slot
// before it boots and keeps it until it has exited; the slot is a flock(2)
// on a file in a shared directory, so the kernel releases it when the
// holder closes it or dies, however it dies.
//
// # Protocol
//
// The directory (DefaultDir: /run/lock/ktest-admission, else
// /tmp/ktest-admission; $KTEST_ADMISSION_DIR overrides it) holds:
//
//   - "ledger": a lockfile. An admitter holds its LOCK_EX only while it
//     decides (a few milliseconds), so decisions are serialized;
//   - "slot.N" (N = 0, 1, ...): one per running guest. Its holder keeps
//     LOCK_EX on it for the guest's lifetime, and wrote its claim into it
//     (one line, see claim.go) while it held the ledger.
//
// Under the ledger, an admitter reads every slot: a slot it can lock is
// free (whatever its stale content says); one it cannot lock is held, and
// its claim counts. The guest is admitted when the claims plus its own
// need fit the host (hostres.Read): CPUs within the online CPUs, memory
// within MemAvailable minus a reserve. Memory is counted twice for a
// running guest (its claim, and what it already uses inside
// MemAvailable), which errs towards waiting: a full host means a wait,
// never an OOM kill.
//
// A waiter sleeps in read(2) on an inotify descriptor watching the
// directory for IN_CLOSE_WRITE of a slot (a holder releasing, by Close or
// by dying: slots are held on read-write descriptors, while scans use
// read-only ones, so waiters never wake each other), and rescans at least
// every PollInterval for memory freed by others. It never spins.
//
// # Hostile files
//
// The directory is shared (mode 1777, like /tmp); nothing found in it is
// trusted. It is opened O_NOFOLLOW|O_DIRECTORY and refused when it is a
// symlink, not a directory, or writable by others without the sticky bit;
// every file in it is opened relative to that descriptor with O_NOFOLLOW
// and O_NONBLOCK, its type checked before and after the open, so a symlink
// or FIFO planted as a slot is skipped (never followed, never blocking)
// and one planted as the ledger is refused with *UnsafeFileError. Only
// files and a directory this process created are fchmod-ed. Whoever owns
// the directory can disturb admission (as they could by running memory
// hogs), nothing more.
package admission
