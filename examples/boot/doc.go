// Package boot is the smallest complete kernel test: it boots the kernel
// ktest provides, runs a Go program as /init, and checks from the host
// that the guest really runs that kernel.
//
// The guest program (./guest) prints `uname -r`; the host test compares it
// with the release kerneltest.KernelInfo reports: the one ktest exported
// for the kernel it resolved, or, under plain go test, the one in the
// image's bzImage header.
//
// Run it with ktest (which finds a kernel and exports it):
//
//	ktest ./examples/boot
//
// or with plain go test and a kernel image of your choice:
//
//	KTSTR_TEST_KERNEL=/boot/vmlinuz-$(uname -r) go test ./examples/boot
//
// Without a kernel the test skips with a "ktest: SKIP: no-kernel" banner.
package boot
