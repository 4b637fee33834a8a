package kerneltest

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/ktest-dev/ktest/internal/testproto"
)

// skipSite is one reason to skip, as the banner and the sidecar show it.
type skipSite struct {
	category testproto.Category
	reason   string
	errno    string
	// kernel is the image the test was going to use ("" if none).
	kernel string
	hints  []string
}

// skipTest writes the skip sidecar (under ktest) and skips t with the SKIP
// banner. It does not return. The banner of a contention skip carries the
// host snapshot summary, as ktest's own contention banners do (docs/spec.md
// §4), unless the reason already has one (KTEST_UNAVAILABLE from ktest
// does).
func skipTest(t testing.TB, s skipSite) {
	t.Helper()
	t.Skip(recordSkip(t, s))
}

// skipLogged is skipTest for a skip whose place is elsewhere (a guest's
// body, which the reason names): the banner is logged without this
// process's file and line, then the test is skipped.
func skipLogged(t testing.TB, s skipSite) {
	fmt.Fprintln(t.Output(), recordSkip(t, s))
	t.SkipNow()
}

// recordSkip writes the skip sidecar (under ktest) and returns the banner.
func recordSkip(t testing.TB, s skipSite) string {
	t.Helper()
	host := testproto.TakeHostSnapshot()
	reason := s.reason
	if s.category == testproto.Contention && !strings.Contains(reason, "host: ") {
		reason += "; host: " + host.Summary()
	}
	// The sidecar directory and run id are read whatever the protocol
	// version: a record of the skip is worth more than none.
	r, _ := received()
	if r.SidecarDir != "" {
		rec := testproto.SkipRecord{
			RunID:     r.RunID,
			Package:   testPackage(),
			Test:      t.Name(),
			Category:  s.category,
			Reason:    s.reason,
			Errno:     s.errno,
			Host:      host,
			Kernel:    kernelRecord(s.kernel, r),
			RunSource: runSource(),
		}
		if _, err := testproto.WriteSkip(r.SidecarDir, rec); err != nil {
			// The skip itself matters more than its record.
			t.Logf("ktest: warning: %v", err)
		}
	}
	return testproto.Banner(s.category, reason, s.hints...)
}

// kernelRecord describes the image at path for a sidecar, or nil for "".
// The version comes from ktest or the image header (a few KiB read); the
// SHA-256 is left to run.json, which ktest computes once per run.
func kernelRecord(path string, r testproto.Received) *testproto.KernelRecord {
	if path == "" {
		return nil
	}
	k := describe(path, r, "")
	rec := &testproto.KernelRecord{Path: path, Source: "vm.Config", Version: k.Release, CacheKey: k.CacheKey}
	if path == os.Getenv(testproto.EnvTestKernel) {
		rec.Source = testproto.EnvTestKernel
	}
	return rec
}

// testPackage is the import path of the package under test, as go test and
// test2json name it. A test binary's build info path is that path plus
// ".test"; without it (a binary not built by go test), the package of the
// first caller outside this package and the testing runtime is used.
func testPackage() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if p, ok := strings.CutSuffix(bi.Path, ".test"); ok && p != "" {
			return p
		}
	}
	return callerPackage()
}

// thisPackage is this package's import path, as function names carry it.
var thisPackage = packageOfFunc(runtime.FuncForPC(reflect.ValueOf(packageOfFunc).Pointer()).Name())

// callerPackage is the package of the nearest caller that is not in this
// package, package testing or the runtime.
func callerPackage() string {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		pkg := packageOfFunc(f.Function)
		if pkg != "" && pkg != thisPackage && pkg != "testing" && pkg != "runtime" {
			return strings.TrimSuffix(pkg, "_test")
		}
		if !more {
			return ""
		}
	}
}

// packageOfFunc returns the import path part of a fully qualified function
// name such as "example.com/m/pkg.(*T).Method.func1" or
// "example.com/m/pkg_test.TestX" (the external test package's name is kept;
// callers trim "_test"). Dots in a path's last element are escaped as %2e
// in function names, so the first dot after the last slash ends the path.
func packageOfFunc(name string) string {
	slash := strings.LastIndexByte(name, '/')
	dot := strings.IndexByte(name[slash+1:], '.')
	if dot < 0 {
		return ""
	}
	return name[:slash+1+dot]
}
