// Package testproto is the protocol between the ktest binary and the test
// binaries it runs, in both directions, and nothing else:
//
//   - ktest to the tests: the environment variables ktest exports
//     (docs/spec.md §9), among them the protocol version (KTEST_PROTOCOL)
//     and why tests get no kernel (KTEST_UNAVAILABLE, with its structured
//     form KTEST_UNAVAILABLE_JSON). Offer is the host's side, Receive the
//     test's; both live here so that they cannot drift apart.
//   - the tests to ktest: the SKIP banner a skipped test logs, which ktest
//     counts by category (§6), and the skip sidecar it writes into the
//     run's directory, with the host snapshot it carries (§8).
//
// Both the runner and the test-side library (package kerneltest) import
// it. It must stay light: it links the standard library, x/sys/unix and
// two small file helpers, never the cache, the KVM code or the stats, so
// that a kernel test binary carries none of ktest's own machinery. A test
// pins that (deps_test.go in package kerneltest).
package testproto
