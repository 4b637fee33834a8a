package smp

import (
	"testing"

	"github.com/ktest-dev/ktest/kerneltest"
	"github.com/ktest-dev/ktest/vm/guest"
)

const (
	wantCPUs     = 2
	wantMemoryMB = 256
	// minMemShare is the smallest share of the configured RAM MemTotal
	// may show: the firmware and the kernel keep part of it (see the
	// package comment).
	minMemShare = 0.75
)

// TestGuestSeesConfiguredCPUsAndMemory boots a 2-vCPU, 256 MiB guest and
// checks that its kernel sees exactly that many CPUs and nearly that much
// memory. The body runs in the guest and reports both; the host checks
// them.
func TestGuestSeesConfiguredCPUsAndMemory(t *testing.T) {
	res := kerneltest.Run(t, kerneltest.Config{CPUs: wantCPUs, MemoryMB: wantMemoryMB}, func(g *kerneltest.G) {
		cpus, err := guest.OnlineCPUs()
		if err != nil {
			g.Fatal(err)
		}
		mem, err := guest.MemTotal()
		if err != nil {
			g.Fatal(err)
		}
		g.Report("cpus", cpus)
		g.Report("memtotal_bytes", mem)
	})
	var cpus int
	var memTotal uint64
	if err := res.Value("cpus", &cpus); err != nil {
		t.Fatal(err)
	}
	if err := res.Value("memtotal_bytes", &memTotal); err != nil {
		t.Fatal(err)
	}
	if cpus != wantCPUs {
		t.Errorf("guest sees %d online CPUs, the VM has %d", cpus, wantCPUs)
	}
	configured := uint64(wantMemoryMB) << 20
	low := uint64(float64(configured) * minMemShare)
	if memTotal < low || memTotal > configured {
		t.Errorf("guest MemTotal is %d MiB (%d bytes); with %d MiB configured want %d..%d MiB",
			memTotal>>20, memTotal, wantMemoryMB, low>>20, configured>>20)
	}
	t.Logf("guest MemTotal %d MiB of %d MiB configured (%.1f%%)", memTotal>>20, wantMemoryMB, 100*float64(memTotal)/float64(configured))
}
