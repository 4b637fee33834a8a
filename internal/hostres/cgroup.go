package hostres

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The limits of this process's cgroup: a CI job in a container sees the
// host's /proc/meminfo but is OOM-killed at its cgroup's memory limit, so
// admission must count with the smaller of the two. Both cgroup v2 (the
// unified hierarchy at /sys/fs/cgroup) and v1 (one hierarchy per
// controller under /sys/fs/cgroup/<controller>) are read, from this
// process's cgroup up to the hierarchy's root (when the cgroup's path does
// not exist under the mount, another cgroup namespace, the mount's root is
// taken as ours). Anything unreadable is no limit: the limits only ever
// lower what Read reports.

// cgroupRoot and procSelfCgroup are the files read; tests point them elsewhere.
var (
	cgroupRoot     = "/sys/fs/cgroup"
	procSelfCgroup = "/proc/self/cgroup"
)

// limits are a cgroup's bounds; zero fields are none.
type limits struct {
	memLimit    uint64  // bytes
	memHeadroom uint64  // bytes the cgroup may still use: limit - usage + inactive file cache
	cpus        float64 // CPU quota in CPUs (quota / period)
	cpuset      int     // CPUs in the cpuset
}

// readCgroupLimits returns the tightest limits of this process's cgroup
// and its ancestors (v2), or of the v1 hierarchies' roots.
func readCgroupLimits() limits {
	var l limits
	data, _ := os.ReadFile(procSelfCgroup)
	if p, ok := parseCgroupPath(data, ""); ok {
		for _, dir := range cgroupDirs(cgroupRoot, p) {
			l = tighter(l, readV2(dir))
		}
	}
	for _, c := range []string{"memory", "cpu", "cpuset"} {
		p, _ := parseCgroupPath(data, c)
		for _, dir := range cgroupDirs(filepath.Join(cgroupRoot, c), p) {
			l = tighter(l, readV1(c, dir))
		}
	}
	return l
}

// cgroupDirs returns the directories of the cgroup at path p under the
// hierarchy mounted at root, from the cgroup up to root; only root when p
// does not exist there.
func cgroupDirs(root, p string) []string {
	dir := filepath.Join(root, p)
	if _, err := os.Stat(dir); err != nil || p == "" {
		return []string{root}
	}
	var dirs []string
	for strings.HasPrefix(dir, root+"/") {
		dirs = append(dirs, dir)
		dir = filepath.Dir(dir)
	}
	return append(dirs, root)
}

// tighter combines two sets of limits, keeping the smaller of each.
func tighter(a, b limits) limits {
	minNonZero := func(x, y uint64) uint64 {
		if x == 0 || y != 0 && y < x {
			return y
		}
		return x
	}
	a.memLimit = minNonZero(a.memLimit, b.memLimit)
	a.memHeadroom = minNonZero(a.memHeadroom, b.memHeadroom)
	if a.cpus == 0 || b.cpus != 0 && b.cpus < a.cpus {
		a.cpus = b.cpus
	}
	if a.cpuset == 0 || b.cpuset != 0 && b.cpuset < a.cpuset {
		a.cpuset = b.cpuset
	}
	return a
}

func readFile(dir, name string) []byte {
	data, _ := os.ReadFile(filepath.Join(dir, name))
	return data
}

// readV2 reads one cgroup v2 directory.
func readV2(dir string) limits {
	var l limits
	if max, ok := parseBytesLimit(readFile(dir, "memory.max")); ok {
		l.memLimit = max
		if cur, ok := parseBytesLimit(readFile(dir, "memory.current")); ok {
			inactive, _ := parseStatField(readFile(dir, "memory.stat"), "inactive_file")
			l.memHeadroom = headroom(max, cur, inactive)
		}
	}
	if q, ok := parseCPUMax(readFile(dir, "cpu.max")); ok {
		l.cpus = q
	}
	if n, err := ParseCPUList(string(readFile(dir, "cpuset.cpus.effective"))); err == nil {
		l.cpuset = n
	}
	return l
}

// readV1 reads one directory of the cgroup v1 hierarchy of controller.
func readV1(controller, dir string) limits {
	var l limits
	switch controller {
	case "memory":
		if max, ok := parseBytesLimit(readFile(dir, "memory.limit_in_bytes")); ok {
			l.memLimit = max
			if cur, ok := parseBytesLimit(readFile(dir, "memory.usage_in_bytes")); ok {
				inactive, _ := parseStatField(readFile(dir, "memory.stat"), "total_inactive_file")
				l.memHeadroom = headroom(max, cur, inactive)
			}
		}
	case "cpu":
		quota, err1 := strconv.ParseInt(string(bytes.TrimSpace(readFile(dir, "cpu.cfs_quota_us"))), 10, 64)
		period, err2 := strconv.ParseInt(string(bytes.TrimSpace(readFile(dir, "cpu.cfs_period_us"))), 10, 64)
		if err1 == nil && err2 == nil && quota > 0 && period > 0 {
			l.cpus = float64(quota) / float64(period)
		}
	case "cpuset":
		if n, err := ParseCPUList(string(readFile(dir, "cpuset.effective_cpus"))); err == nil {
			l.cpuset = n
		}
	}
	return l
}

// headroom is what a cgroup may still use: its limit less its usage, with
// the inactive file cache counted as free (the kernel reclaims it before
// it OOM-kills), at least 1 byte so that "no room" is not "no limit".
func headroom(limit, usage, inactive uint64) uint64 {
	used := usage - min(inactive, usage)
	if used >= limit {
		return 1
	}
	return limit - used
}

// unlimitedBytes is the smallest value treated as no limit: cgroup v1
// writes "no limit" as a page-rounded 2^63-1.
const unlimitedBytes = 1 << 62

// parseBytesLimit parses a cgroup byte count ("max" or a number). It
// reports false for "max", for values that mean no limit, and for
// anything malformed.
func parseBytesLimit(data []byte) (uint64, bool) {
	s := strings.TrimSpace(string(data))
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n >= unlimitedBytes {
		return 0, false
	}
	return n, true
}

// parseCPUMax parses cgroup v2 cpu.max ("max 100000" or "200000 100000")
// into CPUs; false when there is no quota or it is malformed.
func parseCPUMax(data []byte) (float64, bool) {
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0, false
	}
	quota, err1 := strconv.ParseUint(f[0], 10, 64)
	period, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || quota == 0 || period == 0 {
		return 0, false
	}
	return float64(quota) / float64(period), true
}

// parseStatField returns the value of the line "name N" in a memory.stat.
func parseStatField(data []byte, name string) (uint64, bool) {
	for line := range strings.Lines(string(data)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && k == name {
			n, err := strconv.ParseUint(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// parseCgroupPath returns this process's cgroup path in the hierarchy of
// controller from /proc/self/cgroup ("N:a,b:/path" lines); controller ""
// is the v2 unified hierarchy ("0::/path"). Paths with ".." are refused.
func parseCgroupPath(data []byte, controller string) (string, bool) {
	for line := range strings.Lines(string(data)) {
		parts := strings.SplitN(strings.TrimRight(line, "\n"), ":", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
			continue
		}
		match := parts[0] == "0" && parts[1] == ""
		if controller != "" {
			match = slices.Contains(strings.Split(parts[1], ","), controller)
		}
		if match && !slices.Contains(strings.Split(parts[2], "/"), "..") {
			return parts[2], true
		}
	}
	return "", false
}

// applyCgroup lowers r to the cgroup's limits.
func applyCgroup(r *Resources, l limits) {
	if l.memLimit != 0 {
		r.MemTotalMB = min(r.MemTotalMB, int64(l.memLimit>>20))
		r.CgroupMemLimitMB = int64(l.memLimit >> 20)
	}
	if l.memHeadroom != 0 {
		r.MemAvailableMB = min(r.MemAvailableMB, int64(l.memHeadroom>>20))
	}
	if l.cpuset != 0 {
		r.CPUs = min(r.CPUs, l.cpuset)
	}
	if l.cpus != 0 {
		r.CPUs = min(r.CPUs, max(1, int(math.Ceil(l.cpus))))
	}
}

// String describes the resources, e.g. "2 CPUs, 1024 of 2048 MiB available (cgroup limit 2048 MiB)".
func (r Resources) String() string {
	s := fmt.Sprintf("%d CPUs, %d of %d MiB available", r.CPUs, r.MemAvailableMB, r.MemTotalMB)
	if r.CgroupMemLimitMB != 0 {
		s += fmt.Sprintf(" (cgroup limit %d MiB)", r.CgroupMemLimitMB)
	}
	return s
}
