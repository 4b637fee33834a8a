//go:build ktest_guestfail

package guestfail

import (
	"testing"

	"github.com/ktest-dev/ktest/kerneltest"
	"github.com/ktest-dev/ktest/vm"
)

// TestGuestFails fails on purpose: its guest returns an error. Boot
// reports it with t.Fatal, quoting the guest's error and output.
func TestGuestFails(t *testing.T) {
	kerneltest.Boot(t, vm.Config{Guest: "./guest"})
	t.Error("not reached: Boot returned although the guest failed")
}
