package vm

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ktest-dev/ktest/internal/testproto"
)

// Defaults applied by Run to zero Config fields.
const (
	DefaultCPUs     = 1
	DefaultMemoryMB = 256
	DefaultTimeout  = 2 * time.Minute
	DefaultQEMU     = "qemu-system-x86_64"
	// AccelEnv names the environment variable ktest exports with the
	// accelerator its KVM probe found usable ("kvm" or "tcg"), KTEST_ACCEL
	// (docs/spec.md §9).
	AccelEnv = testproto.EnvAccel
)

// Accelerators accepted in Config.Accel.
const (
	AccelKVM = "kvm"
	AccelTCG = "tcg"
)

// Config describes one VM boot. Only Kernel and Guest are required.
type Config struct {
	// Kernel is the path of the kernel image (an x86 bzImage).
	Kernel string
	// Guest is the program to run as /init: either the path of a prebuilt
	// static x86-64 executable, or a Go main package — a directory (".",
	// "./testdata/prog", an absolute path) or an import path — that Run
	// builds with CGO_ENABLED=0. Builds are cached for the life of the
	// process (see RemoveGuestBuilds). The program should call guest.Main.
	Guest string
	// Args are passed to the guest program (guest.Env.Args).
	Args []string
	// Files are extra files for the initramfs: guest path → host path. A
	// host directory is copied recursively.
	Files map[string]string
	// CPUs is the number of virtual CPUs (default 1).
	CPUs int
	// MemoryMB is the guest RAM in MiB (default 256).
	MemoryMB int
	// Cmdline is appended to the kernel command line. Parameters the
	// kernel does not know reach the guest program as environment
	// variables (with "=") or arguments (without).
	Cmdline string
	// Timeout bounds the whole boot, from QEMU start to QEMU exit
	// (default 2 minutes). The guest gets a slightly shorter guard so it
	// can report a hung function itself.
	Timeout time.Duration
	// Accel is "kvm" (-enable-kvm -cpu host) or "tcg" (software emulation).
	// Empty means $KTEST_ACCEL, else "tcg".
	Accel string
	// QEMU is the QEMU system emulator, a path or a name looked up in
	// PATH (default qemu-system-x86_64).
	QEMU string
	// QEMUArgs are appended to QEMU's command line (e.g. extra devices).
	QEMUArgs []string
	// Stdout, if set, receives the serial console live as QEMU writes it
	// (raw, CRLF line ends included). Write errors are ignored.
	Stdout io.Writer
	// TempDir is where the boot's scratch directory is created (default
	// os.TempDir()). The directory is removed when Run returns.
	TempDir string
}

// withDefaults returns a copy of c with defaults filled in, or an error
// naming the first invalid field.
func (c Config) withDefaults() (Config, error) {
	if c.Kernel == "" {
		return c, fmt.Errorf("vm config: Kernel is empty: set it to a kernel image path (e.g. $KTSTR_TEST_KERNEL)")
	}
	if c.Guest == "" {
		return c, fmt.Errorf("vm config: Guest is empty: set it to a static binary or a Go main package")
	}
	if c.CPUs == 0 {
		c.CPUs = DefaultCPUs
	}
	if c.CPUs < 0 || c.CPUs > 255 {
		return c, fmt.Errorf("vm config: CPUs = %d: want 1..255", c.CPUs)
	}
	if c.MemoryMB == 0 {
		c.MemoryMB = DefaultMemoryMB
	}
	if c.MemoryMB < 32 {
		return c, fmt.Errorf("vm config: MemoryMB = %d: want at least 32 (a kernel and initramfs do not fit in less)", c.MemoryMB)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Timeout < 0 {
		return c, fmt.Errorf("vm config: Timeout = %v: want a positive duration", c.Timeout)
	}
	if c.Accel == "" {
		c.Accel = os.Getenv(AccelEnv)
	}
	c.Accel = strings.ToLower(strings.TrimSpace(c.Accel))
	switch c.Accel {
	case "":
		c.Accel = AccelTCG
	case AccelKVM, AccelTCG:
	default:
		return c, fmt.Errorf("vm config: accelerator %q (Config.Accel or $%s): want %q or %q", c.Accel, AccelEnv, AccelKVM, AccelTCG)
	}
	if c.QEMU == "" {
		c.QEMU = DefaultQEMU
	}
	for gp := range c.Files {
		if reservedGuestPath(gp) {
			return c, fmt.Errorf("vm config: Files[%q]: the VM helper writes that path itself; choose another guest path", gp)
		}
	}
	return c, nil
}

// baseCmdline is the kernel command line every boot gets: the serial
// console, and an immediate reboot on panic (which -no-reboot turns into
// a QEMU exit) so that a crashed guest ends the VM at once.
const baseCmdline = "console=ttyS0 panic=-1"

// qemuArgs returns QEMU's arguments (without argv[0]) for the boot.
//
// The console goes to QEMU's stdout (-serial stdio with -display none and
// no monitor), so nothing but the guest's serial port shares that pipe;
// QEMU's own messages go to stderr.
func qemuArgs(c Config, initrd string) []string {
	args := []string{
		"-nodefaults", "-no-user-config",
		"-display", "none",
		"-serial", "stdio",
		"-no-reboot",
		"-m", strconv.Itoa(c.MemoryMB),
		"-smp", strconv.Itoa(c.CPUs),
	}
	if c.Accel == AccelKVM {
		args = append(args, "-enable-kvm", "-cpu", "host")
	} else {
		// One TCG thread for all vCPUs: multi-threaded TCG hit an int3 oops
		// in about one boot in seven with -smp > 1 on these machines, and
		// with one vCPU the two are the same.
		args = append(args, "-accel", "tcg,thread=single")
	}
	cmdline := baseCmdline
	if extra := strings.TrimSpace(c.Cmdline); extra != "" {
		cmdline += " " + extra
	}
	args = append(args, "-kernel", c.Kernel, "-initrd", initrd, "-append", cmdline)
	return append(args, c.QEMUArgs...)
}
