package vmconfig

import (
	"fmt"
	"strconv"
	"strings"
)

// VM is the guest's settings. A zero field is unset: it keeps the value
// of the layer below (Override).
type VM struct {
	// CPUs is the number of vCPUs (1 to MaxCPUs).
	CPUs int
	// MemoryMB is the guest's RAM in MiB (MinMemoryMB to MaxMemoryMB).
	MemoryMB int64
	// Modules are kernel modules the guest loads before the test (nil:
	// unset; empty: set to none).
	Modules []string
	// Setup are shell command lines the guest runs, in order, before the
	// test (nil: unset; empty: set to none).
	Setup []string
	// Pack are host files, directories or commands (names looked up in
	// PATH) the initramfs transport packs besides what it always packs;
	// with virtio-fs, which shows the whole host, they change nothing
	// (nil: unset; empty: set to none).
	Pack []string
}

// Bounds of the settings.
const (
	MaxCPUs     = 255
	MinMemoryMB = 64
	MaxMemoryMB = 1 << 20 // 1 TiB
)

// Defaults are what a guest gets when neither the file nor a flag says
// otherwise: 2 vCPUs (some suites need GOMAXPROCS >= 2) and 1 GiB.
func Defaults() VM {
	return VM{CPUs: 2, MemoryMB: 1024, Modules: []string{}, Setup: []string{}, Pack: []string{}}
}

// Override returns v with every field set in o replacing v's.
func (v VM) Override(o VM) VM {
	if o.CPUs != 0 {
		v.CPUs = o.CPUs
	}
	if o.MemoryMB != 0 {
		v.MemoryMB = o.MemoryMB
	}
	if o.Modules != nil {
		v.Modules = o.Modules
	}
	if o.Setup != nil {
		v.Setup = o.Setup
	}
	if o.Pack != nil {
		v.Pack = o.Pack
	}
	return v
}

// ParseCPUs parses a vCPU count (for --vm-cpus too).
func ParseCPUs(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("vCPUs %q: want a number from 1 to %d", s, MaxCPUs)
	}
	return n, checkCPUs(int64(n))
}

func checkCPUs(n int64) error {
	if n < 1 || n > MaxCPUs {
		return fmt.Errorf("vCPUs %d: want a number from 1 to %d", n, MaxCPUs)
	}
	return nil
}

// ParseMemory parses a memory size the way QEMU's -m reads it (and
// vimto's memory setting): a number with an optional binary suffix K, M,
// G or T (also KB/KiB, MB/MiB, ...; case-insensitive), a bare number
// meaning MiB, and an optional "size=" prefix. It returns MiB and is used
// for --vm-memory too. The size must be a whole number of MiB from
// MinMemoryMB to MaxMemoryMB.
func ParseMemory(s string) (int64, error) {
	orig := s
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "size=")
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	num, unit := s[:i], strings.ToUpper(strings.TrimSpace(s[i:]))
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "IB"), "B")
	shift, ok := map[string]uint{"": 20, "K": 10, "M": 20, "G": 30, "T": 40}[unit]
	n, err := strconv.ParseUint(num, 10, 64)
	if !ok || err != nil || (unit == "" && strings.HasSuffix(strings.ToUpper(s), "B")) {
		return 0, fmt.Errorf("memory %q: want a size such as 1G, 512M or 2048 (MiB)", orig)
	}
	if n > MaxMemoryMB<<20>>shift {
		return 0, fmt.Errorf("memory %q: more than the largest guest (%d MiB)", orig, MaxMemoryMB)
	}
	bytes := n << shift
	if bytes%(1<<20) != 0 {
		return 0, fmt.Errorf("memory %q: not a whole number of MiB", orig)
	}
	mb := int64(bytes >> 20)
	if mb < MinMemoryMB {
		return 0, fmt.Errorf("memory %q: less than the smallest guest (%d MiB)", orig, MinMemoryMB)
	}
	return mb, nil
}
