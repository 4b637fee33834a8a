//go:build linux && amd64

package preflight

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// x86-specific vCPU register ioctls.
const (
	kvmGetRegs  = 0x8090AE81
	kvmSetRegs  = 0x4090AE82
	kvmGetSregs = 0x8138AE83
	kvmSetSregs = 0x4138AE84
)

// kvmRegs is struct kvm_regs (x86_64, 144 bytes).
type kvmRegs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
}

// kvmSegment is struct kvm_segment (24 bytes).
type kvmSegment struct {
	Base                                           uint64
	Limit                                          uint32
	Selector                                       uint16
	Type, Present, DPL, DB, S, L, G, AVL, Unusable uint8
	Padding                                        uint8
}

// kvmDtable is struct kvm_dtable (16 bytes).
type kvmDtable struct {
	Base    uint64
	Limit   uint16
	Padding [3]uint16
}

// kvmSregs is struct kvm_sregs (x86_64, 312 bytes).
type kvmSregs struct {
	CS, DS, ES, FS, GS, SS, TR, LDT         kvmSegment
	GDT, IDT                                kvmDtable
	CR0, CR2, CR3, CR4, CR8, EFER, APICBase uint64
	InterruptBitmap                         [4]uint64
}

var (
	_ = [1]struct{}{}[unsafe.Sizeof(kvmRegs{})-144]
	_ = [1]struct{}{}[unsafe.Sizeof(kvmSegment{})-24]
	_ = [1]struct{}{}[unsafe.Sizeof(kvmSregs{})-312]
)

const (
	// guestCodeAddr is where the one page of guest memory sits and where
	// the guest starts (real mode, cs.base 0, ip 0x1000).
	guestCodeAddr = 0x1000
	guestMemSize  = 0x1000

	// probePort and probeValue are what the HLT probe's guest writes.
	probePort  = 0x10
	probeValue = 0x42

	// hltProbeBudget bounds each KVM_RUN of the HLT probe. The probe takes
	// about 1 ms even on the emulated /dev/kvm; the bound only matters for a
	// broken device that never exits.
	hltProbeBudget = 2 * time.Second

	// kickInterval is how often the kicker re-sends its signal after the
	// budget expired, until the vCPU thread has left KVM_RUN.
	kickInterval = time.Millisecond
)

// hltProbeCode is `mov al,0x42; out 0x10,al; hlt`.
var hltProbeCode = []byte{0xb0, probeValue, 0xe6, probePort, 0xf4}

// loopProbeCode is `mov ecx,n; dec ecx; jnz -4; hlt` in 16-bit code (the
// 0x66 prefixes select 32-bit operands): n iterations of a two-instruction
// loop, then HLT.
func loopProbeCode(n uint32) []byte {
	code := []byte{0x66, 0xb9, 0, 0, 0, 0, 0x66, 0x49, 0x75, 0xfc, 0xf4}
	binary.LittleEndian.PutUint32(code[2:6], n)
	return code
}

// probeVM is a VM with one page of guest memory and one vCPU, created for
// the probes. It owns vmFD, vcpuFD and both mappings; close releases them.
type probeVM struct {
	device        string
	vmFD          int
	vcpuFD        int
	mem           []byte // guest-physical guestCodeAddr..+guestMemSize
	run           []byte // the vCPU's struct kvm_run, shared with the kernel
	immediateExit bool   // KVM_CAP_IMMEDIATE_EXIT
}

// newProbeVM creates the VM on the already-open /dev/kvm fd kvmFD (which the
// caller keeps owning). Failures are *KVMError classified like open errors,
// so EMFILE from KVM_CREATE_VM is contention.
func newProbeVM(kvmFD int, device string) (_ *probeVM, err error) {
	vm := &probeVM{device: device, vmFD: -1, vcpuFD: -1}
	defer func() {
		if err != nil {
			vm.close()
		}
	}()
	fd, errno := kvmIoctl(kvmFD, kvmCreateVM, 0)
	if errno != 0 {
		return nil, newKVMError(device, "ioctl KVM_CREATE_VM", errno)
	}
	vm.vmFD = fd
	mmapSize, errno := kvmIoctl(kvmFD, kvmGetVCPUMmapSize, 0)
	if errno != 0 {
		return nil, newKVMError(device, "ioctl KVM_GET_VCPU_MMAP_SIZE", errno)
	}
	if mmapSize < kvmRunIODataOffset+8 {
		return nil, newKVMFault(device, "ioctl KVM_GET_VCPU_MMAP_SIZE",
			fmt.Sprintf("kvm_run size %d is too small for struct kvm_run", mmapSize), "")
	}
	ext, errno := kvmIoctl(kvmFD, kvmCheckExtension, kvmCapImmediateExit)
	vm.immediateExit = errno == 0 && ext > 0

	vm.mem, err = unix.Mmap(-1, 0, guestMemSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		vm.mem = nil
		return nil, newKVMError(device, "mmap guest memory", errnoOf(err))
	}
	region := kvmUserspaceMemoryRegion{
		Slot:          0,
		GuestPhysAddr: guestCodeAddr,
		MemorySize:    guestMemSize,
		UserspaceAddr: uint64(uintptr(unsafe.Pointer(&vm.mem[0]))),
	}
	if errno := kvmIoctlPtr(vm.vmFD, kvmSetUserMemoryRegion, unsafe.Pointer(&region)); errno != 0 {
		return nil, newKVMError(device, "ioctl KVM_SET_USER_MEMORY_REGION", errno)
	}
	fd, errno = kvmIoctl(vm.vmFD, kvmCreateVCPU, 0)
	if errno != 0 {
		return nil, newKVMError(device, "ioctl KVM_CREATE_VCPU", errno)
	}
	vm.vcpuFD = fd
	vm.run, err = unix.Mmap(vm.vcpuFD, 0, mmapSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		vm.run = nil
		return nil, newKVMError(device, "mmap kvm_run", errnoOf(err))
	}
	return vm, nil
}

// close releases the mappings and fds. The kvm_run mapping goes before the
// vCPU fd, and the VM fd goes last. Safe on a partly built VM.
func (vm *probeVM) close() {
	if vm.run != nil {
		_ = unix.Munmap(vm.run)
		vm.run = nil
	}
	if vm.vcpuFD >= 0 {
		_ = unix.Close(vm.vcpuFD)
		vm.vcpuFD = -1
	}
	if vm.vmFD >= 0 {
		_ = unix.Close(vm.vmFD)
		vm.vmFD = -1
	}
	// Guest memory may go once the VM (and with it the memslot) is gone.
	if vm.mem != nil {
		_ = unix.Munmap(vm.mem)
		vm.mem = nil
	}
}

// load writes code at guestCodeAddr and points the vCPU at it in real mode
// (cs.base 0, cs.selector 0, ip 0x1000, rflags 2 — bit 1 is reserved-set),
// with rcx preset to rcx.
func (vm *probeVM) load(code []byte, rcx uint64) error {
	clear(vm.mem)
	copy(vm.mem, code)
	var sregs kvmSregs
	if errno := kvmIoctlPtr(vm.vcpuFD, kvmGetSregs, unsafe.Pointer(&sregs)); errno != 0 {
		return newKVMError(vm.device, "ioctl KVM_GET_SREGS", errno)
	}
	sregs.CS.Base = 0
	sregs.CS.Selector = 0
	if errno := kvmIoctlPtr(vm.vcpuFD, kvmSetSregs, unsafe.Pointer(&sregs)); errno != 0 {
		return newKVMError(vm.device, "ioctl KVM_SET_SREGS", errno)
	}
	regs := kvmRegs{RIP: guestCodeAddr, RFLAGS: 2, RCX: rcx}
	if errno := kvmIoctlPtr(vm.vcpuFD, kvmSetRegs, unsafe.Pointer(&regs)); errno != 0 {
		return newKVMError(vm.device, "ioctl KVM_SET_REGS", errno)
	}
	return nil
}

func (vm *probeVM) regs() (kvmRegs, error) {
	var regs kvmRegs
	if errno := kvmIoctlPtr(vm.vcpuFD, kvmGetRegs, unsafe.Pointer(&regs)); errno != 0 {
		return regs, newKVMError(vm.device, "ioctl KVM_GET_REGS", errno)
	}
	return regs, nil
}

func (vm *probeVM) exitReason() uint32 {
	return binary.LittleEndian.Uint32(vm.run[kvmRunExitReason:])
}

// runFor enters KVM_RUN until the guest exits to userspace, the budget
// expires, or ctx is done; stopped reports the latter two. elapsed is the
// wall time spent in the loop.
//
// How the budget is enforced: KVM_RUN returns EINTR when the thread running
// it gets a signal. runFor locks its goroutine to the OS thread, and a kicker
// goroutine, once the budget expires, sets kvm_run.immediate_exit (so a
// KVM_RUN entered after the kick returns at once) and sends SIGURG to that
// thread with tgkill, again every kickInterval until runFor acknowledges.
// SIGURG is used because the Go runtime already installs a handler for it
// (it is the async-preemption signal) and ignores unrequested ones: no
// signal.Notify is needed, and a late signal can never hit a default action
// that kills the process, which Notify/Stop of SIGUSR1 could. Programs that
// Notify SIGURG must already tolerate spurious deliveries (os/signal docs).
// The same runtime preemption signal can interrupt KVM_RUN before the
// budget expires; such an EINTR is simply re-entered.
//
// The kicker is stopped and waited for before the thread is unlocked, so no
// signal is sent to the thread after runFor returns and no goroutine leaks.
func (vm *probeVM) runFor(ctx context.Context, budget time.Duration) (exit uint32, stopped bool, elapsed time.Duration, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	// The word holding immediate_exit; the kicker writes it while this
	// thread (and the kernel) read it, hence atomic.
	exitWord := (*uint32)(unsafe.Pointer(&vm.run[kvmRunImmediateExitWord]))
	atomic.StoreUint32(exitWord, 0)

	pid, tid := unix.Getpid(), unix.Gettid()
	var kicked atomic.Bool
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		timer := time.NewTimer(budget)
		defer timer.Stop()
		select {
		case <-done:
			return
		case <-timer.C:
		case <-ctx.Done():
		}
		kicked.Store(true)
		if vm.immediateExit {
			atomic.StoreUint32(exitWord, 1<<8) // byte 1 = immediate_exit
		}
		ticker := time.NewTicker(kickInterval)
		defer ticker.Stop()
		for {
			_ = unix.Tgkill(pid, tid, unix.SIGURG)
			select {
			case <-done:
				return
			case <-ticker.C:
			}
		}
	}()
	defer func() {
		close(done)
		wg.Wait()
		atomic.StoreUint32(exitWord, 0)
	}()

	start := time.Now()
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(vm.vcpuFD), kvmRun, 0)
		switch errno {
		case 0:
			return vm.exitReason(), false, time.Since(start), nil
		case unix.EINTR:
			if kicked.Load() {
				return kvmExitIntr, true, time.Since(start), nil
			}
			// A signal that was not ours (runtime preemption): resume.
		default:
			return 0, false, time.Since(start), newKVMError(vm.device, "ioctl KVM_RUN", errno)
		}
	}
}

// hltProbe runs `mov al,0x42; out 0x10,al; hlt` and checks that the guest
// exits with IO (out, port 0x10, one byte 0x42) and then with HLT. It
// returns the port and value seen.
func (vm *probeVM) hltProbe(ctx context.Context) (port uint16, value uint8, err error) {
	const op = "HLT probe"
	if err := vm.load(hltProbeCode, 0); err != nil {
		return 0, 0, err
	}
	exit, stopped, _, err := vm.runFor(ctx, hltProbeBudget)
	if err != nil {
		return 0, 0, err
	}
	if stopped {
		return 0, 0, vm.stoppedError(ctx, op, "the guest did not exit")
	}
	if exit != kvmExitIO {
		return 0, 0, newKVMFault(vm.device, op,
			fmt.Sprintf("first exit was %s, want IO (out 0x%x to port 0x%x)", kvmExitName(exit), probeValue, probePort), probeFaultHint)
	}
	dir := vm.run[kvmRunIODirection]
	size := vm.run[kvmRunIOSize]
	port = binary.LittleEndian.Uint16(vm.run[kvmRunIOPort:])
	count := binary.LittleEndian.Uint32(vm.run[kvmRunIOCount:])
	off := binary.LittleEndian.Uint64(vm.run[kvmRunIODataOffset:])
	if off >= uint64(len(vm.run)) {
		return port, 0, newKVMFault(vm.device, op, fmt.Sprintf("IO exit data offset %d is outside kvm_run (%d bytes)", off, len(vm.run)), probeFaultHint)
	}
	value = vm.run[off]
	if dir != 1 || size != 1 || count != 1 || port != probePort || value != probeValue {
		return port, value, newKVMFault(vm.device, op,
			fmt.Sprintf("IO exit was direction %d size %d count %d port 0x%x value 0x%x, want out size 1 count 1 port 0x%x value 0x%x",
				dir, size, count, port, value, probePort, probeValue), probeFaultHint)
	}
	exit, stopped, _, err = vm.runFor(ctx, hltProbeBudget)
	if err != nil {
		return port, value, err
	}
	if stopped {
		return port, value, vm.stoppedError(ctx, op, "the guest did not reach HLT")
	}
	if exit != kvmExitHLT {
		return port, value, newKVMFault(vm.device, op,
			fmt.Sprintf("second exit was %s, want HLT", kvmExitName(exit)), probeFaultHint)
	}
	return port, value, nil
}

// throughputProbe runs the counted loop for at most n iterations or budget,
// whichever ends first, and returns how many iterations completed in what
// time. budgetHit reports that the budget (not HLT) ended it.
func (vm *probeVM) throughputProbe(ctx context.Context, n uint32, budget time.Duration) (iterations int64, elapsed time.Duration, budgetHit bool, err error) {
	const op = "throughput probe"
	// rcx starts at n too, so an interruption before `mov ecx,n` counts
	// zero iterations rather than n.
	if err := vm.load(loopProbeCode(n), uint64(n)); err != nil {
		return 0, 0, false, err
	}
	exit, stopped, elapsed, err := vm.runFor(ctx, budget)
	if err != nil {
		return 0, elapsed, false, err
	}
	if stopped {
		if ctx.Err() != nil {
			return 0, elapsed, false, vm.stoppedError(ctx, op, "")
		}
		regs, err := vm.regs()
		if err != nil {
			return 0, elapsed, true, err
		}
		left := uint32(regs.RCX)
		if left > n {
			return 0, elapsed, true, newKVMFault(vm.device, op,
				fmt.Sprintf("loop counter ecx=%d after interruption exceeds the start value %d", left, n), probeFaultHint)
		}
		return int64(n - left), elapsed, true, nil
	}
	if exit != kvmExitHLT {
		return 0, elapsed, false, newKVMFault(vm.device, op,
			fmt.Sprintf("guest exited with %s, want HLT after the loop", kvmExitName(exit)), probeFaultHint)
	}
	return int64(n), elapsed, false, nil
}

// stoppedError explains a run that ended by the kicker: ctx's error when it
// was cancelled, else a fault (a guest of a few instructions that does not
// exit within hltProbeBudget is a broken device).
func (vm *probeVM) stoppedError(ctx context.Context, op, what string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, vm.device, err)
	}
	return newKVMFault(vm.device, op, fmt.Sprintf("%s within %v", what, hltProbeBudget), probeFaultHint)
}

const probeFaultHint = "the KVM device does not run guest code correctly; check dmesg and the KVM module"
