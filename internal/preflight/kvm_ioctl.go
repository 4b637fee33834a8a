package preflight

import (
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Architecture-independent KVM ioctl requests and constants from
// <linux/kvm.h> (see LINUX-FACTS.md). The vCPU register ioctls are
// x86-specific and live in kvm_vcpu_amd64.go.
const (
	kvmGetAPIVersion       = 0xAE00
	kvmCreateVM            = 0xAE01
	kvmCheckExtension      = 0xAE03
	kvmGetVCPUMmapSize     = 0xAE04
	kvmCreateVCPU          = 0xAE41
	kvmSetUserMemoryRegion = 0x4020AE46
	kvmRun                 = 0xAE80

	// kvmCapImmediateExit (KVM_CAP_IMMEDIATE_EXIT) says KVM_RUN honours
	// kvm_run.immediate_exit.
	kvmCapImmediateExit = 136

	// kvmWantAPIVersion is the only API version Linux has shipped since 2.6.22.
	kvmWantAPIVersion = 12
)

// Exit reasons (kvm_run.exit_reason).
const (
	kvmExitIO            = 2
	kvmExitHLT           = 5
	kvmExitShutdown      = 8
	kvmExitFailEntry     = 9
	kvmExitIntr          = 10
	kvmExitInternalError = 17
)

// Offsets into struct kvm_run.
const (
	kvmRunImmediateExitWord = 0  // u32 holding request_interrupt_window (byte 0) and immediate_exit (byte 1)
	kvmRunExitReason        = 8  // u32
	kvmRunIODirection       = 32 // u8: 0 in, 1 out
	kvmRunIOSize            = 33 // u8
	kvmRunIOPort            = 34 // u16
	kvmRunIOCount           = 36 // u32
	kvmRunIODataOffset      = 40 // u64, from the start of kvm_run
)

// kvmUserspaceMemoryRegion is struct kvm_userspace_memory_region (32 bytes).
type kvmUserspaceMemoryRegion struct {
	Slot          uint32
	Flags         uint32
	GuestPhysAddr uint64
	MemorySize    uint64
	UserspaceAddr uint64
}

// Compile-time layout check: indexing a one-element array with a non-zero
// constant (or a uintptr underflow) fails the build if the size drifts.
var _ = [1]struct{}{}[unsafe.Sizeof(kvmUserspaceMemoryRegion{})-32]

// kvmIoctl issues an ioctl whose argument is an integer and returns its
// result. EINTR is retried: these requests have no side effect before they
// fail, and a Go runtime preemption signal must not turn into a spurious
// fault. KVM_RUN does not go through here (see runFor).
func kvmIoctl(fd int, req, arg uintptr) (int, syscall.Errno) {
	for {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return -1, errno
		}
		return int(r), 0
	}
}

// kvmIoctlPtr issues an ioctl whose argument is a pointer to a struct the
// kernel reads or fills. p keeps the struct alive for the call.
func kvmIoctlPtr(fd int, req uintptr, p unsafe.Pointer) syscall.Errno {
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(p))
		if errno != unix.EINTR {
			return errno
		}
	}
}

// kvmExitName names an exit reason for error messages.
func kvmExitName(reason uint32) string {
	switch reason {
	case kvmExitIO:
		return "IO"
	case kvmExitHLT:
		return "HLT"
	case kvmExitShutdown:
		return "SHUTDOWN"
	case kvmExitFailEntry:
		return "FAIL_ENTRY"
	case kvmExitIntr:
		return "INTR"
	case kvmExitInternalError:
		return "INTERNAL_ERROR"
	default:
		return "exit reason " + strconv.FormatUint(uint64(reason), 10)
	}
}
