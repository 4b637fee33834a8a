package main

import (
	"path/filepath"
	"testing"
)

// isolateUserDirs points every per-user directory ktest reads or writes
// (the kernel cache, the KVM probe cache under XDG_CACHE_HOME, HOME itself)
// at the test's temp dir, for tests that run ktest in-process: a test must
// not write into the user's real ~/.cache. Scripts get the same from their
// Setup. It uses t.Setenv, so the test must not be parallel.
func isolateUserDirs(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, ".cache"))
	t.Setenv("KTSTR_CACHE_DIR", "")
	t.Setenv("KTSTR_TEST_KERNEL", "")
	t.Setenv("KTSTR_KERNEL", "")
}
