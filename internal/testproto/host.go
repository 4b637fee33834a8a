package testproto

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// HostSnapshot is the host's resource state at one moment (docs/spec.md §4, §8): it
// goes into every contention banner and every sidecar, so a skip caused by
// host pressure can be explained afterwards. JSON names are part of the
// sidecar schema.
type HostSnapshot struct {
	// TakenAt is when the snapshot was taken (UTC).
	TakenAt time.Time `json:"taken_at"`
	// Hostname and KernelRelease (uname -r) identify the host.
	Hostname      string `json:"hostname"`
	KernelRelease string `json:"kernel_release"`
	// MemAvailable and MemTotal are from /proc/meminfo, in bytes.
	MemAvailable uint64 `json:"mem_available_bytes"`
	MemTotal     uint64 `json:"mem_total_bytes"`
	// Load1, Load5 and Load15 are the load averages of /proc/loadavg.
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Load15 float64 `json:"load15"`
	// ProcsRunning and ProcsTotal are /proc/loadavg's runnable and total
	// scheduling entities.
	ProcsRunning int `json:"procs_running"`
	ProcsTotal   int `json:"procs_total"`
	// OnlineCPUs counts /sys/devices/system/cpu/online, or, when that is
	// unreadable, the CPUs this process may run on (runtime.NumCPU).
	OnlineCPUs int `json:"online_cpus"`
	// OpenFDs is this process's open file descriptors (/proc/self/fd).
	OpenFDs int `json:"open_fds"`
	// NoFileSoft and NoFileHard are this process's RLIMIT_NOFILE. The Go
	// runtime raises the soft limit to the hard one at start-up, so in a Go
	// program they are usually equal. RLIM_INFINITY is the maximum uint64.
	NoFileSoft uint64 `json:"rlimit_nofile_soft"`
	NoFileHard uint64 `json:"rlimit_nofile_hard"`
	// FileNrAllocated and FileNrMax are the system-wide file handles in use
	// and their limit (/proc/sys/fs/file-nr).
	FileNrAllocated uint64 `json:"file_nr_allocated"`
	FileNrMax       uint64 `json:"file_nr_max"`
	// Unreadable names the sources that could not be read or parsed; their
	// fields are left zero. Names: meminfo, loadavg, file_nr, open_fds,
	// rlimit_nofile, hostname, kernel_release.
	Unreadable []string `json:"unreadable,omitempty"`
}

// hostSources are the files a snapshot reads; tests point them elsewhere.
type hostSources struct {
	meminfo   string
	loadavg   string
	fileNr    string
	cpuOnline string
	fdDir     string
}

var defaultHostSources = hostSources{
	meminfo:   "/proc/meminfo",
	loadavg:   "/proc/loadavg",
	fileNr:    "/proc/sys/fs/file-nr",
	cpuOnline: "/sys/devices/system/cpu/online",
	fdDir:     "/proc/self/fd",
}

// TakeHostSnapshot reads the host's resource state. It never fails: a
// source it cannot read leaves its fields zero and is named in Unreadable.
// It costs a few small file reads (well under a millisecond).
func TakeHostSnapshot() HostSnapshot {
	return takeHostSnapshot(defaultHostSources)
}

func takeHostSnapshot(src hostSources) HostSnapshot {
	h := HostSnapshot{TakenAt: time.Now().UTC()}
	unreadable := func(name string) { h.Unreadable = append(h.Unreadable, name) }

	if data, err := os.ReadFile(src.meminfo); err != nil {
		unreadable("meminfo")
	} else if m, err := parseMeminfo(data); err != nil {
		unreadable("meminfo")
	} else {
		h.MemAvailable, h.MemTotal = m.MemAvailable, m.MemTotal
	}

	if data, err := os.ReadFile(src.loadavg); err != nil {
		unreadable("loadavg")
	} else if l, err := parseLoadavg(data); err != nil {
		unreadable("loadavg")
	} else {
		h.Load1, h.Load5, h.Load15 = l.Load1, l.Load5, l.Load15
		h.ProcsRunning, h.ProcsTotal = l.ProcsRunning, l.ProcsTotal
	}

	if data, err := os.ReadFile(src.fileNr); err != nil {
		unreadable("file_nr")
	} else if alloc, maxFiles, err := parseFileNr(data); err != nil {
		unreadable("file_nr")
	} else {
		h.FileNrAllocated, h.FileNrMax = alloc, maxFiles
	}

	h.OnlineCPUs = runtime.NumCPU()
	if data, err := os.ReadFile(src.cpuOnline); err == nil {
		if n, err := parseCPUList(data); err == nil {
			h.OnlineCPUs = n
		}
	}

	// The directory's own fd, open while it is listed, is not counted.
	if entries, err := os.ReadDir(src.fdDir); err != nil {
		unreadable("open_fds")
	} else {
		h.OpenFDs = max(len(entries)-1, 0)
	}

	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		unreadable("rlimit_nofile")
	} else {
		h.NoFileSoft, h.NoFileHard = lim.Cur, lim.Max
	}

	if name, err := os.Hostname(); err != nil {
		unreadable("hostname")
	} else {
		h.Hostname = name
	}

	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		unreadable("kernel_release")
	} else {
		h.KernelRelease = unix.ByteSliceToString(uts.Release[:])
	}
	return h
}

// Summary is the snapshot as one compact line for banners, e.g.
//
//	mem_available=21.3GiB load=0.52/0.40/0.31 procs_running=2 cpus=2 fds=12/1048576 file_nr=1234/9223372036854775807
//
// An unreadable figure prints as "?", and the unreadable sources are
// listed at the end.
func (h HostSnapshot) Summary() string {
	bad := map[string]bool{}
	for _, name := range h.Unreadable {
		bad[name] = true
	}
	pick := func(source, s string) string {
		if bad[source] {
			return "?"
		}
		return s
	}
	var b strings.Builder
	fmt.Fprintf(&b, "mem_available=%s", pick("meminfo", formatBytes(h.MemAvailable)))
	fmt.Fprintf(&b, " load=%s", pick("loadavg", fmt.Sprintf("%.2f/%.2f/%.2f", h.Load1, h.Load5, h.Load15)))
	fmt.Fprintf(&b, " procs_running=%s", pick("loadavg", strconv.Itoa(h.ProcsRunning)))
	fmt.Fprintf(&b, " cpus=%d", h.OnlineCPUs)
	fmt.Fprintf(&b, " fds=%s/%s", pick("open_fds", strconv.Itoa(h.OpenFDs)), pick("rlimit_nofile", formatLimit(h.NoFileSoft)))
	fmt.Fprintf(&b, " file_nr=%s", pick("file_nr", fmt.Sprintf("%d/%d", h.FileNrAllocated, h.FileNrMax)))
	if len(h.Unreadable) > 0 {
		fmt.Fprintf(&b, " unreadable=%s", strings.Join(h.Unreadable, ","))
	}
	return b.String()
}

// formatBytes prints a byte count with a binary unit and one decimal.
func formatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + "B"
	}
	div, exp := uint64(unit), 0
	for n/div >= unit && exp < 5 {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// formatLimit prints an rlimit, RLIM_INFINITY as "unlimited".
func formatLimit(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}
