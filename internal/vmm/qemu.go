package vmm

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ktest-dev/ktest/internal/vmproto"
)

// machine is one boot's QEMU configuration.
type machine struct {
	kernel  kernelFiles
	initrd  string
	cpus    int
	memMB   int
	accel   string
	scratch string // sockets live here
	// topology, when set, lays out the CPUs (and memory, with NUMA
	// nodes).
	topology *Topology
	// noVirtiofs leaves the vhost-user-fs device out (the initramfs
	// transport).
	noVirtiofs bool
}

// Socket names in the scratch directory; QEMU connects to each as a client.
const (
	sockConsole = "console.sock"
	sockCtl     = "ctl.sock"
	sockOut     = "out.sock"
	sockErr     = "err.sock"
	sockQMP     = "qmp.sock"
	sockFS      = "fs.sock" // virtiofsd listens here
)

// q35 reports whether the boot uses the bzImage on q35: there is no
// vmlinux, or the guest has NUMA nodes (microvm's ACPI tables have no
// SRAT, so its guests see one node whatever -numa says).
func (m machine) q35() bool { return m.kernel.vmlinux == "" || m.numa() }

// numa reports whether the guest has NUMA nodes.
func (m machine) numa() bool { return m.topology != nil && len(m.topology.NUMA) > 0 }

// cmdline is the kernel command line.
func (m machine) cmdline() string {
	parts := []string{
		"console=ttyS0", "panic=-1", "reboot=t",
		// An NMI from the host (the hard bound's last resort) panics, which
		// prints the CPU's backtrace.
		"unknown_nmi_panic=1",
		// sysrq w and l over the serial line when the init is stuck.
		"sysrq_always_enabled=1",
		"quiet", "loglevel=4",
		// Zeroing every allocated page (Debian's default) is slow under
		// TCG and buys a test VM nothing.
		"init_on_alloc=0",
		vmproto.InitEnv + "=1",
	}
	if os.Getenv("KTEST_VMDEBUG") == "1" {
		parts = append(parts, "KTEST_VMDEBUG=1")
	}
	if khz := tscKHz(); khz > 0 && m.accel == "tcg" {
		// Skips the TSC calibration, which costs most under TCG.
		parts = append(parts, "tsc_early_khz="+strconv.Itoa(khz))
	}
	return strings.Join(parts, " ")
}

// args are QEMU's arguments (without argv[0]).
func (m machine) args() []string {
	sock := func(n string) string { return filepath.Join(m.scratch, n) }
	mem := strconv.Itoa(m.memMB)
	a := []string{"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"}
	switch {
	case m.numa():
		// Each node has a memory backend of its own (-numa below).
		a = append(a, "-machine", "q35", "-kernel", m.kernel.image)
	case m.q35():
		a = append(a, "-machine", "q35,memory-backend=mem", "-kernel", m.kernel.image)
	default:
		a = append(a, "-machine", "microvm,x-option-roms=off,isa-serial=on,memory-backend=mem", "-kernel", m.kernel.vmlinux,
			// vhost-user-fs needs a virtio 1.0 transport; QEMU's
			// virtio-mmio is legacy unless told otherwise.
			"-global", "virtio-mmio.force-legacy=false")
	}
	smp := strconv.Itoa(m.cpus)
	if m.topology != nil {
		smp = m.topology.SMPArg()
	}
	a = append(a, "-initrd", m.initrd, "-append", m.cmdline(), "-m", mem, "-smp", smp)
	if m.numa() {
		// vhost-user-fs needs shared memory in every node.
		a = append(a, m.topology.NUMAArgs("memory-backend-memfd", true)...)
	} else {
		a = append(a, "-object", "memory-backend-memfd,id=mem,size="+mem+"M,share=on")
	}
	if m.accel == "kvm" {
		a = append(a, "-enable-kvm", "-cpu", "host")
	} else {
		// One TCG thread for all vCPUs (multi-threaded TCG oopsed with
		// -smp > 1 on these hosts; see vm.qemuArgs).
		a = append(a, "-accel", "tcg,thread=single",
			// QEMU's default TCG model lacks ARAT, so the guest's LAPIC
			// timer counts as stopping in deep idle; with no broadcast
			// device (microvm) the kernel then keeps a periodic 250 Hz
			// tick on every vCPU, and an idle guest costs ~8 % of a host
			// core. With ARAT it goes tickless: ~1 % (docs/spec.md §16.1).
			"-cpu", "qemu64,+arat")
	}
	serial, fs := "virtio-serial-device", "vhost-user-fs-device"
	if m.q35() {
		serial, fs = "virtio-serial-pci", "vhost-user-fs-pci"
	}
	a = append(a,
		"-chardev", "socket,id=con,path="+sock(sockConsole), "-serial", "chardev:con",
		"-device", serial+",max_ports=4",
		"-chardev", "socket,id=ctl,path="+sock(sockCtl), "-device", "virtserialport,chardev=ctl,name="+vmproto.CtlPort,
		"-chardev", "socket,id=out,path="+sock(sockOut), "-device", "virtserialport,chardev=out,name="+vmproto.OutPort,
		"-chardev", "socket,id=err,path="+sock(sockErr), "-device", "virtserialport,chardev=err,name="+vmproto.ErrPort,
		"-chardev", "socket,id=qmp,path="+sock(sockQMP), "-mon", "chardev=qmp,mode=control",
	)
	if !m.noVirtiofs {
		a = append(a, "-chardev", "socket,id=fs,path="+sock(sockFS), "-device", fs+",chardev=fs,tag="+vmproto.FSTag)
	}
	return a
}

// tscKHz is the host's TSC frequency (which TCG's guest TSC follows), from
// /proc/cpuinfo; 0 when unknown.
func tscKHz() int {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.TrimSpace(k) == "cpu MHz" {
			mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil && mhz > 0 {
				return int(mhz * 1000)
			}
		}
	}
	return 0
}
