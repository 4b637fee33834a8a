// Package hang hangs, only when VMFIXTURE_HANG=1 (else its one test
// skips): for the dumps of a run that exceeds -timeout.
//
// At -timeout the test binary panics with its own goroutine dump, naming
// TestHang. Inside the kernel ktest selected (a `ktest --vm` guest), the
// test also leaves a thread waiting in the kernel for a FUSE answer that
// never comes, so that the binary cannot exit after that panic: the guest
// then hangs as a whole, which is the case for ktest's hard bound and its
// kernel dump (blocked tasks and backtraces; the stuck thread sits in
// fuse's request_wait_answer, uninterruptibly, since the daemon that
// would answer it is the exiting process itself).
package hang

import (
	"os"
	"testing"
	"time"

	"example.com/vmfixture/need"
)

func TestHang(t *testing.T) {
	if os.Getenv("VMFIXTURE_HANG") != "1" {
		t.Skip("vmfixture: hangs only with VMFIXTURE_HANG=1")
	}
	if need.InSelectedKernel(t) {
		if err := stickInKernel(t); err != nil {
			t.Logf("vmfixture: cannot leave a thread stuck in the kernel (%v): hanging in Go only", err)
		} else {
			t.Log("vmfixture: a thread waits for a FUSE answer that never comes: the binary cannot exit")
		}
	}
	t.Log("vmfixture: hanging until -test.timeout")
	for {
		time.Sleep(time.Hour)
	}
}
