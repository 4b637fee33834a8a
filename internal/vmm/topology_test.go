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

// A topology reaches QEMU's -smp; NUMA nodes move the boot to q35 (whose
// ACPI tables carry the SRAT) with one shared memory backend per node.
func TestMachineTopologyArgs(t *testing.T) {
	k := kernelFiles{image: "/k/bzImage", vmlinux: "/k/vmlinux"}
	flat := machine{kernel: k, cpus: 4, memMB: 512, accel: "tcg", topology: &Topology{Sockets: 2, Cores: 2, Threads: 1}}
	a := flat.args()
	if flat.q35() || !hasArgs(a, "-smp", "cpus=4,sockets=2,cores=2,threads=1") || !hasArgs(a, "-kernel", "/k/vmlinux") {
		t.Errorf("flat topology: %q", a)
	}
	numa := flat
	numa.topology = &Topology{Sockets: 2, Cores: 2, Threads: 1, NUMA: []NUMANode{{CPUs: 2, MemoryMB: 256}, {CPUs: 2, MemoryMB: 256}}}
	a = numa.args()
	if !numa.q35() || !hasArgs(a, "-machine", "q35") || !hasArgs(a, "-kernel", "/k/bzImage") ||
		!hasArgs(a, "-numa", "node,nodeid=1,memdev=numa-mem1,cpus=2-3") || slices.Contains(a, "memory-backend-memfd,id=mem,size=512M,share=on") {
		t.Errorf("NUMA topology: %q", a)
	}
	if plain := (machine{kernel: k, cpus: 2, memMB: 256}).args(); !hasArgs(plain, "-smp", "2") {
		t.Errorf("no topology: %q", plain)
	}
}

func hasArgs(a []string, flag, value string) bool {
	for i := 0; i+1 < len(a); i++ {
		if a[i] == flag && a[i+1] == value {
			return true
		}
	}
	return false
}
