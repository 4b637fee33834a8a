package preflight

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/reexec"
)

// Each open-failure class of §4, induced for real where this machine allows.

// checkDevice runs CheckKVM on device without the cache and returns the
// result in the same form a child reports it.
func checkDevice(t *testing.T, device string) childResult {
	t.Helper()
	rep, err := CheckKVM(context.Background(), KVMOptions{Device: device, NoCache: true})
	if err == nil {
		t.Fatalf("CheckKVM(%s) succeeded: %+v", device, rep)
	}
	res := childResult{Err: err.Error(), Accel: rep.Accel, Status: rep.Status}
	var kerr *KVMError
	if errors.As(err, &kerr) {
		res.IsKVM = true
		res.Class, res.Errno, res.Op, res.Hint = kerr.Class, int(kerr.Errno), kerr.Op, kerr.Hint
		if kerr.Device != device {
			t.Errorf("KVMError.Device = %q, want %q", kerr.Device, device)
		}
	}
	return res
}

// ENOENT: a path that does not exist, given through KTEST_KVM_DEVICE so the
// override is exercised too.
func TestCheckKVMMissingDevice(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "no-such-kvm")
	t.Setenv(KVMDeviceEnv, dev)
	rep, err := CheckKVM(context.Background(), KVMOptions{NoCache: true})
	if rep.Device != dev {
		t.Fatalf("report device %q, want the %s override %q", rep.Device, KVMDeviceEnv, dev)
	}
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("err = %v, want ENOENT", err)
	}
	if rep.Status != "KVM absent" {
		t.Errorf("status %q, want %q", rep.Status, "KVM absent")
	}
	assertChildError(t, checkDevice(t, dev), ClassAbsent, unix.ENOENT, "open")
}

// ENXIO: a character device whose major has no driver.
func TestCheckKVMNoDriverMajor(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "kvm-nxio")
	mknodChar(t, dev, 0o600, freeCharMajor(t), 0)
	assertChildError(t, checkDevice(t, dev), ClassAbsent, unix.ENXIO, "open")
}

// ENODEV: a misc-major (10, like /dev/kvm's 10:232) node whose minor has no
// misc driver — what /dev/kvm looks like when the kvm module is not loaded.
func TestCheckKVMNoDriverMinor(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "kvm-nodev")
	mknodChar(t, dev, 0o600, 10, freeMiscMinor(t))
	assertChildError(t, checkDevice(t, dev), ClassAbsent, unix.ENODEV, "open")
}

// EACCES: a 0600 root-owned copy of the /dev/kvm node opened by uid 65534.
// As root this re-executes the test binary (copied where that uid can run it)
// with dropped credentials; as a non-root user a mode-000 file does.
func TestCheckKVMPermissionDenied(t *testing.T) {
	if reexec.Role() == "eacces" {
		reportChild(CheckKVM(context.Background(), KVMOptions{Device: os.Getenv(childDeviceEnv), NoCache: true}))
		return
	}
	if os.Geteuid() != 0 {
		dev := filepath.Join(t.TempDir(), "kvm-0000")
		if err := os.WriteFile(dev, nil, 0o000); err != nil {
			t.Fatal(err)
		}
		assertChildError(t, checkDevice(t, dev), ClassPermission, unix.EACCES, "open")
		return
	}
	dir := worldReadableDir(t)
	dev := filepath.Join(dir, "kvm")
	mknodChar(t, dev, 0o600, 10, 232)
	bin := copyExecutable(t, dir)
	res := runChild(t, bin, dir, "TestCheckKVMPermissionDenied", "eacces", dev,
		&syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}})
	assertChildError(t, res, ClassPermission, unix.EACCES, "open")
}

// EMFILE at open: a child whose RLIMIT_NOFILE leaves no free fd.
func TestCheckKVMOpenEMFILE(t *testing.T) {
	if reexec.Role() == "emfile-open" {
		if err := lowerNofile(0); err != nil {
			printChild(childResult{Setup: err.Error()})
			return
		}
		reportChild(CheckKVM(context.Background(), KVMOptions{Device: os.Getenv(childDeviceEnv), NoCache: true}))
		return
	}
	// Any openable node shows it: the fd is allocated before the path is
	// looked up.
	res := runChild(t, os.Args[0], "", "TestCheckKVMOpenEMFILE", "emfile-open", "/dev/null", nil)
	assertChildError(t, res, ClassContention, unix.EMFILE, "open")
}

// EMFILE from KVM_CREATE_VM: the child leaves exactly one fd free, which the
// /dev/kvm open takes, so creating the VM fd fails — a probe-stage failure
// classified like an open failure.
func TestCheckKVMCreateVMEMFILE(t *testing.T) {
	if reexec.Role() == "emfile-vm" {
		if err := lowerNofile(1); err != nil {
			printChild(childResult{Setup: err.Error()})
			return
		}
		reportChild(CheckKVM(context.Background(), KVMOptions{Device: os.Getenv(childDeviceEnv), NoCache: true}))
		return
	}
	dev := requireKVM(t)
	res := runChild(t, os.Args[0], "", "TestCheckKVMCreateVMEMFILE", "emfile-vm", dev, nil)
	assertChildError(t, res, ClassContention, unix.EMFILE, "ioctl KVM_CREATE_VM")
}

// A regular file opens fine but is no KVM device: KVM_GET_API_VERSION fails
// ENOTTY, a fault with the errno named. A directory fails open with EISDIR.
func TestCheckKVMNotADevice(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "kvm-file")
	if err := os.WriteFile(file, []byte("not a device"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := checkDevice(t, file)
	assertChildError(t, res, ClassFault, unix.ENOTTY, "ioctl KVM_GET_API_VERSION")
	if want := "(ENOTTY)"; !strings.Contains(res.Err, want) || !strings.Contains(res.Hint, "ENOTTY") {
		t.Errorf("fault does not name its errno: %q hint %q", res.Err, res.Hint)
	}
	assertChildError(t, checkDevice(t, dir), ClassFault, unix.EISDIR, "open")
}

func TestCheckKVMCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := CheckKVM(ctx, KVMOptions{Device: "/dev/null", NoCache: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// requireKVM returns the KVM device to probe, skipping when there is none.
func requireKVM(t *testing.T) string {
	t.Helper()
	dev := KVMOptions{}.device()
	fd, err := unix.Open(dev, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no usable KVM device: open %s: %v", dev, err)
	}
	unix.Close(fd)
	return dev
}
