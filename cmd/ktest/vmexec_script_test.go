package main

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestVMExecScripts runs the end-to-end scripts of `ktest --vm` in
// testdata/vmexec: the real go over small modules whose test binaries
// boot the real test kernel under QEMU (internal/testkernel's, with its
// cache entry's modules and config). Each script skips without a kernel
// or QEMU, or under -short.
func TestVMExecScripts(t *testing.T) {
	testscript.Run(t, scriptParams(t, "testdata/vmexec"))
}
