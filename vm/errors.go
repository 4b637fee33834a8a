package vm

import (
	"fmt"
	"strings"
	"time"
)

// Typed errors returned by Run. Callers branch on them with errors.As; the
// test-side library maps NoQEMUError to a "no-qemu" skip and HostBusyError
// to a "contention" skip, and fails the test on the others.

// NoQEMUError means the QEMU binary could not be found.
type NoQEMUError struct {
	Binary string // what was looked up
	Err    error  // from exec.LookPath
}

// Error names the binary and how to install QEMU.
func (e *NoQEMUError) Error() string {
	return fmt.Sprintf("find qemu %q: %v; install it with \"apt-get install -y qemu-system-x86\" (Debian/Ubuntu) or \"dnf install -y qemu-system-x86-core\" (Fedora/RHEL), or set vm.Config.QEMU", e.Binary, e.Err)
}

// Unwrap returns the lookup error.
func (e *NoQEMUError) Unwrap() error { return e.Err }

// HostBusyError means QEMU could not start the VM because the host is
// short of a resource right now (memory, KVM busy, file descriptors,
// processes). Retrying later may work; a test should skip, not fail.
type HostBusyError struct {
	Reason string // the QEMU or OS message that showed the shortage
	Stderr string // QEMU's stderr, if it ran
	// Err is the errno that showed the shortage (syscall.ENOMEM, EBUSY,
	// EAGAIN, EMFILE, ...), or nil when it is not known.
	Err error
}

// Error quotes the message that showed the shortage.
func (e *HostBusyError) Error() string {
	return "start vm: host resources temporarily unavailable: " + e.Reason
}

// Unwrap returns the errno, if known, so that errors.Is(err,
// syscall.ENOMEM) works.
func (e *HostBusyError) Unwrap() error { return e.Err }

// Contention reports true: a host short of a resource is contention, which
// kerneltest.SkipOnContention turns into a skip.
func (e *HostBusyError) Contention() bool { return true }

// TimeoutError means the VM did not finish within Config.Timeout. QEMU was
// killed and reaped.
type TimeoutError struct {
	Timeout time.Duration
	// Accel is the accelerator the VM ran with. Under "kvm" the error says
	// how to fall back to TCG: a /dev/kvm that opens but does not
	// accelerate makes a guest crawl instead of failing (LINUX-FACTS.md).
	Accel string
	// Phase tells where the time went: PhaseKernel, PhaseInit or PhaseGuest.
	Phase       string
	ConsoleTail string
}

// Boot phases reported by TimeoutError.
const (
	// PhaseKernel: the kernel had not yet started /init.
	PhaseKernel = "kernel"
	// PhaseInit: /init was started but never printed guest.Main's begin
	// line (it hung early, or does not use package vm/guest).
	PhaseInit = "init"
	// PhaseGuest: the guest program was running and never reported.
	PhaseGuest = "guest"
)

// Error says how far the boot got and quotes the console tail.
func (e *TimeoutError) Error() string {
	var phase string
	switch e.Phase {
	case PhaseKernel:
		phase = "while the kernel was booting (it never started /init)"
	case PhaseInit:
		phase = "after the kernel started /init, which never announced itself (does it call guest.Main?)"
	default:
		phase = "while the guest program was running (it never reported a verdict)"
	}
	hint := ""
	if e.Accel == AccelKVM {
		hint = fmt.Sprintf("; it ran with Accel %q: if KVM does not accelerate guests on this host (ktest's probe then exports KTEST_ACCEL=tcg), use Accel %q", AccelKVM, AccelTCG)
	}
	return fmt.Sprintf("vm timed out after %v %s%s%s", e.Timeout, phase, hint, section("console tail", e.ConsoleTail))
}

// GuestError means the guest program ran and failed: it returned an
// error, panicked, outlived its guard, or exited without a verdict.
type GuestError struct {
	ExitCode int    // the guest's exit status
	Message  string // the error the guest reported, or why there is none
	Panicked bool   // the guest function panicked
	TimedOut bool   // the guest's own guard expired
	Output   string // the guest's output (see Result.Output)
}

// Error gives the exit status, the guest's message and its last output lines.
func (e *GuestError) Error() string {
	return fmt.Sprintf("guest failed with exit status %d: %s%s", e.ExitCode, e.Message, section("guest output", tailLines(e.Output, errorTailLines)))
}

// BootError means the VM stopped before the guest could report a verdict
// for a reason other than a timeout: QEMU could not load the kernel or
// initramfs, the kernel panicked, or /init could not be run.
type BootError struct {
	Reason      string // what went wrong, in one line, with a hint when known
	QEMUExit    int    // QEMU's exit status (-1 if it was killed)
	QEMUStderr  string
	ConsoleTail string
}

// Error gives the reason, QEMU's stderr and the console tail.
func (e *BootError) Error() string {
	msg := "vm boot failed: " + e.Reason
	if s := strings.TrimSpace(e.QEMUStderr); s != "" && !strings.Contains(e.Reason, s) {
		msg += section("qemu stderr", tailLines(s, errorTailLines))
	}
	return msg + section("console tail", e.ConsoleTail)
}

// errorTailLines is how many lines of console or output an error message
// quotes; the full text is in the Result.
const errorTailLines = 40

// section formats a labelled block for an error message, or "" if empty.
func section(label, body string) string {
	body = strings.TrimRight(body, "\n")
	if strings.TrimSpace(body) == "" {
		return ""
	}
	return fmt.Sprintf("\n--- %s ---\n%s\n--- end %s ---", label, body, label)
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	idx := len(s)
	for i := 0; i < n; i++ {
		j := strings.LastIndexByte(s[:idx], '\n')
		if j < 0 {
			return s
		}
		idx = j
	}
	return s[idx+1:]
}
