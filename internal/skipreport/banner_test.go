package skipreport

import "testing"

func TestBanner(t *testing.T) {
	got := Banner(Contention, "flock LOCK_SH on cache entry \"k\" timed out after 1s\n(lockfile /x)", "retry later", "see ktest locks")
	want := "ktest: SKIP: contention: flock LOCK_SH on cache entry \"k\" timed out after 1s (lockfile /x)\n  hint: retry later\n  hint: see ktest locks"
	if got != want {
		t.Errorf("Banner =\n%s\nwant\n%s", got, want)
	}
}

func TestParseBannerLine(t *testing.T) {
	for _, tc := range []struct {
		in     string
		cat    Category
		reason string
		ok     bool
	}{
		{"ktest: SKIP: no-kernel: no kernel found", NoKernel, "no kernel found", true},
		{"    boot_test.go:12: ktest: SKIP: contention: EBUSY: busy", Contention, "EBUSY: busy", true},
		{"ktest: SKIP: no-qemu: qemu-system-x86_64 not found\n  hint: apt-get install", NoQEMU, "qemu-system-x86_64 not found", true},
		{"plain skip", "", "", false},
		{"ktest: SKIP: nocolon", "", "", false},
	} {
		cat, reason, ok := ParseBannerLine(tc.in)
		if cat != tc.cat || reason != tc.reason || ok != tc.ok {
			t.Errorf("ParseBannerLine(%q) = %q, %q, %v; want %q, %q, %v", tc.in, cat, reason, ok, tc.cat, tc.reason, tc.ok)
		}
	}
}
