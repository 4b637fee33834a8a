package guest

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/hostres"
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

// ParseCPUList counts the CPUs in a kernel CPU list such as "0-3,5,7-8\n".
// An empty list (only whitespace) counts as 0.
func ParseCPUList(s string) (int, error) { return hostres.ParseCPUList(s) }

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
	data, err := io.ReadAll(r)
	if err != nil {
		return 0, fmt.Errorf("read meminfo: %w", err)
	}
	m, err := hostres.ParseMeminfo(data)
	if err != nil {
		return 0, err
	}
	if !m.HasTotal {
		return 0, fmt.Errorf("parse meminfo: no MemTotal line")
	}
	return m.Total, nil
}
