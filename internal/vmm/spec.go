// Package vmm runs one host program inside a guest kernel under QEMU, as
// root, with the host's filesystem visible at the same paths (docs/spec.md
// §16). It is the engine behind `ktest --vm` (the hidden vm-exec
// subcommand) and, later, kerneltest.Run: both share its guest init
// (package vminit) and its channel protocol (package vmproto).
//
// The program's stdout and stderr reach Spec.Stdout and Spec.Stderr over
// channels of their own, never mixed with the kernel console, which is kept
// in Result.Console (and copied to Spec.Console when set).
package vmm

import (
	"io"
	"os"
	"time"
)

// Spec describes one guest run: the kernel, the machine, and the program.
type Spec struct {
	// Kernel is the kernel: a bzImage path. When it is an entry of the
	// ktstr kernel cache, the entry's vmlinux (PVH entry), ktest/modules
	// and ktest/config are used from its directory.
	Kernel string
	// CPUs and MemoryMB size the guest (defaults 2 and 1024).
	CPUs     int
	MemoryMB int
	// Topology, when set, lays the CPUs out in sockets, cores and threads
	// (QEMU -smp) and the memory in NUMA nodes (-numa); its CPU count
	// and node memory then size the guest (CPUs and MemoryMB must be 0
	// or agree).
	Topology *Topology
	// Accel is "kvm" or "tcg" (default $KTEST_ACCEL, else tcg).
	Accel string
	// QEMU and Virtiofsd name the programs (a path or a name looked up in
	// PATH; "" means the defaults, virtiofsd also from /usr/lib/qemu and
	// /usr/libexec).
	QEMU      string
	Virtiofsd string
	// Transport is how the host's files reach the guest: "virtiofs" (the
	// host's root over virtio-fs, through virtiofsd), "initramfs" (the
	// program, its working directory's Go module, the kernel's modules and
	// a few tools packed into the initramfs; what the program writes in
	// Writable directories is copied back when it exits), or "" for
	// virtio-fs when virtiofsd and the kernel have it, else the initramfs
	// (a Virtiofsd named but missing is an error, not a fallback).
	Transport string
	// Pack are more host files, directories (with their trees) or commands
	// (names looked up in PATH, packed with their ELF runtime) for the
	// initramfs transport; virtio-fs shows the whole host and ignores it.
	Pack []string
	// Init is the guest's PID 1: a static executable that calls
	// vminit.Main when vminit.Requested (the ktest binary does; default
	// os.Executable()).
	Init string
	// CacheDir keeps what boots share: the initramfs per (init, kernel),
	// the module indexes modprobe reads, an extracted vmlinux (default
	// $XDG_CACHE_HOME or $HOME/.cache, then ktest/vm).
	CacheDir string
	// ExtractVmlinux, when set, extracts the vmlinux (PVH entry) of a
	// bzImage that has none beside it, into out (once per image, into
	// CacheDir); without it such a kernel boots as a bzImage on q35.
	// ktest sets it (package bzimage); kerneltest, which must not link
	// the decompressors, does not.
	ExtractVmlinux func(image, out string) error

	// Argv is the program and its arguments; Argv[0] is a host path.
	Argv []string
	// Env is the program's whole environment.
	Env []string
	// Dir is the program's working directory, a host path.
	Dir string
	// Writable are host directories the guest may write (the rest of the
	// host filesystem is read-only in the guest; /tmp and /run are fresh
	// tmpfs). A writable directory under /tmp is mounted inside the
	// guest's /tmp. The program's own directory and Dir, when under /tmp
	// or /run (go test's $WORK), are shown read-only unless listed here:
	// list $WORK's package directory to get a cover profile back.
	Writable []string
	// Modules are kernel modules (names or aliases) the init loads before
	// the program starts.
	Modules []string
	// Setup are shell command lines (/bin/sh -c) the init runs, in order,
	// before the program; a failing one is a boot failure.
	Setup []string

	// Stdout and Stderr receive the program's output unchanged.
	Stdout, Stderr io.Writer
	// Console, when set, receives the kernel console as it arrives.
	Console io.Writer

	// Signals are forwarded to the program's process group in the guest
	// as they arrive (go test's SIGQUIT at -timeout, a user's SIGINT).
	Signals <-chan os.Signal
	// Timeout is the hard bound on the whole run, from QEMU's start. When
	// it expires, the guest's blocked tasks and every CPU's backtrace are
	// collected into Result.Dump (sysrq w and l from the init; when the
	// init does not answer, typed on the serial line, then an NMI) before
	// the VM is killed. 0 means no bound: a guest that hangs then hangs
	// Run until ctx ends.
	Timeout time.Duration
}

// Result is what a run produced. Run returns a non-nil Result whenever
// QEMU was started, also together with an error.
type Result struct {
	// ExitCode is the program's exit status; for a signal death it is
	// 128+Signal. -1 when there was no verdict.
	ExitCode int
	// Signal is the signal that killed the program, 0 if none.
	Signal int
	// Transport says how the host filesystem reached the guest:
	// "virtiofs" or "initramfs" (see Spec.Transport).
	Transport string
	// Channels says how the program's stdio travelled: "virtio-console"
	// or "serial".
	Channels string
	// Console is the kernel console (CRLF turned into LF).
	Console string
	// Dump is what the hard bound collected (blocked tasks, backtraces),
	// "" if it did not expire.
	Dump string
	// Boot is the time from starting QEMU until the program started.
	Boot time.Duration
	// Total is the time from starting QEMU until it was reaped.
	Total time.Duration
	// Command is the QEMU command line.
	Command []string
}
