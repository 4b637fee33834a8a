// Package skipreport keeps the records of ktest's runs: the run directory
// with run.json (docs/spec.md §8), the reader of run and skip sidecars, and
// the statistics `ktest stats` computes from them.
//
// What the test binaries share with ktest, the SKIP banner, the skip
// sidecar and the host snapshot, lives in package testproto, which the
// test-side library links without linking this package; protocol.go
// re-exports those names for ktest's side.
package skipreport
