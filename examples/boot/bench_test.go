package boot

import (
	"testing"
	"time"

	"github.com/ktest-dev/ktest/kerneltest"
	"github.com/ktest-dev/ktest/vm"
)

// BenchmarkBoot times the example's boot: ns/op is QEMU start to QEMU exit
// as Boot sees it, and ms-to-verdict is QEMU start to the guest's verdict
// (Result.BootToVerdict). A first boot outside the timed loop builds the
// guest program, which later boots reuse.
//
//	KTSTR_TEST_KERNEL=/path/to/bzImage go test -run '^$' -bench Boot -benchtime 10x ./examples/boot
func BenchmarkBoot(b *testing.B) {
	cfg := vm.Config{Kernel: kerneltest.Kernel(b), Guest: "./guest"}
	kerneltest.Boot(b, cfg)
	var toVerdict time.Duration
	for b.Loop() {
		toVerdict += kerneltest.Boot(b, cfg).BootToVerdict
	}
	b.ReportMetric(float64(toVerdict.Milliseconds())/float64(b.N), "ms-to-verdict")
}
