package kerneltest

import (
	"fmt"
	"os"
	"testing"

	"github.com/ktest-dev/ktest/vm"
)

// Main runs the tests and then removes the guest programs vm built for
// them (vm.RemoveGuestBuilds), which would otherwise be left in the
// system's temporary directory. It returns the exit code for os.Exit:
//
//	func TestMain(m *testing.M) { os.Exit(kerneltest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if err := vm.RemoveGuestBuilds(); err != nil {
		fmt.Fprintf(os.Stderr, "kerneltest: %v\n", err)
	}
	return code
}
