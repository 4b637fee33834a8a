package kerneltest_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// KernelInfo adds the kernel's release and, for a kernel from ktest's
// cache, the entry's key and directory: enough to compare with what the
// guest reports, without reading the cache's files.
func ExampleKernelInfo() {
	testGuestRunsTheKernel := func(t *testing.T) {
		kernel := kerneltest.KernelInfo(t)
		res := kerneltest.Boot(t, vm.Config{Kernel: kernel.Path, Guest: "./guest"}) // prints `uname -r`
		if !strings.Contains(res.Output, kernel.Release) {
			t.Errorf("guest does not run %s:\n%s", kernel, res.Output)
		}
	}
	_ = testGuestRunsTheKernel
}

// A resource only one test on the host may use at a time: TryLockFile
// takes its lock or reports it busy, and SkipOnContention skips the test
// when another run has it.
func ExampleTryLockFile() {
	testNeedsTheDevice := func(t *testing.T) {
		lock, err := kerneltest.TryLockFile(filepath.Join(os.TempDir(), "scratch-device.lock"))
		kerneltest.SkipOnContention(t, err)
		t.Cleanup(func() { lock.Unlock() })
		// ... use the device ...
	}
	_ = testNeedsTheDevice
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
