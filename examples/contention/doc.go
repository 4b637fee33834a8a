// Package contention shows how a test that needs something exclusive
// skips, rather than fails, when another test run holds it.
//
// The exclusive resource here is a host-wide lockfile (an flock in the
// system's temporary directory). It stands for anything only one test may
// use at a time: a device passed through to the VM, a fixed host port, a
// large memory reservation. kerneltest.TryLockFile takes the lock without
// waiting and, when another process has it, returns a
// *kerneltest.ContentionError; kerneltest.SkipOnContention turns that into
// a "ktest: SKIP: contention: ..." skip (with a skip sidecar under ktest)
// and fails the test on any other error. A test's own error type can take
// part the same way by having a Contention() bool method.
//
// TestExclusiveResource is the pattern. In a normal run nobody else holds
// the lock, so it boots and passes. To see the skip path, run the
// ktest_contention-tagged TestSkipsWhenResourceBusy, which holds the lock
// itself before asking for it again:
//
//	ktest -tags ktest_contention -run TestSkipsWhenResourceBusy -v ./examples/contention
//
// TestBusyResourceSkips, which does run by default, runs that test as a
// child go test and checks the skip, its banner and its sidecar.
package contention
