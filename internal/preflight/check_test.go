package preflight

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/skipreport"
)

func TestClassifyKVMFailure(t *testing.T) {
	for _, tc := range []struct {
		errno    syscall.Errno
		policy   string
		category skipreport.Category // "" = hard error
	}{
		{syscall.EBUSY, OnNoKVMFail, skipreport.Contention},
		{syscall.ENOMEM, OnNoKVMSkip, skipreport.Contention},
		{syscall.EMFILE, OnNoKVMFail, skipreport.Contention},
		{syscall.ENOENT, OnNoKVMFail, ""},
		{syscall.ENOENT, OnNoKVMSkip, skipreport.NoKVM},
		{syscall.EACCES, OnNoKVMFail, ""},
		{syscall.EACCES, OnNoKVMSkip, skipreport.NoKVM},
		{syscall.EIO, OnNoKVMSkip, ""},
	} {
		err := error(newKVMError("/dev/kvm", "open", tc.errno))
		u, hardErr := classifyKVMFailure(err, tc.policy)
		switch {
		case tc.category == "" && hardErr == nil:
			t.Errorf("%v/%s: want a hard error, got skip %+v", tc.errno, tc.policy, u)
		case tc.category != "" && (u == nil || u.Category != tc.category):
			t.Errorf("%v/%s: want %s skip, got %+v, %v", tc.errno, tc.policy, tc.category, u, hardErr)
		case u != nil && (u.Errno == "" || !strings.Contains(u.Reason, "/dev/kvm")):
			t.Errorf("%v/%s: skip lacks errno or reason: %+v", tc.errno, tc.policy, u)
		}
		if hardErr != nil && (tc.errno == syscall.ENOENT || tc.errno == syscall.EACCES) {
			if hints := strings.Join(hint.Of(hardErr), "\n"); !strings.Contains(hints, "--on-no-kvm skip") {
				t.Errorf("%v: hard error hints %q lack the --on-no-kvm skip way out", tc.errno, hints)
			}
		}
	}
}

// TestCheckCollectsEveryFailure: a missing KVM device and a missing
// KTSTR_TEST_KERNEL are both reported, in one error.
func TestCheckCollectsEveryFailure(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"KTSTR_TEST_KERNEL": filepath.Join(dir, "nope"), "KTSTR_CACHE_DIR": dir}
	rep, err := Check(context.Background(), Options{
		OnNoKVM: OnNoKVMFail,
		KVM:     KVMOptions{Device: filepath.Join(dir, "no-kvm"), NoCache: true},
		Resolve: ResolveOptions{Getenv: func(k string) string { return env[k] }, Dir: dir, HostRoot: dir},
	})
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, want := range []string{"preflight found 2 problems", "no-kvm: no such file or directory (ENOENT)", "KTSTR_TEST_KERNEL="} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	var ke *KVMError
	if !errors.As(err, &ke) || ke.Class != ClassAbsent {
		t.Errorf("errors.As *KVMError through the multierror: %v", ke)
	}
	if rep == nil || rep.Host.TakenAt.IsZero() {
		t.Errorf("the report should still carry a host snapshot: %+v", rep)
	}
}

// TestCheckNoKernelIsASkip: nothing found is not an error.
func TestCheckNoKernelIsASkip(t *testing.T) {
	requireKVM(t)
	dir := t.TempDir()
	env := map[string]string{"KTSTR_CACHE_DIR": dir}
	rep, err := Check(context.Background(), Options{
		KVM:     KVMOptions{CacheDir: t.TempDir()},
		Resolve: ResolveOptions{Getenv: func(k string) string { return env[k] }, Dir: dir, HostRoot: dir},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Unavailable == nil || rep.Unavailable.Category != skipreport.NoKernel || len(rep.Unavailable.Hints) == 0 {
		t.Errorf("want a no-kernel skip with hints, got %+v", rep.Unavailable)
	}
}

// BenchmarkPreflight is the whole preflight of a run on a healthy host with
// a warm KVM probe cache: KVM check, resolution of a cached kernel, host
// snapshot. Goal: ≤ 30 ms.
func BenchmarkPreflight(b *testing.B) {
	if _, err := CheckKVM(context.Background(), KVMOptions{NoCache: true}); err != nil {
		b.Skipf("no usable /dev/kvm: %v", err)
	}
	dir := b.TempDir()
	env := map[string]string{"KTSTR_TEST_KERNEL": testImage, "KTSTR_CACHE_DIR": dir}
	cacheDir := b.TempDir()
	opts := Options{KVM: KVMOptions{CacheDir: cacheDir}, Resolve: ResolveOptions{Getenv: func(k string) string { return env[k] }, Dir: dir, HostRoot: dir}}
	if _, err := Check(context.Background(), opts); err != nil { // warms the probe cache
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		rep, err := Check(context.Background(), opts)
		if err != nil || rep.Kernel() == nil || !rep.KVM.Cached {
			b.Fatalf("%v %+v", err, rep)
		}
	}
}
