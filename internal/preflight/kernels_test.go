package preflight

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/skipreport"
)

func (f *resolveFixture) checkKernels(onNoKVM string, ids ...string) ([]*Report, error) {
	return CheckKernels(context.Background(), Options{
		OnNoKVM: onNoKVM,
		KVM:     KVMOptions{Device: filepath.Join(f.root, "no-kvm"), NoCache: true},
		Resolve: ResolveOptions{Getenv: func(k string) string { return f.env[k] }, Dir: f.project, HostRoot: f.host},
	}, ids)
}

// Each --kernel gets its own report, in order, sharing the one KVM check:
// a KVM SKIP is every pass's.
func TestCheckKernelsOneReportPerID(t *testing.T) {
	f := newResolveFixture(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p61 := f.store("k61", "6.1.0-50-cloud-amd64", "x86_64", t0)
	p612 := f.store("k612", "6.12.48-cloud-amd64", "x86_64", t0.Add(time.Hour))
	reps, err := f.checkKernels(OnNoKVMSkip, "6.12", "k61")
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 2 || reps[0].Kernel() == nil || reps[1].Kernel() == nil {
		t.Fatalf("want two resolved reports, got %+v", reps)
	}
	if reps[0].Kernel().Path != p612 || reps[1].Kernel().Path != p61 {
		t.Errorf("kernels %s, %s; want %s, %s (the order given)", reps[0].Kernel().Path, reps[1].Kernel().Path, p612, p61)
	}
	for i, r := range reps {
		if r.Unavailable == nil || r.Unavailable.Category != skipreport.NoKVM {
			t.Errorf("report %d: want the no-kvm SKIP of the shared KVM check, got %+v", i, r.Unavailable)
		}
		if r.Host.TakenAt.IsZero() || r.KVM.Device != reps[0].KVM.Device {
			t.Errorf("report %d does not share the KVM check and host snapshot: %+v", i, r)
		}
	}
	reps[1].Unavailable.Hints[0] = "changed"
	if reps[0].Unavailable.Hints[0] == "changed" {
		t.Error("reports share one Unavailable: a pass that changes its own (a lock timeout) would change the others")
	}
}

// Every kernel that does not resolve is reported, with the KVM failure, in
// one error; none falls back to another kernel.
func TestCheckKernelsCollectsEveryFailure(t *testing.T) {
	f := newResolveFixture(t)
	f.store("k61", "6.1.0-50-cloud-amd64", "x86_64", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	_, err := f.checkKernels(OnNoKVMFail, "6.1", "7.2", "nokey")
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, want := range []string{"preflight found 3 problems", "no-kvm", `--kernel "7.2": no cache entry`, `--kernel "nokey": no such cache entry`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

// Two IDs for one image are refused: the run would report one kernel's
// results twice under two names.
func TestCheckKernelsRefusesTheSameKernelTwice(t *testing.T) {
	f := newResolveFixture(t)
	f.store("k61", "6.1.0-50-cloud-amd64", "x86_64", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	_, err := f.checkKernels(OnNoKVMTCG, "6.1", "k61")
	if err == nil || !strings.Contains(err.Error(), `--kernel "6.1" and --kernel "k61" are the same kernel`) {
		t.Fatalf("want the same-kernel error, got %v", err)
	}
	if reps, err := f.checkKernels(OnNoKVMTCG, "k61"); err != nil || len(reps) != 1 || reps[0].Kernel() == nil {
		t.Errorf("one ID is Check: %v %+v", err, reps)
	}
}
