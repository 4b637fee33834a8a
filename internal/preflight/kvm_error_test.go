package preflight

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The §4 table, row by row, including the errnos no test can induce on
// this machine (ENOMEM, EBUSY, ENFILE, EAGAIN, EPERM) and a few faults.
func TestClassifyErrno(t *testing.T) {
	cases := []struct {
		errno syscall.Errno
		want  Class
	}{
		{unix.ENOMEM, ClassContention},
		{unix.EBUSY, ClassContention},
		{unix.EMFILE, ClassContention},
		{unix.ENFILE, ClassContention},
		{unix.EAGAIN, ClassContention},
		{unix.ENOENT, ClassAbsent},
		{unix.ENXIO, ClassAbsent},
		{unix.ENODEV, ClassAbsent},
		{unix.EACCES, ClassPermission},
		{unix.EPERM, ClassPermission},
		{unix.EIO, ClassFault},
		{unix.ENOTTY, ClassFault},
		{unix.EINVAL, ClassFault},
		{unix.EISDIR, ClassFault},
		{unix.EROFS, ClassFault},
		{0, ClassFault},
		{syscall.Errno(4095), ClassFault},
	}
	for _, c := range cases {
		if got := ClassifyErrno(c.errno); got != c.want {
			t.Errorf("ClassifyErrno(%s) = %q, want %q", errnoName(c.errno), got, c.want)
		}
		// Contention is what test code sees through the interface.
		e := &KVMError{Class: ClassifyErrno(c.errno), Errno: c.errno, Op: "open", Device: "/dev/kvm"}
		if e.Contention() != (c.want == ClassContention) {
			t.Errorf("KVMError of %s: Contention() = %v", errnoName(c.errno), e.Contention())
		}
	}
}

func TestKVMErrorText(t *testing.T) {
	cases := []struct {
		errno    syscall.Errno
		op       string
		wantText string
		wantHint []string
	}{
		{unix.ENOENT, "open", "open /dev/kvm: no such file or directory (ENOENT)",
			[]string{"modprobe kvm_intel", "kvm_amd", "nested virtualisation"}},
		{unix.ENXIO, "open", "open /dev/kvm: no such device or address (ENXIO)", []string{"nested virtualisation"}},
		{unix.EACCES, "open", "open /dev/kvm: permission denied (EACCES)",
			[]string{"kvm group", "sudo usermod -aG kvm $USER", "log in again"}},
		{unix.EPERM, "open", "open /dev/kvm: operation not permitted (EPERM)", []string{"usermod -aG kvm"}},
		{unix.EMFILE, "ioctl KVM_CREATE_VM", "ioctl KVM_CREATE_VM /dev/kvm: too many open files (EMFILE)",
			[]string{"under resource pressure (EMFILE)", "retry later"}},
		{unix.EIO, "open", "open /dev/kvm: input/output error (EIO)", []string{"unexpected EIO"}},
		{syscall.Errno(4095), "open", "open /dev/kvm: errno 4095 (errno 4095)", []string{"unexpected errno 4095"}},
	}
	for _, c := range cases {
		err := newKVMError("/dev/kvm", c.op, c.errno)
		if got := err.Error(); got != c.wantText {
			t.Errorf("Error() = %q, want %q", got, c.wantText)
		}
		if strings.Contains(err.Error(), "hint") {
			t.Errorf("Error() %q carries the hint; it belongs in the Hint field", err.Error())
		}
		for _, w := range c.wantHint {
			if !strings.Contains(err.Hint, w) {
				t.Errorf("%s hint %q lacks %q", errnoName(c.errno), err.Hint, w)
			}
		}
		if !errors.Is(err, c.errno) {
			t.Errorf("errors.Is(%v, %s) = false", err, errnoName(c.errno))
		}
	}
	if !errors.Is(newKVMError("/dev/kvm", "open", unix.ENOENT), fs.ErrNotExist) {
		t.Error("an ENOENT KVMError does not match fs.ErrNotExist")
	}
	fault := newKVMFault("/dev/kvm", "ioctl KVM_GET_API_VERSION", "API version 11, want 12", "h")
	if got, want := fault.Error(), "ioctl KVM_GET_API_VERSION /dev/kvm: API version 11, want 12"; got != want {
		t.Errorf("fault Error() = %q, want %q", got, want)
	}
	if fault.Unwrap() != nil || fault.Class != ClassFault {
		t.Errorf("errno-less fault: Unwrap() = %v, Class = %q", fault.Unwrap(), fault.Class)
	}
}
