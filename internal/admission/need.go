package admission

import "fmt"

// Need is what one guest costs the host.
type Need struct {
	// CPUs is the number of host CPUs the guest keeps busy (at least 1; a
	// need above the host's CPUs is clamped to them, so such a guest runs
	// alone).
	CPUs int
	// MemoryMB is the host memory the guest may use, in MiB: its RAM plus
	// QEMU's own (see GuestNeed).
	MemoryMB int64
}

// String reads like "1 CPU, 1152 MiB".
func (n Need) String() string {
	unit := "CPUs"
	if n.CPUs == 1 {
		unit = "CPU"
	}
	return fmt.Sprintf("%d %s, %d MiB", n.CPUs, unit, n.MemoryMB)
}

// QEMUOverheadMB is the memory GuestNeed adds to a guest's RAM for QEMU
// itself (its TCG translation cache, device state, virtiofsd).
const QEMUOverheadMB = 128

// GuestNeed is the Need of a guest with vcpus virtual CPUs and memoryMB of
// RAM. Under TCG with thread=single, all vCPUs share one host thread, so
// the guest costs one host CPU whatever its vCPUs; under KVM each vCPU is a
// thread of its own.
func GuestNeed(vcpus int, memoryMB int64, tcg bool) Need {
	cpus := max(vcpus, 1)
	if tcg {
		cpus = 1
	}
	return Need{CPUs: cpus, MemoryMB: max(memoryMB, 0) + QEMUOverheadMB}
}
