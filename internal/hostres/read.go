package hostres

import (
	"fmt"
	"os"
	"runtime"
)

// Resources is a snapshot of the host's capacity for guests.
type Resources struct {
	// CPUs is the number of online CPUs of the host (not this process's
	// affinity mask: admission is host-wide).
	CPUs int
	// MemTotalMB and MemAvailableMB are MemTotal and MemAvailable in MiB
	// (rounded down).
	MemTotalMB     int64
	MemAvailableMB int64
	// CgroupMemLimitMB is this process's cgroup memory limit when there
	// is one (0: none); MemTotalMB and MemAvailableMB are already lowered
	// to it.
	CgroupMemLimitMB int64
}

// Paths of the files Read reads; tests of this package point them
// elsewhere.
var (
	onlineCPUsPath = "/sys/devices/system/cpu/online"
	meminfoPath    = "/proc/meminfo"
)

// Read returns the host's resources now, lowered to the limits of this
// process's cgroup (memory limit, CPU quota, cpuset; see cgroup.go). Without a readable
// /sys/devices/system/cpu/online (sysfs not mounted), CPUs falls back to
// runtime.NumCPU. A /proc/meminfo without MemAvailable (Linux < 3.14) is
// an error: admission must not guess how much memory is free.
func Read() (Resources, error) {
	var r Resources
	if data, err := os.ReadFile(onlineCPUsPath); err == nil {
		n, err := ParseCPUList(string(data))
		if err != nil {
			return r, fmt.Errorf("read host CPUs: parse %s: %w", onlineCPUsPath, err)
		}
		r.CPUs = n
	}
	if r.CPUs <= 0 {
		r.CPUs = runtime.NumCPU()
	}
	data, err := os.ReadFile(meminfoPath)
	if err != nil {
		return r, fmt.Errorf("read host memory: %w", err)
	}
	m, err := ParseMeminfo(data)
	if err != nil {
		return r, fmt.Errorf("read host memory: %w", err)
	}
	if !m.HasAvailable || !m.HasTotal {
		return r, fmt.Errorf("read host memory: %s has no MemAvailable or MemTotal line (Linux 3.14 or later has both)", meminfoPath)
	}
	r.MemTotalMB = int64(m.Total >> 20)
	r.MemAvailableMB = int64(m.Available >> 20)
	applyCgroup(&r, readCgroupLimits())
	return r, nil
}
