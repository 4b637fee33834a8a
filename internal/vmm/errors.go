package vmm

import "fmt"

// BootError is a run that produced no verdict: QEMU failed, the kernel
// panicked or hung, or the init could not start the program. It is an
// infrastructure failure, never the program's.
type BootError struct {
	// Reason says what went wrong, in a sentence.
	Reason string
	// ConsoleTail is the end of the kernel console.
	ConsoleTail string
	// TimedOut is set when the hard bound expired.
	TimedOut bool
}

func (e *BootError) Error() string {
	return fmt.Sprintf("boot failure: %s\n--- kernel console (last lines) ---\n%s", e.Reason, e.ConsoleTail)
}

// SetupError is bad input found before anything booted: a missing QEMU or
// virtiofsd, a kernel that can reach neither virtio-fs nor an initramfs
// fallback. Hint says what to do.
type SetupError struct {
	What string
	Hint string
	Err  error
}

func (e *SetupError) Error() string {
	s := e.What
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *SetupError) Unwrap() error { return e.Err }
