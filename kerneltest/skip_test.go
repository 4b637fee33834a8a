package kerneltest

import (
	"strings"
	"testing"
)

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
