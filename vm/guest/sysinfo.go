package guest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// KernelRelease returns the running kernel's release (uname -r).
func KernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// KernelCmdline returns the kernel command line (from /proc/cmdline),
// including vm.Config.Cmdline.
func KernelCmdline() (string, error) {
	data, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return "", fmt.Errorf("read kernel command line: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// OnlineCPUs returns the number of online CPUs, from
// /sys/devices/system/cpu/online.
func OnlineCPUs() (int, error) {
	const path = "/sys/devices/system/cpu/online"
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read online CPUs: %w", err)
	}
	n, err := ParseCPUList(string(data))
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return n, nil
}

// maxCPUs bounds a CPU list so that a malformed range cannot claim
// billions of CPUs (the kernel's NR_CPUS maximum is 8192).
const maxCPUs = 1 << 16

// ParseCPUList counts the CPUs in a kernel CPU list such as "0-3,5,7-8\n".
// An empty list (only whitespace) counts as 0.
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
		if last < first || last >= maxCPUs {
			return 0, fmt.Errorf("CPU list %q: bad range %q", s, part)
		}
		count += int(last-first) + 1
		if count > maxCPUs {
			return 0, fmt.Errorf("CPU list %q: more than %d CPUs", s, maxCPUs)
		}
	}
	return count, nil
}

// MemTotal returns the guest's usable RAM in bytes (MemTotal in
// /proc/meminfo). It is less than the VM's configured memory by what the
// firmware and kernel reserve.
func MemTotal() (uint64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("open meminfo: %w", err)
	}
	defer f.Close() // read-only
	return ParseMemTotal(f)
}

// ParseMemTotal extracts MemTotal, in bytes, from /proc/meminfo content
// ("MemTotal:        8048984 kB").
func ParseMemTotal(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("parse meminfo: MemTotal line %q is not \"<n> kB\"", sc.Text())
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil || kb > 1<<53 {
			return 0, fmt.Errorf("parse meminfo: MemTotal value %q is not a size in kB", fields[0])
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read meminfo: %w", err)
	}
	return 0, fmt.Errorf("parse meminfo: no MemTotal line")
}
