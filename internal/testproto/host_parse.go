package testproto

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ktest-dev/ktest/internal/hostres"
)

// Pure parsers for the /proc and /sys files of the host snapshot. Each
// takes the file's content and returns an error saying what was wrong,
// never panicking on any input (see the fuzz targets).

// meminfo holds the /proc/meminfo figures the snapshot uses, in bytes.
type meminfo struct {
	MemTotal     uint64
	MemAvailable uint64
}

// parseMeminfo reads MemTotal and MemAvailable ("MemAvailable:  123 kB")
// from /proc/meminfo with the parser host admission uses too
// (internal/hostres). MemAvailable is required; MemTotal is optional (0).
func parseMeminfo(data []byte) (meminfo, error) {
	m, err := hostres.ParseMeminfo(data)
	if err != nil {
		return meminfo{}, err
	}
	if !m.HasAvailable {
		return meminfo{MemTotal: m.Total}, fmt.Errorf("parse meminfo: no MemAvailable line")
	}
	return meminfo{MemTotal: m.Total, MemAvailable: m.Available}, nil
}

// loadavg is /proc/loadavg: "0.52 0.40 0.31 2/147 12345".
type loadavg struct {
	Load1, Load5, Load15 float64
	ProcsRunning         int
	ProcsTotal           int
}

func parseLoadavg(data []byte) (loadavg, error) {
	var l loadavg
	f := strings.Fields(string(data))
	if len(f) < 4 {
		return l, fmt.Errorf("parse loadavg: want at least 4 fields, got %d in %q", len(f), truncate(data))
	}
	loads := []*float64{&l.Load1, &l.Load5, &l.Load15}
	for i, p := range loads {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return l, fmt.Errorf("parse loadavg: field %d is %q, want a non-negative number", i+1, f[i])
		}
		*p = v
	}
	running, total, ok := strings.Cut(f[3], "/")
	if !ok {
		return l, fmt.Errorf("parse loadavg: field 4 is %q, want running/total", f[3])
	}
	var err error
	if l.ProcsRunning, err = parseCount(running); err != nil {
		return l, fmt.Errorf("parse loadavg running: %w", err)
	}
	if l.ProcsTotal, err = parseCount(total); err != nil {
		return l, fmt.Errorf("parse loadavg total: %w", err)
	}
	return l, nil
}

// parseFileNr reads /proc/sys/fs/file-nr: "allocated unused max".
func parseFileNr(data []byte) (allocated, maxFiles uint64, err error) {
	f := strings.Fields(string(data))
	if len(f) != 3 {
		return 0, 0, fmt.Errorf("parse file-nr: want 3 fields, got %d in %q", len(f), truncate(data))
	}
	if allocated, err = strconv.ParseUint(f[0], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("parse file-nr allocated: %w", err)
	}
	if maxFiles, err = strconv.ParseUint(f[2], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("parse file-nr max: %w", err)
	}
	return allocated, maxFiles, nil
}

// maxCPUs bounds a CPU list: Linux's NR_CPUS tops out at 8192; this leaves
// room while refusing absurd ranges.
const maxCPUs = 1 << 16

// parseCPUList counts the CPUs in a kernel CPU list such as
// /sys/devices/system/cpu/online: "0-3,5,8-9".
func parseCPUList(data []byte) (int, error) {
	s := string(bytes.TrimSpace(data))
	if s == "" {
		return 0, fmt.Errorf("parse cpu list: empty")
	}
	count := 0
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := parseCount(lo)
		if err != nil {
			return 0, fmt.Errorf("parse cpu list %q: %w", s, err)
		}
		last := first
		if isRange {
			if last, err = parseCount(hi); err != nil {
				return 0, fmt.Errorf("parse cpu list %q: %w", s, err)
			}
		}
		if last < first || last >= maxCPUs {
			return 0, fmt.Errorf("parse cpu list %q: bad range %q", s, part)
		}
		count += last - first + 1
		if count > maxCPUs {
			return 0, fmt.Errorf("parse cpu list %q: more than %d CPUs", s, maxCPUs)
		}
	}
	return count, nil
}

// parseCount parses a non-negative decimal that fits an int32, so sums of a
// few stay far from overflow.
func parseCount(s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 0, fmt.Errorf("%q is not a count: %w", s, err)
	}
	return int(n), nil
}

func truncate(data []byte) string {
	const maxLen = 80
	s := strings.TrimSpace(string(data))
	if len(s) > maxLen {
		return s[:maxLen] + "..."
	}
	return s
}
