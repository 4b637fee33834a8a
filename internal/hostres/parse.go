package hostres

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Meminfo holds the /proc/meminfo figures ktest uses, in bytes. A figure
// whose line is absent is 0 with its Has flag false (MemAvailable exists
// since Linux 3.14; a line can legitimately read "0 kB").
type Meminfo struct {
	Total        uint64 // MemTotal
	Available    uint64 // MemAvailable
	HasTotal     bool
	HasAvailable bool
}

// ParseMeminfo reads MemTotal and MemAvailable ("MemAvailable:  123 kB")
// from /proc/meminfo content. A malformed line of either is an error; an
// absent one is not (callers check the Has flag of what they need).
func ParseMeminfo(data []byte) (Meminfo, error) {
	var m Meminfo
	for line := range strings.Lines(string(data)) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "MemAvailable" && name != "MemTotal") {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return m, fmt.Errorf("parse meminfo %s: want \"<number> kB\", got %q", name, strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("parse meminfo %s: %w", name, err)
		}
		if kb > math.MaxUint64/1024 {
			return m, fmt.Errorf("parse meminfo %s: %d kB overflows", name, kb)
		}
		if name == "MemAvailable" {
			m.Available, m.HasAvailable = kb*1024, true
		} else {
			m.Total, m.HasTotal = kb*1024, true
		}
	}
	return m, nil
}

// MaxCPUs bounds a CPU list so that a malformed range cannot claim
// billions of CPUs (the kernel's NR_CPUS maximum is 8192).
const MaxCPUs = 1 << 16

// ParseCPUList counts the CPUs in a kernel CPU list such as "0-3,5,7-8\n"
// (the format of /sys/devices/system/cpu/online). An empty list (only
// whitespace) counts as 0.
func ParseCPUList(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	count := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.ParseUint(lo, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("CPU list %q: bad CPU number %q", s, lo)
		}
		last := first
		if isRange {
			if last, err = strconv.ParseUint(hi, 10, 32); err != nil {
				return 0, fmt.Errorf("CPU list %q: bad CPU number %q", s, hi)
			}
		}
		if last < first || last >= MaxCPUs {
			return 0, fmt.Errorf("CPU list %q: bad range %q", s, part)
		}
		count += int(last-first) + 1
		if count > MaxCPUs {
			return 0, fmt.Errorf("CPU list %q: more than %d CPUs", s, MaxCPUs)
		}
	}
	return count, nil
}
