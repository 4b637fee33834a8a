// Package guestfail shows what a failing guest looks like from the host:
// when the guest program returns an error (exits non-zero), Boot fails the
// host test and attaches the guest's message and everything it printed,
// so the failure can be read without rerunning anything.
//
// The failing test, TestGuestFails, is built only with the ktest_guestfail
// tag so that the default run stays green:
//
//	ktest -tags ktest_guestfail -run TestGuestFails ./examples/guestfail
//
// TestGuestFailureFailsHostTest, which does run by default, runs exactly
// that as a child go test and checks that the test failed and that its
// output carries the guest's message and output.
package guestfail
