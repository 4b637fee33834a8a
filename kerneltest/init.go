package kerneltest

import (
	"os"

	"github.com/ktest-dev/ktest/internal/vminit"
)

// A kernel test binary is also its guests' init (docs/spec.md §15): booted
// as PID 1 with the init marker, it is the --vm init, which then runs the
// same binary again as the program. This runs before the test binary's
// own initialisation and flags, and does nothing in any other process.
func init() {
	if vminit.Requested() {
		os.Exit(vminit.Main())
	}
}
