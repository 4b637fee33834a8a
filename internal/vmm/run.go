package vmm

import (
	"context"
	"errors"
)

// Run boots s.Kernel, runs s.Argv inside the guest, and returns when QEMU
// has been reaped. The error is nil when the program produced a verdict
// (whatever its exit code); *BootError when it did not; *SetupError for
// bad input found before booting.
func Run(ctx context.Context, s Spec) (*Result, error) {
	return nil, &SetupError{What: "run in vm", Err: errors.New("not implemented yet")}
}
