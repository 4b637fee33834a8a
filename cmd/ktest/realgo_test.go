package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestRealGoMatchesPlainGoTest runs the real go over the fixture module
// (passing, failing, skipping and panicking tests, subtests, a package that
// does not compile) both plainly and through ktest, and checks that ktest
// counts the same results, exits with the same status, and writes a JUnit
// report that agrees.
func TestRealGoMatchesPlainGoTest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the fixture module with the real go")
	}
	fixture, err := filepath.Abs("testdata/fixture")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOFLAGS", "-mod=mod")
	t.Setenv("GOPROXY", "off")
	isolateUserDirs(t)

	plain := exec.Command("go", "test", "-v", "-count=1", "./...")
	plain.Dir = fixture
	out, err := plain.CombinedOutput()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("plain go test: %v\n%s", err, out)
	}
	want := countVerbose(out)
	wantExit := plain.ProcessState.ExitCode()

	t.Chdir(fixture)
	junit := filepath.Join(t.TempDir(), "report.xml")
	var stdout, stderr bytes.Buffer
	// The comparison is about go test's results, not this host: without
	// /dev/kvm the run must still happen (--on-no-kvm skip), and sidecars
	// stay out of the source tree.
	args := []string{"--on-no-kvm", "skip", "--sidecar-dir", t.TempDir(), "--junitfile", junit, "-count=1", "./..."}
	runErr := run(context.Background(), args, &stdout, &stderr)
	if got := exitCode(runErr); got != wantExit {
		t.Errorf("ktest exit %d, plain go test exit %d (err %v)", got, wantExit, runErr)
	}
	m := regexp.MustCompile(`(?m)^ktest: FAIL  (\d+) passed, (\d+) failed, (\d+) skipped in `).FindSubmatch(stderr.Bytes())
	if m == nil {
		t.Fatalf("no FAIL summary line in stderr:\n%s", stderr.Bytes())
	}
	got := counts{atoi(m[1]), atoi(m[2]), atoi(m[3])}
	if got != want {
		t.Errorf("ktest counted %+v, plain go test -v shows %+v", got, want)
	}
	if want.passed == 0 || want.failed == 0 || want.skipped == 0 {
		t.Errorf("fixture should pass, fail and skip something; plain go test shows %+v", want)
	}

	var report struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Skipped  int `xml:"skipped,attr"`
	}
	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(data, &report); err != nil {
		t.Fatalf("JUnit report is not valid XML: %v", err)
	}
	// go-junit-report adds one errored test case per package that failed
	// to build.
	if report.Tests-report.Errors != want.passed+want.failed+want.skipped || report.Failures != want.failed || report.Skipped != want.skipped || report.Errors != 1 {
		t.Errorf("JUnit totals tests=%d failures=%d errors=%d skipped=%d; want %+v plus 1 build error",
			report.Tests, report.Failures, report.Errors, report.Skipped, want)
	}
}

type counts struct{ passed, failed, skipped int }

// countVerbose counts the --- PASS/FAIL/SKIP lines of go test -v output,
// subtests included.
func countVerbose(out []byte) counts {
	var c counts
	for _, m := range regexp.MustCompile(`(?m)^\s*--- (PASS|FAIL|SKIP): `).FindAllSubmatch(out, -1) {
		switch string(m[1]) {
		case "PASS":
			c.passed++
		case "FAIL":
			c.failed++
		case "SKIP":
			c.skipped++
		}
	}
	return c
}

func atoi(b []byte) int {
	n, _ := strconv.Atoi(string(b))
	return n
}
