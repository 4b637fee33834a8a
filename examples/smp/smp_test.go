package smp

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ktest-dev/ktest/kerneltest"
	"github.com/ktest-dev/ktest/vm"
)

// TestMain removes the guest program vm builds for the tests.
func TestMain(m *testing.M) { os.Exit(kerneltest.Main(m)) }

const (
	wantCPUs     = 2
	wantMemoryMB = 256
	// minMemShare is the smallest share of the configured RAM MemTotal
	// may show: the firmware and the kernel keep part of it (see the
	// package comment).
	minMemShare = 0.75
)

// TestGuestSeesConfiguredCPUsAndMemory boots a 2-vCPU, 256 MiB VM and
// checks that the guest kernel sees exactly that many CPUs and nearly
// that much memory.
func TestGuestSeesConfiguredCPUsAndMemory(t *testing.T) {
	res := kerneltest.Boot(t, vm.Config{
		Guest:    "./guest",
		CPUs:     wantCPUs,
		MemoryMB: wantMemoryMB,
	})

	if cpus := reportedInt(t, res.Output, "cpus"); cpus != wantCPUs {
		t.Errorf("guest sees %d online CPUs, the VM has %d", cpus, wantCPUs)
	}

	configured := uint64(wantMemoryMB) << 20
	memTotal := reportedInt(t, res.Output, "memtotal_bytes")
	low := uint64(float64(configured) * minMemShare)
	if memTotal < low || memTotal > configured {
		t.Errorf("guest MemTotal is %d MiB (%d bytes); with %d MiB configured want %d..%d MiB",
			memTotal>>20, memTotal, wantMemoryMB, low>>20, configured>>20)
	}
	t.Logf("guest MemTotal %d MiB of %d MiB configured (%.1f%%)", memTotal>>20, wantMemoryMB, 100*float64(memTotal)/float64(configured))
}

// reportedInt returns the number on the guest's "<key>: <n>" output line.
func reportedInt(t *testing.T, output, key string) uint64 {
	t.Helper()
	for line := range strings.Lines(output) {
		if value, ok := strings.CutPrefix(line, key+": "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(value), 10, 64)
			if err != nil {
				t.Fatalf("guest reported %s %q: %v", key, value, err)
			}
			return n
		}
	}
	t.Fatalf("guest output has no %q line:\n%s", key+": ", output)
	return 0
}
