// Package kerneltest is the test-side library for suites run by ktest: it
// runs test bodies inside the kernel ktest resolved, booted under QEMU,
// and turns "cannot run here" into labelled SKIPs instead of failures.
//
// A kernel test looks like this:
//
//	func TestInTheKernel(t *testing.T) {
//		res := kerneltest.Run(t, kerneltest.Config{CPUs: 2}, func(g *kerneltest.G) {
//			// Runs in the guest, as root, on the test kernel.
//			g.Report("uid", os.Getuid())
//		})
//		var uid int
//		if err := res.Value("uid", &uid); err != nil {
//			t.Fatal(err)
//		}
//	}
//
// Run boots the kernel and runs the test binary itself in the guest,
// selecting this test with -test.run; the body runs there on the guest's
// own *testing.T (so -cover and -race see it), and its logs, errors,
// subtests, skips and panics become the host test's as they happen (see
// Run). The guest sees the host's filesystem read-only at the same paths,
// with its own /tmp, /proc, /sys, cgroup2, bpffs, tracefs and debugfs.
// Config.Topology lays out sockets, cores, threads and NUMA nodes;
// CheckTopology checks it from the guest's sysfs and Gauntlet runs a body
// over several layouts. The test binary is the guests' init too (this
// package's initialiser starts it when the binary is PID 1), so nothing is
// built at test time; the initramfs is kept in $KTEST_VM_CACHE_DIR, else
// the user's cache directory (ktest/vm).
//
// For a guest program of its own (a Go main package that calls guest.Main,
// see package vm/guest), Boot runs it as /init instead:
//
//	func TestBoots(t *testing.T) {
//		res := kerneltest.Boot(t, vm.Config{Guest: "./guest", CPUs: 2})
//		if !strings.Contains(res.Output, "hello") {
//			t.Errorf("guest output %q lacks hello", res.Output)
//		}
//	}
//
//	func TestMain(m *testing.M) { os.Exit(kerneltest.Main(m)) }
//
// # Skips
//
// Kernel, KernelInfo, Run and Boot skip a test, rather than fail it, when the
// run cannot give it what it needs: no kernel (not run under ktest and
// KTSTR_TEST_KERNEL unset, or ktest said the tests get none), no QEMU, or a
// busy host. SkipOnContention does the same for a test's own contention
// errors: any error with a method Contention() bool that returns true, such
// as *ContentionError or the busy-lock error of TryLockFile. Every skip
// message is the SKIP banner of docs/spec.md §6, "ktest: SKIP: <category>:
// <reason>" followed by "  hint: ..." lines, so test2json, JUnit and the
// console all show it, and ktest counts skips by category. Under ktest
// (KTEST_SIDECAR_DIR set) every skip also writes a skip sidecar,
// skips/<time>-<hex>.json in the run's sidecar directory, naming the test,
// category, reason, errno, host snapshot and kernel. Outside ktest no
// sidecar is written. A sidecar that cannot be written is reported with
// t.Log and never fails the test.
//
// Anything else that goes wrong is a test failure: a kernel path that is
// set but unusable (KTSTR_TEST_KERNEL naming a missing file is a mistake to
// fix, not a reason to skip), a guest that fails, a boot that crashes or
// times out.
//
// # Output
//
// Boot keeps passing tests quiet: it logs (t.Log) a one-line boot summary
// and the guest program's output, which go test shows only with -v or when
// the test fails. The kernel's serial console is logged in full only when
// the boot itself failed (timeout, kernel panic, QEMU error); a failing
// guest program gets its own output attached to the failure instead. To
// watch the console live, set vm.Config.Stdout (e.g. to os.Stderr).
//
// # Environment
//
// The package reads what ktest exports (docs/spec.md §9): KTEST_PROTOCOL
// (the protocol version), KTSTR_TEST_KERNEL (the image), KTSTR_KERNEL (its
// cache entry directory), KTEST_KERNEL_RELEASE and KTEST_KERNEL_CACHE_KEY
// (for KernelInfo), KTEST_UNAVAILABLE and KTEST_UNAVAILABLE_JSON (why there
// is no kernel: category, reason, errno, hints), KTEST_ACCEL ("kvm" or
// "tcg", used by vm.Run), KTEST_SIDECAR_DIR and KTEST_RUN_ID, plus KTSTR_CI
// and CI for the sidecar's run_source. Outside ktest, setting
// KTSTR_TEST_KERNEL is enough to run kernel tests with plain go test; they
// then boot with TCG unless KTEST_ACCEL=kvm is set.
//
// ktest and this package tell each other's protocol version apart: a
// ktest of a newer minor version only adds, and is read as this one; a
// ktest of a newer major version is reported as such (the test fails, or,
// when ktest said there is no kernel, skips with the versions in a hint),
// never misread. An older ktest, which exports no KTEST_PROTOCOL, is read
// by its text form: category and reason, without errno or hints.
//
// # What a test binary links
//
// Test authors import this package, and package vm for a bare VM (vm/guest
// in guest programs), nothing else of this module. None of them links
// ktest's own side (the runner, the kernel cache, the KVM checks, the
// statistics): a kernel test binary stays small, and a test in this
// package pins its dependencies.
//
// Kernel, KernelInfo, Run, Boot and SkipOnContention may skip or fail the
// test, so like t.Skip and t.Fatal they must be called from the goroutine
// running the test.
package kerneltest
