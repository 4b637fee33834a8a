package guest

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"
)

// mountSpec is one filesystem PID 1 mounts before the guest function runs.
type mountSpec struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
	optional               bool // a missing filesystem type is not fatal
}

var vmMounts = []mountSpec{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", false},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", false},
	// A kernel without CONFIG_DEVTMPFS keeps the initramfs /dev (with its
	// console node), which is enough for the guest to report.
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755", true},
	{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777", false},
}

// setupVM prepares a fresh VM for the guest function: it mounts the
// pseudo-filesystems and points fds 0-2 at the console. It keeps going
// after a failure so that the console is usable to report it, and returns
// every failure.
func setupVM() error {
	var errs *multierror.Error
	for _, m := range vmMounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("create mount point %s: %w", m.target, err))
			continue
		}
		err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data)
		if err == nil || errors.Is(err, unix.EBUSY) {
			continue
		}
		if m.optional && errors.Is(err, unix.ENODEV) {
			continue
		}
		errs = multierror.Append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err))
	}
	if err := attachConsole(); err != nil {
		errs = multierror.Append(errs, err)
	}
	return errs.ErrorOrNil()
}

// attachConsole makes /dev/console (falling back to /dev/ttyS0) fds 0, 1
// and 2. The kernel opens the console for init only if /dev/console
// existed in the initramfs; doing it again after devtmpfs is mounted makes
// the result independent of that.
func attachConsole() error {
	var firstErr error
	for _, dev := range []string{"/dev/console", "/dev/ttyS0"} {
		fd, err := unix.Open(dev, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("open console %s: %w", dev, err)
			}
			continue
		}
		for target := 0; target <= 2; target++ {
			if err := unix.Dup3(fd, target, 0); err != nil {
				_ = unix.Close(fd)
				return fmt.Errorf("dup console %s onto fd %d: %w", dev, target, err)
			}
		}
		_ = unix.Close(fd) // fds 0-2 keep the console open
		return nil
	}
	// Keep whatever fds the kernel gave us; the error is reported on them.
	return firstErr
}

// quietKernelConsole lowers the console log level so that only emergency
// messages still reach the console.
func quietKernelConsole() {
	_ = os.WriteFile("/proc/sys/kernel/printk", []byte("1"), 0)
}

// readUptime returns the time since the kernel started (from /proc/uptime),
// or 0 if it cannot be read.
func readUptime() time.Duration {
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
	secs, err := strconv.ParseFloat(first, 64)
	if err != nil {
		return 0
	}
	return time.Duration(secs * float64(time.Second))
}

// powerOff flushes filesystems and powers the VM off (QEMU then exits 0).
// It never returns: if the power-off request fails it asks for a reboot,
// which QEMU's -no-reboot also turns into an exit, and failing that it
// blocks, leaving the host's timeout to end the VM. Returning would make
// PID 1 exit, which the kernel answers with a panic.
func powerOff() {
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	fmt.Fprintf(os.Stderr, "ktest guest: power off: %v; trying reboot\n", err)
	err = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	fmt.Fprintf(os.Stderr, "ktest guest: reboot: %v; waiting for the host to stop the VM\n", err)
	for {
		time.Sleep(time.Hour)
	}
}
