package kerneltest_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/ktest-dev/ktest/kerneltest"
	"github.com/ktest-dev/ktest/vm"
)

// A kernel test boots the kernel ktest provides with a Go program as
// /init and checks what the guest printed. Without a kernel, QEMU or host
// resources the test skips with a "ktest: SKIP: ..." banner.
func ExampleBoot() {
	// In a _test.go file:
	testBootsTwoCPUs := func(t *testing.T) {
		res := kerneltest.Boot(t, vm.Config{
			Guest: "./guest", // a main package calling guest.Main
			CPUs:  2,
		})
		if !strings.Contains(res.Output, "cpus: 2") {
			t.Errorf("guest output:\n%s", res.Output)
		}
	}
	_ = testBootsTwoCPUs
}

// Kernel gives a test the image path when it needs the file itself, e.g.
// to read its header or pass it to another tool.
func ExampleKernel() {
	testImageIsReadable := func(t *testing.T) {
		kernel := kerneltest.Kernel(t) // skips outside ktest without KTSTR_TEST_KERNEL
		if _, err := os.Stat(kernel); err != nil {
			t.Fatal(err)
		}
	}
	_ = testImageIsReadable
}

// A test that needs something exclusive reports "busy" as a
// *ContentionError and lets SkipOnContention decide: skip on contention,
// fail on anything else, go on when there is no error.
func ExampleSkipOnContention() {
	reserveDevice := func() error {
		err := syscall.EBUSY // what opening the device returned
		if errors.Is(err, syscall.EBUSY) {
			return &kerneltest.ContentionError{Reason: "scratch device /dev/sdz is in use", Err: err}
		}
		return err
	}
	testNeedsDevice := func(t *testing.T) {
		kerneltest.SkipOnContention(t, reserveDevice())
		// ... use the device ...
	}
	_ = testNeedsDevice
	fmt.Println(reserveDevice())
	// Output: scratch device /dev/sdz is in use: device or resource busy
}

// TestMain lets Main remove the guest programs vm built for the tests.
func ExampleMain() {
	// func TestMain(m *testing.M) { os.Exit(kerneltest.Main(m)) }
}
