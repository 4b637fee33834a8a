package preflight

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Class is the docs/spec.md §4 classification of a KVM failure. The caller maps it to
// an outcome: ClassContention is a `contention` SKIP, ClassAbsent and
// ClassPermission are hard errors unless --on-no-kvm skip turns them into a
// `no-kvm` SKIP, and ClassFault is always a hard error.
type Class string

// The four classes of §4. The string values appear in sidecars and JSON.
const (
	// ClassContention is transient host pressure: ENOMEM, EBUSY, EMFILE,
	// ENFILE, EAGAIN. Retrying later may succeed.
	ClassContention Class = "contention"
	// ClassAbsent means there is no KVM driver behind the path: ENOENT,
	// ENXIO, ENODEV.
	ClassAbsent Class = "absent"
	// ClassPermission means the device exists but this user may not open
	// it: EACCES, EPERM.
	ClassPermission Class = "permission"
	// ClassFault is everything else, including a wrong API version and a
	// probe whose guest did not behave as real KVM must.
	ClassFault Class = "fault"
)

// ClassifyErrno maps an errno from opening /dev/kvm (or from a KVM ioctl or
// mmap during the probes) to its §4 class. Errno 0 (no errno, e.g. a wrong
// API version) is a fault.
func ClassifyErrno(errno syscall.Errno) Class {
	switch errno {
	case unix.ENOMEM, unix.EBUSY, unix.EMFILE, unix.ENFILE, unix.EAGAIN:
		return ClassContention
	case unix.ENOENT, unix.ENXIO, unix.ENODEV:
		return ClassAbsent
	case unix.EACCES, unix.EPERM:
		return ClassPermission
	default:
		return ClassFault
	}
}

// KVMError is a failed KVM check. Callers find it with errors.As (also
// through the multierror CheckKVM returns when several probe steps fail)
// and branch on Class; Hint is printed on its own `  hint: ` line, so it is
// not part of Error().
type KVMError struct {
	// Class is the §4 classification.
	Class Class
	// Errno is the errno the failing call returned; 0 when the failure has
	// no errno (wrong API version, unexpected guest exit).
	Errno syscall.Errno
	// Device is the device path that was checked, e.g. /dev/kvm.
	Device string
	// Op names the failing step: "open", "ioctl KVM_CREATE_VM",
	// "HLT probe", ...
	Op string
	// Detail describes a failure that has no errno (Errno == 0).
	Detail string
	// Hint tells the user what to do about it.
	Hint string
}

// Error reads like `open /dev/kvm: no such file or directory (ENOENT)`.
func (e *KVMError) Error() string {
	if e.Errno == 0 {
		return fmt.Sprintf("%s %s: %s", e.Op, e.Device, e.Detail)
	}
	msg := fmt.Sprintf("%s %s: %s (%s)", e.Op, e.Device, e.Errno.Error(), errnoName(e.Errno))
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Hints returns Hint as a list, for ktest's error printer.
func (e *KVMError) Hints() []string {
	if e.Hint == "" {
		return nil
	}
	return []string{e.Hint}
}

// Contention reports whether the failure is transient host pressure
// (ClassContention), which kerneltest.SkipOnContention skips on.
func (e *KVMError) Contention() bool { return e.Class == ClassContention }

// Unwrap exposes the errno so errors.Is(err, syscall.ENOENT) and
// errors.Is(err, fs.ErrNotExist) work.
func (e *KVMError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// newKVMError builds a classified error for a syscall on device that failed
// with errno during step op.
func newKVMError(device, op string, errno syscall.Errno) *KVMError {
	class := ClassifyErrno(errno)
	return &KVMError{
		Class:  class,
		Errno:  errno,
		Device: device,
		Op:     op,
		Hint:   hintFor(class, device, errno),
	}
}

// newKVMFault builds a ClassFault error that has no errno.
func newKVMFault(device, op, detail, hint string) *KVMError {
	return &KVMError{Class: ClassFault, Device: device, Op: op, Detail: detail, Hint: hint}
}

func hintFor(class Class, device string, errno syscall.Errno) string {
	switch class {
	case ClassAbsent:
		return fmt.Sprintf("%s has no KVM driver behind it: enable virtualisation (VT-x/AMD-V) in the firmware, "+
			"load the module (modprobe kvm_intel or modprobe kvm_amd), or on a VM enable nested virtualisation", device)
	case ClassPermission:
		return fmt.Sprintf("this user may not open %s: add it to the kvm group with `sudo usermod -aG kvm $USER`, "+
			"then log in again (or run `newgrp kvm`)", device)
	case ClassContention:
		return "the host is under resource pressure (" + errnoName(errno) + "); retry later, " +
			"or lower the parallelism of the run"
	default:
		if errno == 0 {
			return ""
		}
		return fmt.Sprintf("unexpected %s from %s; check the device node (ls -l %s) and dmesg",
			errnoName(errno), device, device)
	}
}

// errnoName gives the symbolic name (ENOENT) or, for errnos unix does not
// know, "errno N".
func errnoName(errno syscall.Errno) string {
	if name := unix.ErrnoName(errno); name != "" {
		return name
	}
	return fmt.Sprintf("errno %d", int(errno))
}
