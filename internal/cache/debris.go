package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/filekind"
)

// Debris is what crashed or killed processes leave in the cache root:
//
//	.tmp-{key}-{pid}/   a Store's staging directory
//	.rm-{key}-{pid}/    an entry renamed aside by Remove (or a displaced one)
//	.probe-{pid}-{n}    Open's write probe (older ktest: .probe-{n})
//
// Debris is removed only when ktest can show that it is the cache's own and
// that nobody uses it: it has the shape ktest creates (a directory, or a
// regular file with one link), it belongs to this user (or we are root),
// the process named in it is gone or is no longer a ktest or ktstr (its pid
// was reused), and for a directory, a non-blocking LOCK_EX on its key
// succeeds (a Store or Remove holds that lock for as long as it uses the
// directory; this covers writers in other pid namespaces, whose pids we
// cannot see). Anything else is reported and left alone.

// Kinds of debris (Debris.Kind).
const (
	DebrisStaging = "staging" // .tmp-{key}-{pid}
	DebrisRemoval = "removal" // .rm-{key}-{pid}
	DebrisProbe   = "probe"   // .probe-*
)

// staleProbeAge is how old a write probe without a pid must be before it is
// debris: a live probe exists for microseconds.
const staleProbeAge = time.Minute

// Debris is one leftover in the cache root.
type Debris struct {
	Name     string `json:"name"`
	Path     string `json:"path"`
	Kind     string `json:"kind"` // DebrisStaging, DebrisRemoval or DebrisProbe
	Key      string `json:"key,omitempty"`
	PID      int    `json:"pid,omitempty"`
	OwnerUID int    `json:"owner_uid"`
	// Removable says whether Clean may remove it; Reason says why (not),
	// e.g. "its process 123 is gone".
	Removable bool   `json:"removable"`
	Reason    string `json:"reason"`
	ino       uint64 // what was classified, checked again before removal
}

// parseDebrisName splits ".tmp-{key}-{pid}" or ".rm-{key}-{pid}" into key
// and pid. The pid is the digits after the last "-", so keys containing "-"
// parse unambiguously.
func parseDebrisName(name string) (key string, pid int, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(name, stagingPrefix):
		rest = name[len(stagingPrefix):]
	case strings.HasPrefix(name, removingPrefix):
		rest = name[len(removingPrefix):]
	default:
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 || i == len(rest)-1 {
		return "", 0, false
	}
	pid, ok = parseDigits(rest[i+1:])
	if !ok {
		return "", 0, false
	}
	return rest[:i], pid, true
}

// parseProbeName parses ".probe-{pid}-{n}" (pid > 0) or an older
// ".probe-{n}" (pid 0); ok is false for any other name.
func parseProbeName(name string) (pid int, ok bool) {
	rest, found := strings.CutPrefix(name, probePrefix)
	if !found || rest == "" {
		return 0, false
	}
	if p, n, two := strings.Cut(rest, "-"); two {
		pid, ok := parseDigits(p)
		if !ok || !allDigits(n) {
			return 0, false
		}
		return pid, true
	}
	if !allDigits(rest) {
		return 0, false
	}
	return 0, true
}

// allDigits reports whether s is 1 to 20 decimal digits (os.CreateTemp's
// random part).
func allDigits(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseDigits parses a positive decimal number of at most 9 digits, as
// strconv.Itoa writes it (no leading zero: ktest never makes such a name).
func parseDigits(s string) (int, bool) {
	if s == "" || len(s) > 9 || s[0] == '0' {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

// pidAlive reports whether a process with pid exists in this pid namespace.
// EPERM means it exists but belongs to someone else.
func pidAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// cacheProgramNames are the programs that create debris in a kernel cache.
var cacheProgramNames = []string{"ktest", "ktstr", "cargo-ktstr"}

// isCacheProgram reports whether the live process pid is a ktest or ktstr
// (by its command name, or by running the same executable as this process,
// which is how tests run ktest). When it cannot tell, it says yes: the
// debris is then left alone.
func isCacheProgram(pid int) (bool, string) {
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return true, "unknown"
	}
	name := strings.TrimSpace(string(comm))
	if slices.Contains(cacheProgramNames, name) {
		return true, name
	}
	if self, err := os.Executable(); err == nil {
		if exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); err == nil && exe == self {
			return true, name
		}
	}
	return false, name
}

// Debris lists the leftovers in the cache root and says for each whether
// Clean would remove it. It takes no locks, creates nothing and removes
// nothing; whether a key's lock is held is read from /proc/locks.
func (c *Cache) Debris() ([]Debris, error) {
	des, err := os.ReadDir(c.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, listRootError(c.Root, err)
	}
	var out []Debris
	for _, de := range des {
		if d, ok := c.classifyDebris(de.Name(), "", nil); ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// classifyDebris examines one name of the root. heldKey is a key whose
// LOCK_EX the caller holds ("" for none): its own debris is then removable
// even when the pid is this process's (an earlier failed attempt). lockFree
// says whether a key's lock is free; nil means read /proc/locks (no lock
// is taken). ok is false when name is not debris at all.
func (c *Cache) classifyDebris(name, heldKey string, lockFree func(key string) (bool, string)) (Debris, bool) {
	d := Debris{Name: name, Path: filepath.Join(c.Root, name)}
	wantDir := true
	if key, pid, ok := parseDebrisName(name); ok {
		d.Key, d.PID = key, pid
		d.Kind = DebrisStaging
		if strings.HasPrefix(name, removingPrefix) {
			d.Kind = DebrisRemoval
		}
	} else if pid, ok := parseProbeName(name); ok {
		d.Kind, d.PID, wantDir = DebrisProbe, pid, false
	} else {
		return Debris{}, false
	}
	var st unix.Stat_t
	if err := unix.Lstat(d.Path, &st); err != nil {
		return Debris{}, false // gone meanwhile
	}
	d.OwnerUID, d.ino = int(st.Uid), st.Ino
	leave := func(format string, args ...any) (Debris, bool) {
		d.Reason = fmt.Sprintf(format, args...)
		return d, true
	}
	typ := st.Mode & unix.S_IFMT
	switch {
	case wantDir && typ != unix.S_IFDIR:
		return leave("a %s, not a directory: ktest does not make it, so it is left alone; remove it by hand if it is yours", filekind.Of(filekind.FromStat(st.Mode)))
	case !wantDir && (typ != unix.S_IFREG || st.Nlink != 1):
		return leave("a %s with %d links, not a write probe ktest makes: left alone; remove it by hand if it is yours", filekind.Of(filekind.FromStat(st.Mode)), st.Nlink)
	case int(st.Uid) != os.Geteuid() && os.Geteuid() != 0:
		return leave("owned by uid %d: only its owner (or root) can remove it", st.Uid)
	}
	if d.Key != "" && validateEntryName(d.Key) != nil {
		return leave("its key %q is not a valid entry name: left alone", d.Key)
	}
	self := d.PID == os.Getpid() && d.Key != "" && d.Key == heldKey
	switch {
	case self:
		d.Reason = "left by an earlier attempt of this process"
	case d.PID > 0 && pidAlive(d.PID):
		if ours, comm := isCacheProgram(d.PID); ours {
			return leave("process %d (%s) that made it is still running: in use", d.PID, comm)
		} else {
			d.Reason = fmt.Sprintf("process %d is now another program (%s): the one that made it is gone", d.PID, comm)
		}
	case d.PID > 0:
		d.Reason = fmt.Sprintf("process %d that made it is gone", d.PID)
	default: // an old-style probe without a pid
		age := time.Since(time.Unix(st.Mtim.Sec, st.Mtim.Nsec))
		if age < staleProbeAge {
			return leave("a write probe %s old: may be in use", age.Round(time.Second))
		}
		d.Reason = fmt.Sprintf("a write probe %s old", age.Round(time.Second))
	}
	if d.Kind != DebrisProbe && d.Key != heldKey {
		free, who := c.keyLockFree(d.Key, lockFree)
		if !free {
			return leave("%s, but the lock of %q is held (%s): a store or removal may be using it", d.Reason, d.Key, who)
		}
	}
	d.Removable = true
	return d, true
}

// keyLockFree asks lockFree, or without one reads /proc/locks, whether
// anyone holds the lock of key.
func (c *Cache) keyLockFree(key string, lockFree func(string) (bool, string)) (bool, string) {
	if lockFree != nil {
		return lockFree(key)
	}
	hs, err := LockHolders(c.LockPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return true, ""
	}
	if err != nil {
		return false, "unknown: " + err.Error()
	}
	if len(hs) > 0 {
		return false, formatHolders(hs)
	}
	return true, ""
}

// removeDebris removes the removable debris of the root and returns what it
// removed and what it left (with why). heldKey is the key whose LOCK_EX the
// caller holds ("" for none). For debris of any other key it takes a
// non-blocking LOCK_EX on that key and holds it while removing, so nobody
// can be using the directory.
func (c *Cache) removeDebris(heldKey string) (removed []string, left []Debris) {
	des, err := os.ReadDir(c.Root)
	if err != nil {
		return nil, nil
	}
	for _, de := range des {
		var held *Lock
		lockFree := func(key string) (bool, string) {
			l, err := AcquireLock(context.Background(), c.LockPath(key), Exclusive, 0, lockWhat(key))
			var lte *LockTimeoutError
			switch {
			case errors.As(err, &lte):
				return false, formatHolders(lte.Holders)
			case err != nil:
				return false, err.Error()
			}
			held = l
			return true, ""
		}
		d, ok := c.classifyDebris(de.Name(), heldKey, lockFree)
		if !ok {
			continue
		}
		if d.Removable {
			if err := removeClassified(d); err != nil {
				d.Removable, d.Reason = false, err.Error()
			}
		}
		if held != nil {
			_ = held.Unlock()
		}
		if d.Removable {
			removed = append(removed, d.Path)
		} else {
			left = append(left, d)
		}
	}
	return removed, left
}

// removeClassified removes d if its path still names what was classified.
func removeClassified(d Debris) error {
	var st unix.Stat_t
	if err := unix.Lstat(d.Path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("stat %s: %w", d.Path, err)
	}
	if st.Ino != d.ino {
		return fmt.Errorf("%s was replaced while being examined: left alone", d.Path)
	}
	if d.Kind == DebrisProbe {
		return os.Remove(d.Path)
	}
	// os.RemoveAll never follows symlinks inside the tree.
	return os.RemoveAll(d.Path)
}

// sweepDebris is removeDebris for Store: the paths removed only.
func (c *Cache) sweepDebris(heldKey string) []string {
	removed, _ := c.removeDebris(heldKey)
	return removed
}

// listRootError explains a cache root that cannot be listed.
func listRootError(root string, err error) error {
	err = fmt.Errorf("list cache root %s: %w", root, err)
	if errors.Is(err, fs.ErrPermission) {
		return hintPermission(err, root)
	}
	return err
}
