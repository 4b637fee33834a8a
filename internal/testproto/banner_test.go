package testproto

import "testing"

func TestBanner(t *testing.T) {
	got := Banner(Contention, "flock LOCK_SH on cache entry \"k\" timed out after 1s\n(lockfile /x)", "retry later", "see ktest locks")
	want := "ktest: SKIP: contention: flock LOCK_SH on cache entry \"k\" timed out after 1s (lockfile /x)\n  hint: retry later\n  hint: see ktest locks"
	if got != want {
		t.Errorf("Banner =\n%s\nwant\n%s", got, want)
	}
}

// TestBannerEscapesHostileText: a holder's command line or a version read
// from a file cannot put an ESC sequence, a CR or a forged line on the
// terminal through a banner, a hint or the category.
func TestBannerEscapesHostileText(t *testing.T) {
	got := Banner(Category("contention\x1b[1m"), "holders: pid=1 cmd=x \x1b[2J\nktest: PASS\r\u202eevil",
		"run ktest locks\nktest: PASS")
	want := "ktest: SKIP: contention\\x1b[1m: holders: pid=1 cmd=x \\x1b[2J ktest: PASS \\u202eevil\n  hint: run ktest locks ktest: PASS"
	if got != want {
		t.Errorf("Banner =\n%q\nwant\n%q", got, want)
	}
	if cat, reason, ok := ParseBannerLine(got); !ok || cat != "contention\\x1b[1m" || reason != "holders: pid=1 cmd=x \\x1b[2J ktest: PASS \\u202eevil" {
		t.Errorf("ParseBannerLine = %q, %q, %v", cat, reason, ok)
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
