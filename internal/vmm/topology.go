package vmm

import (
	"fmt"
	"strconv"
)

// Topology is the guest's CPU and memory layout: Sockets × Cores × Threads
// CPUs, and optionally NUMA nodes, each with a share of the CPUs (in
// order) and of the memory.
type Topology struct {
	Sockets, Cores, Threads int
	NUMA                    []NUMANode
}

// NUMANode is one NUMA node: CPUs is how many CPUs it holds (the next ones
// in order), MemoryMB its memory.
type NUMANode struct {
	CPUs     int
	MemoryMB int
}

// CPUs is the number of CPUs the topology has.
func (t Topology) CPUs() int { return t.Sockets * t.Cores * t.Threads }

// MemoryMB is the sum of the nodes' memory, 0 without nodes.
func (t Topology) MemoryMB() int {
	n := 0
	for _, node := range t.NUMA {
		n += node.MemoryMB
	}
	return n
}

// Validate checks that the topology is one QEMU can build: positive
// counts, and nodes that share out exactly the CPUs and memoryMB (the
// guest's memory; 0 takes the nodes' sum).
func (t Topology) Validate(memoryMB int) error {
	if t.Sockets < 1 || t.Cores < 1 || t.Threads < 1 {
		return fmt.Errorf("topology %d sockets × %d cores × %d threads: each must be at least 1", t.Sockets, t.Cores, t.Threads)
	}
	if len(t.NUMA) == 0 {
		return nil
	}
	cpus := 0
	for i, n := range t.NUMA {
		if n.CPUs < 0 || n.MemoryMB < 1 {
			return fmt.Errorf("topology NUMA node %d: %d CPUs and %d MiB (CPUs at least 0, memory at least 1 MiB)", i, n.CPUs, n.MemoryMB)
		}
		cpus += n.CPUs
	}
	if cpus != t.CPUs() {
		return fmt.Errorf("topology NUMA nodes hold %d CPUs, the topology has %d", cpus, t.CPUs())
	}
	if memoryMB != 0 && memoryMB != t.MemoryMB() {
		return fmt.Errorf("topology NUMA nodes hold %d MiB, the guest has %d", t.MemoryMB(), memoryMB)
	}
	return nil
}

// SMPArg is the value of QEMU's -smp.
func (t Topology) SMPArg() string {
	return fmt.Sprintf("cpus=%d,sockets=%d,cores=%d,threads=%d", t.CPUs(), t.Sockets, t.Cores, t.Threads)
}

// NUMAArgs are QEMU arguments for the nodes: one memory backend per node
// (backend is the -object type, e.g. "memory-backend-memfd"; share=on for
// vhost-user devices such as virtiofsd) and its -numa node. Nil without
// nodes.
func (t Topology) NUMAArgs(backend string, share bool) []string {
	var args []string
	cpu := 0
	for i, n := range t.NUMA {
		obj := fmt.Sprintf("%s,id=numa-mem%d,size=%dM", backend, i, n.MemoryMB)
		if share {
			obj += ",share=on"
		}
		node := "node,nodeid=" + strconv.Itoa(i) + ",memdev=numa-mem" + strconv.Itoa(i)
		if n.CPUs > 0 {
			node += fmt.Sprintf(",cpus=%d-%d", cpu, cpu+n.CPUs-1)
			cpu += n.CPUs
		}
		args = append(args, "-object", obj, "-numa", node)
	}
	return args
}
