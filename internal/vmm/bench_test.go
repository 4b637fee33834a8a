package vmm

import (
	"context"
	"math"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/vm"
)

// TestBootRatio measures boot-to-program-start of Run against the old vm
// package's QEMU line (q35, bzImage, its own initramfs) on the same kernel
// and machine size, alternating the two in one loop so that drift on a
// shared host hits both alike. It runs only with KTEST_VM_BENCH=N (N
// rounds), and reports medians and the geometric mean of the per-round
// ratios; it never fails on timing:
//
//	KTEST_VM_BENCH=8 go test ./internal/vmm -run BootRatio -v
//
// vmm's boot is QEMU start → the program's start reported by the init (the
// host's root mounted, every guest filesystem ready); the old line's is
// QEMU start → its guest function's verdict on the console, for a function
// that returns at once.
func TestBootRatio(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("KTEST_VM_BENCH"))
	if rounds <= 0 {
		t.Skip("set KTEST_VM_BENCH=N to measure N rounds")
	}
	cpus, mem := DefaultCPUs, DefaultMemoryMB
	if v, err := strconv.Atoi(os.Getenv("KTEST_VM_BENCH_CPUS")); err == nil {
		cpus = v
	}
	if v, err := strconv.Atoi(os.Getenv("KTEST_VM_BENCH_MEM")); err == nil {
		mem = v
	}
	s := bootSpec(t, "/bin/true")
	s.CPUs, s.MemoryMB = cpus, mem
	old := vm.Config{Kernel: s.Kernel, Guest: "github.com/ktest-dev/ktest/vm/internal/testguest", Args: []string{"info"},
		CPUs: cpus, MemoryMB: mem, Accel: vm.AccelTCG, Timeout: 5 * time.Minute, TempDir: t.TempDir()}
	ctx := context.Background()
	// Warm both: the guest build, the cached initramfs and module indexes.
	if _, err := vm.Run(ctx, old); err != nil {
		t.Fatalf("vm.Run: %v", err)
	}
	if _, err := Run(ctx, s); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var newBoot, oldBoot, newTotal, oldTotal, ratios, totalRatios []float64
	for i := range rounds {
		var nb, nt, ob, ot float64
		runNew := func() {
			res, err := Run(ctx, s)
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("Run: %v %+v", err, res)
			}
			nb, nt = ms(res.Boot), ms(res.Total)
		}
		runOld := func() {
			res, err := vm.Run(ctx, old)
			if err != nil {
				t.Fatalf("vm.Run: %v", err)
			}
			ob, ot = ms(res.BootToVerdict), ms(res.Duration)
		}
		if i%2 == 0 {
			runNew()
			runOld()
		} else {
			runOld()
			runNew()
		}
		newBoot, oldBoot = append(newBoot, nb), append(oldBoot, ob)
		newTotal, oldTotal = append(newTotal, nt), append(oldTotal, ot)
		ratios, totalRatios = append(ratios, nb/ob), append(totalRatios, nt/ot)
		t.Logf("round %d: vmm boot %.0f ms (total %.0f), vm boot %.0f ms (total %.0f): ratio %.2f (total %.2f)", i, nb, nt, ob, ot, nb/ob, nt/ot)
	}
	t.Logf("kernel %s, %d CPUs, %d MiB, %d rounds", s.Kernel, cpus, mem, rounds)
	t.Logf("median boot: vmm %.0f ms, vm %.0f ms; median ratio %.2f, geometric mean %.2f", median(newBoot), median(oldBoot), median(ratios), geomean(ratios))
	t.Logf("median total: vmm %.0f ms, vm %.0f ms; median ratio %.2f, geometric mean %.2f", median(newTotal), median(oldTotal), median(totalRatios), geomean(totalRatios))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func geomean(xs []float64) float64 {
	sum := 0.0
	for _, x := range xs {
		sum += math.Log(x)
	}
	return math.Exp(sum / float64(len(xs)))
}
