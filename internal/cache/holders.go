package cache

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/filekind"
	"github.com/ktest-dev/ktest/internal/termtext"
)

// Files read to find lock holders; variables so tests can point them at fixtures.
var (
	procLocksPath = "/proc/locks"
	mountinfoPath = "/proc/self/mountinfo"
)

// maxCmdlineChars bounds Holder.Cmdline (in characters) so that a holder list
// stays a readable single line.
const maxCmdlineChars = 100

// Holder is a process holding a flock on a lockfile, from /proc/locks.
type Holder struct {
	PID     int    `json:"pid"`
	Mode    string `json:"mode"` // READ (LOCK_SH) or WRITE (LOCK_EX)
	Cmdline string `json:"cmdline"`
	// Queued marks a writer that does not hold the lock yet but waits for
	// it ahead of us, holding the key's writer-intent gate (see gate.go).
	Queued bool `json:"queued,omitempty"`
}

// String formats the holder as in lock error messages: "pid=N cmd=CMDLINE",
// with the command line made safe for a terminal (any process can put an
// ESC or a newline in its argv; the Cmdline field stays exact for JSON) and
// " (queued writer)" appended for a queued writer.
func (h Holder) String() string {
	s := fmt.Sprintf("pid=%d cmd=%s", h.PID, termtext.Line(h.Cmdline))
	if h.Queued {
		s += " (queued writer)"
	}
	return s
}

// formatHolders joins holders for an error message; "unknown" when none was found.
func formatHolders(hs []Holder) string {
	if len(hs) == 0 {
		return "unknown"
	}
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = h.String()
	}
	return strings.Join(parts, ", ")
}

// lockTarget identifies a file the way /proc/locks does: the superblock
// device of the covering mount plus the inode number.
type lockTarget struct {
	major, minor uint32
	inode        uint64
}

// LockHolders returns the processes holding a flock (not waiting for one) on
// the file at path. The file is matched in /proc/locks on major:minor:inode,
// where major:minor comes from the /proc/self/mountinfo mount covering the
// file, not from st_dev, which differs on btrfs, overlayfs and bind mounts.
// The list is empty (not an error) when nobody holds the lock.
func LockHolders(path string) ([]Holder, error) {
	mounts, err := readMountinfo()
	if err != nil {
		return nil, err
	}
	t, err := targetFor(path, mounts)
	if err != nil {
		return nil, err
	}
	locks, err := readProcLocks()
	if err != nil {
		return nil, err
	}
	return holdersOf(locks, t, readCmdline), nil
}

func readMountinfo() ([]MountInfo, error) {
	f, err := os.Open(mountinfoPath)
	if err != nil {
		return nil, fmt.Errorf("open mountinfo: %w", err)
	}
	defer f.Close()
	return ParseMountinfo(f)
}

func readProcLocks() ([]ProcLock, error) {
	f, err := os.Open(procLocksPath)
	if err != nil {
		return nil, fmt.Errorf("open /proc/locks: %w", err)
	}
	defer f.Close()
	return ParseProcLocks(f)
}

// targetFor returns the /proc/locks identity of the lockfile at path. The
// directories leading to it are resolved (the mount is found from the real
// path); the file itself is not followed: ktest never locks through a
// symlink, so a symlink's target has no holders worth showing.
func targetFor(path string, mounts []MountInfo) (lockTarget, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return lockTarget{}, fmt.Errorf("resolve lockfile %s: %w", path, err)
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return lockTarget{}, fmt.Errorf("resolve lockfile %s: %w", path, err)
	}
	resolved := filepath.Join(dir, filepath.Base(abs))
	var st unix.Stat_t
	if err := unix.Lstat(resolved, &st); err != nil {
		return lockTarget{}, fmt.Errorf("stat lockfile %s: %w", resolved, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return lockTarget{}, fmt.Errorf("lockfile %s is a %s, not a regular file", resolved, filekind.Of(filekind.FromStat(st.Mode)))
	}
	m, ok := mountFor(resolved, mounts)
	if !ok {
		return lockTarget{}, fmt.Errorf("find the mount covering %s in mountinfo: none matched", resolved)
	}
	return lockTarget{major: m.Major, minor: m.Minor, inode: st.Ino}, nil
}

// mountFor returns the mount whose mount point is the longest path-component
// prefix of the clean absolute path p. Among equal mount points the later
// line wins: it is mounted on top and is the one visible.
func mountFor(p string, mounts []MountInfo) (MountInfo, bool) {
	best, bestLen := -1, -1
	for i, m := range mounts {
		mp := m.MountPoint
		covers := mp == "/" || p == mp || strings.HasPrefix(p, mp+"/")
		if covers && len(mp) >= bestLen {
			best, bestLen = i, len(mp)
		}
	}
	if best < 0 {
		return MountInfo{}, false
	}
	return mounts[best], true
}

// holdersOf filters locks to held FLOCK locks on t, one Holder per (pid, mode).
func holdersOf(locks []ProcLock, t lockTarget, cmdline func(pid int) string) []Holder {
	var out []Holder
	type pidMode struct {
		pid    int
		access string
	}
	seen := map[pidMode]bool{}
	for _, l := range locks {
		if l.Waiter || l.Class != "FLOCK" || l.Major != t.major || l.Minor != t.minor || l.Inode != t.inode {
			continue
		}
		k := pidMode{l.PID, l.Access}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, Holder{PID: l.PID, Mode: l.Access, Cmdline: cmdline(l.PID)})
	}
	return out
}

// readCmdline returns /proc/<pid>/cmdline with NULs as spaces, cut at
// maxCmdlineChars characters; a placeholder when it cannot be read.
func readCmdline(pid int) string {
	if pid <= 0 {
		return "(not in this pid namespace)"
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return "(exited)"
	}
	return formatCmdline(b)
}

// formatCmdline turns raw cmdline bytes into a display string.
func formatCmdline(b []byte) string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return "(no cmdline)"
	}
	s := strings.ToValidUTF8(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})), "\uFFFD")
	if utf8.RuneCountInString(s) > maxCmdlineChars {
		s = string([]rune(s)[:maxCmdlineChars])
	}
	return s
}
