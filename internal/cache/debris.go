package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

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
	for _, c := range rest[i+1:] {
		if c < '0' || c > '9' {
			return "", 0, false
		}
	}
	pid, err := strconv.Atoi(rest[i+1:])
	if err != nil || pid <= 0 {
		return "", 0, false
	}
	return rest[:i], pid, true
}

// pidAlive reports whether a process with pid exists in this pid namespace.
// EPERM means it exists but belongs to someone else.
func pidAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// sweepDebris removes staging (.tmp-) and removal (.rm-) directories left by
// dead processes and returns the paths removed. heldKey is the key whose
// LOCK_EX the caller holds ("" for none): debris of that key is removed when
// its pid is dead or is this process (an earlier failed attempt). Debris of
// any other key is removed only if its pid is dead AND a non-blocking LOCK_EX
// on that key succeeds, so a live writer whose pid we cannot see (another pid
// namespace sharing the cache) never loses its staging directory.
func (c *Cache) sweepDebris(heldKey string) []string {
	des, err := os.ReadDir(c.Root)
	if err != nil {
		return nil
	}
	var removed []string
	self := os.Getpid()
	for _, de := range des {
		key, pid, ok := parseDebrisName(de.Name())
		if !ok || !de.IsDir() {
			continue
		}
		path := filepath.Join(c.Root, de.Name())
		if key == heldKey {
			if pid != self && pidAlive(pid) {
				continue
			}
			if os.RemoveAll(path) == nil {
				removed = append(removed, path)
			}
			continue
		}
		if pidAlive(pid) || validateEntryName(key) != nil {
			continue
		}
		l, err := AcquireLock(context.Background(), c.LockPath(key), Exclusive, 0, lockWhat(key))
		if err != nil {
			continue
		}
		if os.RemoveAll(path) == nil {
			removed = append(removed, path)
		}
		_ = l.Unlock()
	}
	return removed
}
