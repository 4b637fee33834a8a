package kerneltest

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ktest-dev/ktest/internal/skipreport"
)

func TestParseUnavailable(t *testing.T) {
	cases := []struct {
		in, reason string
		cat        skipreport.Category
	}{
		{"no-kernel: no kernel found", "no kernel found", skipreport.NoKernel},
		{"contention: open /dev/kvm: EBUSY: busy; host: x=1", "open /dev/kvm: EBUSY: busy; host: x=1", skipreport.Contention},
		{"  no-kvm: /dev/kvm absent \n", "/dev/kvm absent", skipreport.NoKVM},
		{"something odd", "something odd", skipreport.NoKernel},         // no category: no-kernel
		{"two words: reason", "two words: reason", skipreport.NoKernel}, // not a category
		{"contention: ", "ktest reported the kernel unavailable without a reason", skipreport.Contention},
		{": reason", ": reason", skipreport.NoKernel},
		{"http://example.com", "http://example.com", skipreport.NoKernel}, // no space after the colon
	}
	for _, c := range cases {
		cat, reason := parseUnavailable(c.in)
		if cat != c.cat || reason != c.reason {
			t.Errorf("parseUnavailable(%q) = %q, %q; want %q, %q", c.in, cat, reason, c.cat, c.reason)
		}
	}
}

func FuzzParseUnavailable(f *testing.F) {
	for _, s := range []string{"no-kernel: none", "contention: EBUSY", "x", "", ": ", "a b: c", "no-kvm:\tx\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		cat, reason := parseUnavailable(text)
		if cat == "" || strings.ContainsAny(string(cat), " \t\n") {
			t.Fatalf("parseUnavailable(%q): category %q", text, cat)
		}
		if strings.TrimSpace(text) != "" && reason == "" {
			t.Fatalf("parseUnavailable(%q): empty reason", text)
		}
		if !utf8.ValidString(text) {
			return
		}
		// The banner built from it must parse back to the same category.
		if got, _, ok := skipreport.ParseBannerLine(skipreport.BannerLine(cat, reason)); !ok || got != cat {
			t.Fatalf("banner of %q parses back as %q, %v", text, got, ok)
		}
		if e := errnoIn(reason); e != "" && !strings.Contains(reason, e) {
			t.Fatalf("errnoIn(%q) = %q, not in the text", reason, e)
		}
	})
}

func TestErrnoIn(t *testing.T) {
	cases := map[string]string{
		"open /dev/kvm: EBUSY (device busy)": "EBUSY",
		"errno=ENOMEM;":                      "ENOMEM",
		"EXYZ and then EAGAIN":               "EAGAIN", // EXYZ is no errno
		"ERROR: E2BIG":                       "E2BIG",
		"no errno here, EBUSYX neither":      "",
		"":                                   "",
	}
	for in, want := range cases {
		if got := errnoIn(in); got != want {
			t.Errorf("errnoIn(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPackageOfFunc(t *testing.T) {
	cases := map[string]string{
		"github.com/ktest-dev/ktest/kerneltest.Kernel":          "github.com/ktest-dev/ktest/kerneltest",
		"example.com/m/pkg_test.TestX.func1":                    "example.com/m/pkg_test",
		"example.com/m/pkg.(*T).Method":                         "example.com/m/pkg",
		"gopkg.in/yaml%2ev3.Unmarshal":                          "gopkg.in/yaml%2ev3",
		"testing.tRunner":                                       "testing",
		"main.main":                                             "main",
		"no-dot-at-all":                                         "",
		"example.com/a.b/c.F":                                   "example.com/a.b/c",
		"github.com/ktest-dev/ktest/kerneltest.Boot[...].func2": "github.com/ktest-dev/ktest/kerneltest",
	}
	for in, want := range cases {
		if got := packageOfFunc(in); got != want {
			t.Errorf("packageOfFunc(%q) = %q, want %q", in, got, want)
		}
	}
	if thisPackage != "github.com/ktest-dev/ktest/kerneltest" {
		t.Errorf("thisPackage = %q", thisPackage)
	}
}

func FuzzPackageOfFunc(f *testing.F) {
	for _, s := range []string{"a/b.C", "x.y", "", "/", "a/b/", ".", "a/.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		pkg := packageOfFunc(name)
		if !strings.HasPrefix(name, pkg) {
			t.Fatalf("packageOfFunc(%q) = %q, not a prefix", name, pkg)
		}
		if pkg != "" && (len(pkg) == len(name) || name[len(pkg)] != '.') {
			t.Fatalf("packageOfFunc(%q) = %q, not followed by a dot", name, pkg)
		}
	})
}

func TestCallerPackage(t *testing.T) {
	// Called from this package's tests, the nearest caller outside this
	// package is the testing runtime, which is skipped: nothing is left.
	if got := callerPackage(); got != "" {
		t.Errorf("callerPackage() from kerneltest's own test = %q, want \"\"", got)
	}
	if got := testPackage(); got != "github.com/ktest-dev/ktest/kerneltest" {
		t.Errorf("testPackage() = %q", got)
	}
}
