package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/filekind"
)

// Kinds of names in {root}/.locks (LockInfo.Kind).
const (
	LockKindLockfile = "lockfile" // {key}.lock, shared with ktstr
	LockKindGate     = "gate"     // {key}.gate, ktest's writer-intent gate
	LockKindUnknown  = "unknown"  // anything else: neither ktest nor ktstr puts it there
)

// LockInfo describes one entry of {root}/.locks: a lockfile, a gate, or
// something that does not belong there, with its holders and whatever is
// odd about it.
type LockInfo struct {
	// Key is the cache key the file belongs to; for an unknown name, the
	// whole name.
	Key  string `json:"key"`
	Name string `json:"name"` // the file name in .locks
	Path string `json:"path"`
	Kind string `json:"kind"` // LockKindLockfile, LockKindGate or LockKindUnknown
	// Type is the file type, e.g. "regular file" or "symbolic link".
	Type string `json:"type"`
	// Target is a symbolic link's target (never followed).
	Target   string `json:"target,omitempty"`
	OwnerUID int    `json:"owner_uid"`
	Mode     string `json:"mode"`  // permission bits in octal, e.g. "0666"
	Links    uint64 `json:"links"` // hard links
	// Holders are the processes holding a flock on it (regular files only).
	// On a gate, a WRITE holder is a writer waiting for the entry.
	Holders []Holder `json:"holders"`
	// Problems says what is odd about the file, one sentence each, with
	// the fix; empty for a healthy lockfile or gate.
	Problems []string `json:"problems,omitempty"`
	// Err is set when the holders could not be determined for this file.
	Err string `json:"error,omitempty"`
}

// Odd reports whether something is wrong with the file.
func (l LockInfo) Odd() bool { return len(l.Problems) > 0 }

// Locks lists every entry of {root}/.locks, sorted by name, with its
// holders and what is odd about it (a symlink, a FIFO, a directory, a hard
// link, another user's file with a mode others cannot use, a name that is
// no lockfile's). Nothing is followed, opened or locked, and nothing is
// created; a missing .locks lists as empty. A .locks that is itself a
// symlink or not a directory is an *UnsafeLockfileError.
func (c *Cache) Locks() ([]LockInfo, error) {
	dir := filepath.Join(c.Root, locksDirName)
	fd, err := openNoFollowDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d := os.NewFile(uintptr(fd), dir)
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list lockfiles in %s: %w", dir, err)
	}
	slices.Sort(names)
	mounts, err := readMountinfo()
	if err != nil {
		return nil, err
	}
	locks, err := readProcLocks()
	if err != nil {
		return nil, err
	}
	// The mount covering the lockfiles, from the real path of .locks.
	var mount MountInfo
	var mountErr error
	if real, err := filepath.EvalSymlinks(dir); err != nil {
		mountErr = fmt.Errorf("resolve %s: %w", dir, err)
	} else if m, ok := mountFor(real, mounts); !ok {
		mountErr = fmt.Errorf("find the mount covering %s in mountinfo: none matched", real)
	} else {
		mount = m
	}
	self := os.Geteuid()
	out := make([]LockInfo, 0, len(names))
	for _, name := range names {
		li := LockInfo{Name: name, Path: filepath.Join(dir, name), Holders: []Holder{}}
		li.Key, li.Kind = classifyLockName(name)
		var st unix.Stat_t
		if err := retryEINTR(func() error { return unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
			li.Err = fmt.Sprintf("stat %s: %v", li.Path, err)
			out = append(out, li)
			continue
		}
		li.Type = filekind.Of(filekind.FromStat(st.Mode))
		li.OwnerUID = int(st.Uid)
		li.Mode = fmt.Sprintf("%04o", st.Mode&0o7777)
		li.Links = uint64(st.Nlink)
		li.Problems = lockProblems(&li, fd, &st, self)
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			if mountErr != nil {
				li.Err = mountErr.Error()
			} else {
				li.Holders = holdersOf(locks, lockTarget{major: mount.Major, minor: mount.Minor, inode: st.Ino}, readCmdline)
				if li.Holders == nil {
					li.Holders = []Holder{}
				}
			}
		}
		out = append(out, li)
	}
	return out, nil
}

// classifyLockName splits a .locks file name into its key and kind.
func classifyLockName(name string) (key, kind string) {
	if k, ok := strings.CutSuffix(name, lockSuffix); ok && validateEntryName(k) == nil {
		return k, LockKindLockfile
	}
	if k, ok := strings.CutSuffix(name, gateSuffix); ok && validateEntryName(k) == nil {
		return k, LockKindGate
	}
	return name, LockKindUnknown
}

// lockProblems says what is odd about one file of .locks (its stat is st,
// dirFD the open .locks) and fills li.Target for a symlink.
func lockProblems(li *LockInfo, dirFD int, st *unix.Stat_t, euid int) []string {
	var problems []string
	if li.Kind == LockKindUnknown {
		problems = append(problems, "not a lockfile name (KEY.lock, or KEY.gate for ktest's writer gate): neither ktest nor ktstr puts it here; remove it")
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFLNK:
		buf := make([]byte, 4096)
		if n, err := unix.Readlinkat(dirFD, li.Name, buf); err == nil {
			li.Target = string(buf[:n])
		}
		problems = append(problems, fmt.Sprintf("a symbolic link to %q: ktest never follows it (it could redirect a lock to another user's file) and refuses to lock this key until it is removed", li.Target))
		return problems
	default:
		problems = append(problems, fmt.Sprintf("a %s, not a regular file: ktest refuses to lock this key until it is removed", li.Type))
		return problems
	}
	if st.Nlink > 1 {
		problems = append(problems, fmt.Sprintf("has %d hard links (a lockfile has one): it may be another file linked in here; ktest locks it but never changes its mode; remove it", st.Nlink))
	}
	if st.Mode&0o7777 != lockFileMode && int(st.Uid) != euid {
		problems = append(problems, fmt.Sprintf("owned by uid %d with mode %s, not 0666: other users can lock it only read-only and ktest will not chmod another user's file; its owner can run chmod 0666 on it", st.Uid, li.Mode))
	}
	return problems
}
