// Package bpf shows a test body that runs inside the guest kernel: it
// loads a BPF program with the bpf() system call and runs it with
// BPF_PROG_TEST_RUN, then reports the program's return value, which the
// host test reads back typed. Nothing but the test file is needed: the
// test binary runs itself in the guest (kerneltest.Run).
package bpf

import (
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/kerneltest"
)

// From include/uapi/linux/bpf.h.
const (
	bpfProgLoad             = 5
	bpfProgTestRun          = 10
	bpfProgTypeSocketFilter = 1
)

// insn is struct bpf_insn.
type insn struct {
	code uint8
	regs uint8 // dst in the low nibble, src in the high one
	off  int16
	imm  int32
}

// progLoadAttr is the BPF_PROG_LOAD part of union bpf_attr (the rest of
// the union is zero).
type progLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
	_           [80]byte
}

// testRunAttr is the BPF_PROG_TEST_RUN part of union bpf_attr.
type testRunAttr struct {
	progFD      uint32
	retval      uint32
	dataSizeIn  uint32
	dataSizeOut uint32
	dataIn      uint64
	dataOut     uint64
	repeat      uint32
	duration    uint32
	_           [80]byte
}

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return 0, errno
	}
	return r, nil
}

func TestBPFProgramRuns(t *testing.T) {
	res := kerneltest.Run(t, kerneltest.Config{CPUs: 1, MemoryMB: 512}, func(g *kerneltest.G) {
		// r0 = 42; exit
		prog := []insn{{code: 0xb7, imm: 42}, {code: 0x95}}
		license := []byte("GPL\x00")
		logBuf := make([]byte, 4096)
		load := progLoadAttr{
			progType: bpfProgTypeSocketFilter,
			insnCnt:  uint32(len(prog)),
			insns:    uint64(uintptr(unsafe.Pointer(&prog[0]))),
			license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
			logLevel: 1, logSize: uint32(len(logBuf)), logBuf: uint64(uintptr(unsafe.Pointer(&logBuf[0]))),
		}
		fd, err := bpf(bpfProgLoad, unsafe.Pointer(&load), unsafe.Sizeof(load))
		// The kernel read these through the addresses in load.
		runtime.KeepAlive(prog)
		runtime.KeepAlive(license)
		runtime.KeepAlive(logBuf)
		if err != nil {
			g.Fatalf("BPF_PROG_LOAD: %v\nverifier log:\n%s", err, logBuf)
		}
		defer unix.Close(int(fd))

		packet := make([]byte, 64) // a socket filter runs on an skb of at least an Ethernet header
		run := testRunAttr{progFD: uint32(fd), dataSizeIn: uint32(len(packet)), dataIn: uint64(uintptr(unsafe.Pointer(&packet[0]))), repeat: 1}
		_, err = bpf(bpfProgTestRun, unsafe.Pointer(&run), unsafe.Sizeof(run))
		runtime.KeepAlive(packet)
		if err != nil {
			g.Fatalf("BPF_PROG_TEST_RUN: %v", err)
		}
		g.Logf("the program returned %d", run.retval)
		g.Report("retval", run.retval)
	})
	var retval uint32
	if err := res.Value("retval", &retval); err != nil {
		t.Fatal(err)
	}
	if retval != 42 {
		t.Errorf("the BPF program returned %d in the guest, want 42", retval)
	}
}
