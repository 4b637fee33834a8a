// Package topology shows topology as code: the test asks for a guest of
// two sockets with two cores each, in two NUMA nodes of 256 MiB, and
// checks inside the guest that its sysfs shows that layout
// (kerneltest.CheckTopology). kerneltest.Gauntlet runs one body over
// several such layouts as subtests:
//
//	kerneltest.Gauntlet(t, kerneltest.Config{}, kerneltest.Presets, func(g *kerneltest.G, p kerneltest.Preset) {
//		kerneltest.CheckTopology(g, p.Topology)
//	})
package topology

import (
	"runtime"
	"testing"

	"github.com/ktest-dev/ktest/kerneltest"
)

func TestGuestTopology(t *testing.T) {
	top := kerneltest.Topology{
		Sockets: 2, Cores: 2, Threads: 1,
		NUMA: []kerneltest.Node{{CPUs: 2, MemoryMB: 256}, {CPUs: 2, MemoryMB: 256}},
	}
	res := kerneltest.Run(t, kerneltest.Config{Topology: &top}, func(g *kerneltest.G) {
		kerneltest.CheckTopology(g, top)
		g.Report("cpus", runtime.NumCPU())
	})
	var seen kerneltest.Topology
	var cpus int
	if err := res.Value("topology", &seen); err != nil {
		t.Fatal(err)
	}
	if err := res.Value("cpus", &cpus); err != nil {
		t.Fatal(err)
	}
	t.Logf("the guest sees %d CPUs laid out as %+v", cpus, seen)
	if cpus != top.CPUs() {
		t.Errorf("the guest sees %d CPUs, want %d", cpus, top.CPUs())
	}
}
