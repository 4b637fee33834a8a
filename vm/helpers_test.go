package vm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ktest-dev/ktest/internal/testkernel"
)

// testGuestPkg is the guest program the boot tests run (built once per
// test process through the build cache).
const testGuestPkg = "./internal/testguest"

func TestMain(m *testing.M) {
	code := m.Run()
	if err := RemoveGuestBuilds(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// testKernel returns the kernel image to boot (internal/testkernel), or
// skips the test when the host has none.
func testKernel(t testing.TB) string {
	t.Helper()
	return testkernel.Path(t)
}

// requireQEMU skips the test when QEMU is not installed.
func requireQEMU(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(DefaultQEMU); err != nil {
		t.Skipf("ktest: SKIP: no-qemu: %s not found in PATH: install it with apt-get install -y qemu-system-x86", DefaultQEMU)
	}
}

// bzImageRelease reads the kernel release from a bzImage header: "HdrS"
// at 0x202, and at 0x20E a u16 whose value plus 0x200 is the offset of a
// NUL-terminated version string whose first word is the release.
func bzImageRelease(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hdr := make([]byte, 0x210)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		t.Fatalf("read bzImage header of %s: %v", path, err)
	}
	if string(hdr[0x202:0x206]) != "HdrS" {
		t.Fatalf("%s is not a bzImage (no HdrS at 0x202)", path)
	}
	off := int64(binary.LittleEndian.Uint16(hdr[0x20E:])) + 0x200
	buf := make([]byte, 256)
	n, _ := f.ReadAt(buf, off)
	version, _, ok := bytes.Cut(buf[:n], []byte{0})
	if !ok || len(version) == 0 {
		t.Fatalf("%s: no NUL-terminated version string at %#x", path, off)
	}
	release, _, _ := strings.Cut(string(version), " ")
	return release
}

// qemuProcessesMatching lists live processes whose command line mentions
// marker (a test's unique temp directory, which is in QEMU's -initrd
// path). Matching on "any QEMU child of ours" would see the VMs of tests
// running in parallel.
func qemuProcessesMatching(t *testing.T, marker string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // exited meanwhile
		}
		cl := strings.ReplaceAll(string(cmdline), "\x00", " ")
		if strings.Contains(cl, marker) {
			found = append(found, fmt.Sprintf("pid %d: %s", pid, cl))
		}
	}
	return found
}

func lookQEMU(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath(DefaultQEMU)
	if err != nil {
		t.Skipf("ktest: SKIP: no-qemu: %v", err)
	}
	return p
}
