package vmm

import (
	"slices"
	"testing"
)

func TestTopologyArgs(t *testing.T) {
	top := Topology{Sockets: 2, Cores: 2, Threads: 1, NUMA: []NUMANode{{CPUs: 2, MemoryMB: 256}, {CPUs: 2, MemoryMB: 512}}}
	if err := top.Validate(768); err != nil {
		t.Fatal(err)
	}
	if err := top.Validate(0); err != nil {
		t.Fatal(err)
	}
	if got := top.SMPArg(); got != "cpus=4,sockets=2,cores=2,threads=1" {
		t.Errorf("SMPArg = %q", got)
	}
	want := []string{
		"-object", "memory-backend-memfd,id=numa-mem0,size=256M,share=on", "-numa", "node,nodeid=0,memdev=numa-mem0,cpus=0-1",
		"-object", "memory-backend-memfd,id=numa-mem1,size=512M,share=on", "-numa", "node,nodeid=1,memdev=numa-mem1,cpus=2-3",
	}
	if got := top.NUMAArgs("memory-backend-memfd", true); !slices.Equal(got, want) {
		t.Errorf("NUMAArgs =\n%q\nwant\n%q", got, want)
	}
	if got := (Topology{Sockets: 1, Cores: 1, Threads: 1}).NUMAArgs("x", false); got != nil {
		t.Errorf("no nodes: %q", got)
	}
	// A memory-only node takes no CPUs.
	mo := Topology{Sockets: 1, Cores: 2, Threads: 1, NUMA: []NUMANode{{CPUs: 2, MemoryMB: 128}, {MemoryMB: 128}}}
	if got := mo.NUMAArgs("memory-backend-ram", false); got[3] != "node,nodeid=0,memdev=numa-mem0,cpus=0-1" || got[7] != "node,nodeid=1,memdev=numa-mem1" {
		t.Errorf("memory-only node: %q", got)
	}
}

func TestTopologyValidate(t *testing.T) {
	for name, c := range map[string]struct {
		top Topology
		mem int
	}{
		"zero sockets":   {Topology{Cores: 1, Threads: 1}, 0},
		"zero threads":   {Topology{Sockets: 1, Cores: 1}, 0},
		"cpus mismatch":  {Topology{Sockets: 1, Cores: 2, Threads: 1, NUMA: []NUMANode{{CPUs: 1, MemoryMB: 64}}}, 0},
		"memory differs": {Topology{Sockets: 1, Cores: 1, Threads: 1, NUMA: []NUMANode{{CPUs: 1, MemoryMB: 64}}}, 128},
		"no memory":      {Topology{Sockets: 1, Cores: 1, Threads: 1, NUMA: []NUMANode{{CPUs: 1}}}, 0},
		"negative cpus":  {Topology{Sockets: 1, Cores: 1, Threads: 1, NUMA: []NUMANode{{CPUs: -1, MemoryMB: 1}, {CPUs: 2, MemoryMB: 1}}}, 0},
	} {
		if err := c.top.Validate(c.mem); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
