package hang

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// The parts of the FUSE protocol (linux/fuse.h) that get one request sent
// and never answered.
const (
	fuseInit          = 26
	fuseKernelVersion = 7
	fuseMinorVersion  = 31
	fuseInHeaderLen   = 40
	fuseOutHeaderLen  = 16
	fuseInitOutLen    = 64
	fuseMinReadBuffer = 8192
)

// stickInKernel mounts a FUSE filesystem that this process serves, answers
// its INIT, then has one goroutine stat a file in it and reads that request
// without ever answering it. The goroutine's thread waits in the kernel;
// once the process is dying that wait is uninterruptible, and the daemon
// (this process's own /dev/fuse descriptor) can no longer answer.
func stickInKernel(t *testing.T) error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if out, err := exec.Command("/sbin/modprobe", "fuse").CombinedOutput(); err != nil {
			return fmt.Errorf("no /dev/fuse, and modprobe fuse: %v: %s", err, out)
		}
	}
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/fuse: %w", err)
	}
	// Never closed: the descriptor must outlive the stuck request.
	mnt := t.TempDir()
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0", fd)
	if err := unix.Mount("vmfixture", mnt, "fuse", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		unix.Close(fd)
		return fmt.Errorf("mount fuse at %s: %w", mnt, err)
	}
	buf := make([]byte, fuseMinReadBuffer+4096)
	hdr, err := readRequest(fd, buf)
	if err != nil {
		return err
	}
	if op := binary.NativeEndian.Uint32(hdr[4:]); op != fuseInit {
		return fmt.Errorf("first FUSE request has opcode %d, want INIT (%d)", op, fuseInit)
	}
	reply := make([]byte, fuseOutHeaderLen+fuseInitOutLen)
	binary.NativeEndian.PutUint32(reply[0:], uint32(len(reply)))
	copy(reply[8:16], hdr[8:16]) // unique
	init := reply[fuseOutHeaderLen:]
	binary.NativeEndian.PutUint32(init[0:], fuseKernelVersion)
	binary.NativeEndian.PutUint32(init[4:], fuseMinorVersion)
	binary.NativeEndian.PutUint32(init[20:], 4096) // max_write
	binary.NativeEndian.PutUint16(init[12:], 1)    // max_background
	if _, err := unix.Write(fd, reply); err != nil {
		return fmt.Errorf("answer FUSE INIT: %w", err)
	}

	go func() {
		// Returns only if the request is answered, which it never is.
		var st unix.Stat_t
		err := unix.Stat(filepath.Join(mnt, "never-answered"), &st)
		panic(fmt.Sprintf("vmfixture: stat in the stuck FUSE mount returned: %v", err))
	}()
	hdr, err = readRequest(fd, buf)
	if err != nil {
		return err
	}
	t.Logf("vmfixture: FUSE request %d (opcode %d) read and left unanswered", binary.NativeEndian.Uint64(hdr[8:]), binary.NativeEndian.Uint32(hdr[4:]))
	return nil
}

func readRequest(fd int, buf []byte) ([]byte, error) {
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read FUSE request: %w", err)
		}
		if n < fuseInHeaderLen {
			return nil, fmt.Errorf("short FUSE request (%d bytes)", n)
		}
		return buf[:n], nil
	}
}
