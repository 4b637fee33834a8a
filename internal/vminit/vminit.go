// Package vminit is the guest side of `ktest --vm`: the ktest binary runs
// as PID 1 of the guest's initramfs (the kernel command line carries
// vmproto.InitEnv=1), loads the modules the boot needs from the initramfs,
// opens the control port, and for the run the host requests mounts the
// host's root (virtio-fs) read-only, the guest's own pseudo-filesystems and
// tmpfs /tmp and /run, and the writable host directories; then it runs the
// program chrooted there, with its stdio on ports of its own, forwards the
// host's signals to its process group, reports its exit status, and powers
// the guest off.
//
// The init's own diagnostics go to the kernel console, which the host
// keeps apart from the program's output.
package vminit

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/vmproto"
)

// Paths inside the initramfs; the host's archive (package vmm) provides
// the first two.
const (
	// ModDir is the initramfs' module tree: the modules the boot needs,
	// with a modules.dep and modules.builtin of their own.
	ModDir = "/ktest/mod"
	// ModprobePath is the name the kernel runs for request_module (it is
	// a symlink to /init): the init answers it as modprobe does.
	ModprobePath = "/ktest/modprobe"
	// HostRoot is where the init finds the host's root: virtio-fs is
	// mounted there, or (with the initramfs transport) the host packed the
	// files it sends under it.
	HostRoot = "/host"

	hostDir    = HostRoot
	rootDir    = "/newroot" // the program's root: the host's, read-only
	scratchDir = "/ktest/run"
	// moddirFile tells the modprobe helper where the kernel's modules are.
	moddirFile = scratchDir + "/moddir"
)

// Requested reports whether this process is the guest init (or the
// kernel's modprobe helper it installed), not a ktest command.
func Requested() bool {
	if len(os.Args) > 0 && os.Args[0] == ModprobePath {
		return true
	}
	return os.Getpid() == 1 && os.Getenv(vmproto.InitEnv) == "1"
}

// Main is the init. As PID 1 it never returns: it powers the guest off.
// As the modprobe helper it returns the exit status.
func Main() int {
	if os.Args[0] == ModprobePath {
		return modprobeMain(os.Args[1:])
	}
	runPID1()
	powerOff()
	return 0
}

// logf writes one diagnostic line to the kernel console.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ktest-init: "+format+"\n", args...)
}

// powerOff flushes filesystems and ends the VM. It never returns: a
// returning PID 1 panics the kernel.
func powerOff() {
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	// QEMU runs with -no-reboot: a reboot ends it too.
	err2 := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	logf("power off: %v; reboot: %v; waiting for the host to stop the VM", err, err2)
	for {
		time.Sleep(time.Hour)
	}
}

// uptimeMS is the guest's uptime in milliseconds.
func uptimeMS() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return 0
	}
	return ts.Nano() / 1e6
}

// debug is set by KTEST_VMDEBUG=1 on the kernel command line (the host
// adds it when its own environment has it): the init logs its stages.
var debug = os.Getenv("KTEST_VMDEBUG") == "1"

func debugf(format string, args ...any) {
	if debug {
		logf(format, args...)
	}
}
