package kernel

import (
	"errors"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"example.com/vmfixture/need"
)

// progLoadAttr is the BPF_PROG_LOAD member of union bpf_attr, up to
// prog_name; the kernel treats the missing tail as zero.
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
	progName    [16]byte
}

// testRunAttr is the BPF_PROG_TEST_RUN member of union bpf_attr, up to
// duration.
type testRunAttr struct {
	progFd      uint32
	retval      uint32
	dataSizeIn  uint32
	dataSizeOut uint32
	dataIn      uint64
	dataOut     uint64
	repeat      uint32
	duration    uint32
}

// insn is one struct bpf_insn: opcode, dst (low nibble) and src (high
// nibble) registers, offset, immediate.
type insn struct {
	code uint8
	regs uint8
	off  int16
	imm  int32
}

func bpf(cmd uintptr, attr unsafe.Pointer, size uintptr) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(attr), size)
	if errno != 0 {
		return 0, errno
	}
	return r, nil
}

// TestBPF loads a socket filter that returns 0 (`r0 = 0; exit`) and runs
// it once over a minimal Ethernet frame with BPF_PROG_TEST_RUN: only a
// kernel with the verifier and the test-run hook answers retval 0.
func TestBPF(t *testing.T) {
	need.Root(t)
	prog := []insn{
		{code: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K, regs: 0, imm: 0}, // r0 = 0
		{code: unix.BPF_JMP | unix.BPF_EXIT},                                // exit
	}
	license := []byte("GPL\x00")
	logBuf := make([]byte, 4096)
	load := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_SOCKET_FILTER,
		insnCnt:  uint32(len(prog)),
		insns:    uint64(uintptr(unsafe.Pointer(&prog[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
		logLevel: 1,
		logSize:  uint32(len(logBuf)),
		logBuf:   uint64(uintptr(unsafe.Pointer(&logBuf[0]))),
	}
	copy(load.progName[:], "vmfixture")
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&load), unsafe.Sizeof(load))
	runtime.KeepAlive(prog)
	runtime.KeepAlive(license)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		need.Cannot(t, "bpf(): %v", err)
	}
	if err != nil {
		t.Fatalf("BPF_PROG_LOAD: %v\nverifier log: %s", err, unix.ByteSliceToString(logBuf))
	}
	defer unix.Close(int(fd))

	// An Ethernet header (broadcast, IPv4) and some payload: the skb test
	// run wants at least ETH_HLEN bytes.
	frame := make([]byte, 64)
	copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x00})
	run := testRunAttr{
		progFd:     uint32(fd),
		retval:     0xdeadbeef, // overwritten by a run that happened
		dataSizeIn: uint32(len(frame)),
		dataIn:     uint64(uintptr(unsafe.Pointer(&frame[0]))),
		repeat:     1,
	}
	if _, err := bpf(unix.BPF_PROG_TEST_RUN, unsafe.Pointer(&run), unsafe.Sizeof(run)); err != nil {
		t.Fatalf("BPF_PROG_TEST_RUN: %v", err)
	}
	runtime.KeepAlive(frame)
	if run.retval != 0 {
		t.Fatalf("socket filter returned %#x, want 0", run.retval)
	}
	t.Logf("socket filter ran in %dns, returned 0", run.duration)
}
