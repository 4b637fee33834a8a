package vm

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// hostBusyPatterns are QEMU stderr fragments (lower-cased) that mean the
// host is short of a resource at the moment, not that the setup is wrong,
// with the errno each one shows.
var hostBusyPatterns = []struct {
	text  string
	errno syscall.Errno
}{
	{"device or resource busy", syscall.EBUSY},            // KVM module busy
	{"cannot allocate memory", syscall.ENOMEM},            // guest RAM, KVM_CREATE_VM
	{"cannot set up guest memory", syscall.ENOMEM},        // QEMU's guest-RAM allocation message
	{"resource temporarily unavailable", syscall.EAGAIN},  // threads, processes
	{"too many open files in system", syscall.ENFILE},     // system-wide (before EMFILE)
	{"too many open files", syscall.EMFILE},               // per process
	{"out of memory", syscall.ENOMEM},                     // allocation failure messages
	{"failed to create kvm vm: resource", syscall.EAGAIN}, // some QEMU versions word EAGAIN so
}

var (
	killInitRe   = regexp.MustCompile(`Attempted to kill init! exitcode=0x([0-9a-fA-F]+)`)
	panicRe      = regexp.MustCompile(`Kernel panic - not syncing: (.*)`)
	execInitRe   = regexp.MustCompile(`Failed to execute (\S+) \(error (-?\d+)\)`)
	unpackFailRe = regexp.MustCompile(`Initramfs unpacking failed: (.*)`)
	// initStartedRe is the kernel's last word before running /init.
	initStartedRe = regexp.MustCompile(`Run \S+ as init process`)
)

// bootOutcome is what classifyFailure needs to know about a boot that
// ended without a verdict.
type bootOutcome struct {
	kernel       string // kernel image path, for messages
	stderr       string // QEMU's stderr
	console      string // serial console, LF line ends
	qemuExit     int    // -1 if QEMU died from a signal
	signal       string // the signal name when qemuExit is -1
	guestStarted bool   // the begin line was seen
	badVerdict   string // a result line that did not decode
	output       string // guest output so far
}

// classifyFailure turns a boot that ended without a verdict into a typed
// error: HostBusyError for transient host trouble, GuestError when the
// guest program ran and died, BootError otherwise. It never returns nil.
func classifyFailure(o bootOutcome) error {
	tail := tailLines(o.console, errorTailLines)
	stderrLine := firstMeaningfulLine(o.stderr)
	lowerStderr := strings.ToLower(o.stderr)
	boot := func(reason string) error {
		return &BootError{Reason: reason, QEMUExit: o.qemuExit, QEMUStderr: o.stderr, ConsoleTail: tail}
	}

	if o.qemuExit != 0 {
		for _, p := range hostBusyPatterns {
			if strings.Contains(lowerStderr, p.text) {
				return &HostBusyError{Reason: lineContaining(o.stderr, p.text), Stderr: o.stderr, Err: p.errno}
			}
		}
	}
	switch {
	case strings.Contains(lowerStderr, "could not access kvm kernel module"),
		strings.Contains(lowerStderr, "failed to initialize kvm"),
		strings.Contains(lowerStderr, "kvm internal error"),
		strings.Contains(lowerStderr, "emulation failure"),
		strings.Contains(lowerStderr, "failed to set msr"):
		return boot(fmt.Sprintf("qemu could not run the guest with KVM (%s); if KVM is absent or not accelerated here, use Accel %q (or KTEST_ACCEL=tcg)", stderrLine, AccelTCG))
	case o.console == "" && o.qemuExit != 0 && strings.Contains(lowerStderr, "kernel"):
		return boot(fmt.Sprintf("qemu could not load the kernel %s (%s); is it an uncorrupted x86 bzImage?", o.kernel, stderrLine))
	case o.console == "" && o.qemuExit != 0 && (strings.Contains(lowerStderr, "initrd") || strings.Contains(lowerStderr, "ram disk")):
		return boot(fmt.Sprintf("qemu could not load the initramfs (%s)", stderrLine))
	}

	if m := killInitRe.FindStringSubmatch(o.console); m != nil {
		status := decodeWaitStatus(m[1])
		if o.guestStarted {
			return &GuestError{
				ExitCode: status.code,
				Message:  fmt.Sprintf("the guest program %s without reporting a verdict (a panic in a goroutine other than the guest function's, or a direct os.Exit)", status.text),
				Output:   o.output,
			}
		}
		return boot(fmt.Sprintf("/init %s before the guest started (kernel: %s)", status.text, strings.TrimSpace(m[0])))
	}
	unpack := ""
	if m := unpackFailRe.FindStringSubmatch(o.console); m != nil {
		unpack = fmt.Sprintf(" (kernel: Initramfs unpacking failed: %s)", strings.TrimSpace(m[1]))
	}
	if m := execInitRe.FindStringSubmatch(o.console); m != nil {
		return boot(fmt.Sprintf("the kernel could not execute %s (error %s%s): the initramfs is corrupt or /init is not a static x86-64 executable%s", m[1], m[2], errnoName(m[2]), unpack))
	}
	if m := panicRe.FindStringSubmatch(o.console); m != nil {
		msg := strings.TrimSpace(m[1])
		switch {
		case strings.Contains(msg, "Unable to mount root fs"), strings.Contains(msg, "No working init found"):
			return boot(fmt.Sprintf("the initramfs is corrupt or has no /init%s (kernel panic: %s)", unpack, msg))
		default:
			return boot("kernel panic: " + msg)
		}
	}
	if o.badVerdict != "" {
		return boot(fmt.Sprintf("the guest's verdict line was garbled on the console: %q", o.badVerdict))
	}
	if o.qemuExit == -1 {
		return boot(fmt.Sprintf("qemu was killed by %s before the guest reported a verdict", o.signal))
	}
	if o.qemuExit != 0 {
		if stderrLine == "" {
			stderrLine = "no message on stderr"
		}
		return boot(fmt.Sprintf("qemu exited with status %d before the guest reported a verdict (%s)", o.qemuExit, stderrLine))
	}
	if o.guestStarted {
		return &GuestError{ExitCode: -1, Message: "the VM powered off or rebooted without a verdict from the guest program (did it call reboot itself?)", Output: o.output}
	}
	return boot("the VM stopped before the guest program started (QEMU exit status 0); see the console tail")
}

type waitStatus struct {
	code int    // exit status, or 128+signal
	text string // "exited with status 2" or "was killed by SIGSEGV"
}

// decodeWaitStatus decodes the hex wait status in the kernel's "Attempted
// to kill init! exitcode=0x..." message.
func decodeWaitStatus(hex string) waitStatus {
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil {
		return waitStatus{code: -1, text: "exited (unparseable status 0x" + hex + ")"}
	}
	ws := syscall.WaitStatus(v)
	switch {
	case ws.Exited():
		return waitStatus{code: ws.ExitStatus(), text: fmt.Sprintf("exited with status %d", ws.ExitStatus())}
	case ws.Signaled():
		return waitStatus{code: 128 + int(ws.Signal()), text: "was killed by " + unix.SignalName(ws.Signal())}
	default:
		return waitStatus{code: -1, text: fmt.Sprintf("ended (status %#x)", v)}
	}
}

// errnoName renders ", ENOENT: no such file or directory" for "-2".
func errnoName(neg string) string {
	n, err := strconv.Atoi(strings.TrimPrefix(neg, "-"))
	if err != nil || n <= 0 || n > 4095 {
		return ""
	}
	e := syscall.Errno(n)
	if name := unix.ErrnoName(e); name != "" {
		return fmt.Sprintf(", %s: %v", name, e)
	}
	return ""
}

// firstMeaningfulLine returns the first non-blank line of s.
func firstMeaningfulLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// lineContaining returns the first line of s whose lower-case form
// contains lowerNeedle.
func lineContaining(s, lowerNeedle string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(strings.ToLower(l), lowerNeedle) {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(s)
}
