package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// The drop-in standard (issue 10): what plain `go test` prints on stdout,
// ktest prints on stdout, line for line after timings are normalised, over
// the hard cases of testdata/dropin: a test timeout, a panic in a
// goroutine, os.Exit and log.Fatal in tests, benchmarks with logs,
// -benchmem and a custom metric, prints of passing tests in a failing
// package, TestMain output, -shuffle, coverage, a build error with a line
// over 64 KiB, a vet error, a setup error, long output lines, output
// without a trailing newline, subtests, t.Parallel, and a line that looks
// like a failure. Build, vet and setup errors go to stderr as go writes
// them. ktest's own summary line and SKIP banners are on stderr.
//
// The one known difference: go test -json turns invalid UTF-8 into U+FFFD
// (package badutf8), so go's side is compared after the same repair.

// dropinEnv makes both runs see the same, isolated environment: no kernel
// and no KVM state of this host, no network, and this machine's go caches
// (warm, so that the fixture builds in seconds).
func dropinEnv(t *testing.T) (fixture string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the drop-in fixture with the real go, several times")
	}
	fixture, err := filepath.Abs("testdata/dropin")
	if err != nil {
		t.Fatal(err)
	}
	cache, modcache := goEnv(t, "GOCACHE"), goEnv(t, "GOMODCACHE")
	tmp := t.TempDir()
	for k, v := range map[string]string{
		"GOCACHE": cache, "GOMODCACHE": modcache, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local",
		"HOME": filepath.Join(tmp, "home"), "XDG_CACHE_HOME": filepath.Join(tmp, "cache"),
		"KTEST_TEST_HOST_ROOT": filepath.Join(tmp, "host"),
		"KTSTR_TEST_KERNEL":    "", "KTSTR_KERNEL": "", "KTSTR_CACHE_DIR": "", "KTEST_GO": "",
		"KTEST_SIDECAR_DIR": "", "GITHUB_ACTIONS": "",
	} {
		t.Setenv(k, v)
	}
	t.Chdir(fixture)
	return fixture
}

// execWrapper writes an -exec wrapper that announces each test binary, as
// wrappers such as vimto's print something of their own.
func execWrapper(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "wrap.sh")
	script := "#!/bin/sh\necho \"exec wrapper: $(basename \"$1\")\"\nexec \"$@\"\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

type outcome struct {
	stdout, stderr []byte
	exit           int
}

func runPlainGo(t *testing.T, args ...string) outcome {
	t.Helper()
	cmd := exec.Command("go", append([]string{"test"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("go test %s: %v", strings.Join(args, " "), err)
	}
	return outcome{stdout.Bytes(), stderr.Bytes(), cmd.ProcessState.ExitCode()}
}

// runKtest runs ktest in this process with its own flags for the
// comparison: no KVM needed, sidecars in a temp dir.
func runKtest(t *testing.T, sidecars string, args ...string) outcome {
	t.Helper()
	var stdout, stderr bytes.Buffer
	full := append([]string{"--on-no-kvm", "skip", "--sidecar-dir", sidecars}, args...)
	err := run(context.Background(), full, &stdout, &stderr)
	return outcome{stdout.Bytes(), stderr.Bytes(), exitCode(err)}
}

var (
	durations  = regexp.MustCompile(`\d+\.\d+s\b`)
	elapsed    = regexp.MustCompile(`\((\d+m)?\d+(\.\d+)?(ms|s)\)`)
	goroutines = regexp.MustCompile(`goroutine \d+`)
	addresses  = regexp.MustCompile(`0x[0-9a-f]+\??`)
	benchLine  = regexp.MustCompile(`^Benchmark\S*\s+\d+\t`)
	number     = regexp.MustCompile(`\d+(\.\d+)?`)
)

// normalise makes two runs comparable: timings, goroutine numbers, pointer
// values and benchmark measurements differ from run to run; the text does
// not.
func normalise(out []byte) []string {
	var lines []string
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		line = durations.ReplaceAllString(line, "N.NNs")
		line = elapsed.ReplaceAllString(line, "(D)")
		line = goroutines.ReplaceAllString(line, "goroutine N")
		line = addresses.ReplaceAllString(line, "0xX")
		if benchLine.MatchString(line) {
			name, rest, _ := strings.Cut(line, " ")
			line = name + " " + strings.Join(strings.Fields(number.ReplaceAllString(rest, "N")), " ")
		}
		lines = append(lines, line)
	}
	return lines
}

// asTest2JSON repairs invalid UTF-8 byte by byte, as go test -json does.
func asTest2JSON(b []byte) []byte {
	var out []byte
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}

// goStderrLines are the lines of a stderr that go wrote, sorted: builds run
// in parallel, so go's own order varies. ktest's lines are left out.
func goStderrLines(stderr []byte) []string {
	var lines []string
	for _, line := range normalise(stderr) {
		if strings.HasPrefix(line, "ktest: ") || strings.HasPrefix(line, "  hint: ") || line == "" {
			continue
		}
		lines = append(lines, line)
	}
	slices.Sort(lines)
	return lines
}

// diffLines shows the first lines where want and got differ.
func diffLines(want, got []string) string {
	var b strings.Builder
	for i := 0; i < max(len(want), len(got)); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			fmt.Fprintf(&b, "line %d:\n  go test: %.300q\n  ktest:   %.300q\n", i+1, w, g)
			if b.Len() > 3000 {
				break
			}
		}
	}
	return b.String()
}

var summary = regexp.MustCompile(`(?m)^ktest: (\w+)  (\d+) passed, (\d+) failed, (\d+) skipped in `)

// summaryOf returns "VERDICT passed/failed/skipped" from ktest's stderr.
func summaryOf(t *testing.T, stderr []byte) string {
	t.Helper()
	m := summary.FindSubmatch(stderr)
	if m == nil {
		t.Fatalf("no summary line in ktest's stderr:\n%s", stderr)
	}
	return fmt.Sprintf("%s %s/%s/%s", m[1], m[2], m[3], m[4])
}

// jsonCounts counts go test -json's verdicts as gotestsum does: a test
// that started and never reported one failed.
func jsonCounts(t *testing.T, stream []byte) string {
	t.Helper()
	open := map[string]bool{}
	var passed, failed, skipped int
	for _, line := range bytes.Split(stream, []byte("\n")) {
		var ev struct{ Action, Package, Test string }
		if len(line) == 0 || json.Unmarshal(line, &ev) != nil || ev.Test == "" {
			continue
		}
		key := ev.Package + " " + ev.Test
		switch ev.Action {
		case "run":
			open[key] = true
		case "pass":
			passed++
			delete(open, key)
		case "fail":
			failed++
			delete(open, key)
		case "skip":
			skipped++
			delete(open, key)
		}
	}
	return fmt.Sprintf("%d/%d/%d", passed, failed+len(open), skipped)
}

// TestDropInMatchesGoTest is the standard: the fixture through plain go
// test and through ktest, by default (with -cover and an -exec wrapper),
// with -v, with -test.v=true and with -bench.
func TestDropInMatchesGoTest(t *testing.T) {
	dropinEnv(t)
	wrapper := execWrapper(t)
	jsonRun := runPlainGo(t, "-count=1", "-json", "./...")
	goCounts := jsonCounts(t, jsonRun.stdout)

	modes := []struct {
		name   string
		args   []string
		counts string // "" for go's -json counts
	}{
		{"default", []string{"-count=1", "-cover", "-exec", wrapper, "./..."}, ""},
		{"verbose", []string{"-count=1", "-v", "-exec", wrapper, "./..."}, ""},
		{"test.v", []string{"-count=1", "-test.v=true", "./..."}, ""},
		// Benchmarks count as passed tests, one that skips as skipped.
		{"bench", []string{"-count=1", "-bench", ".", "-benchmem", "-benchtime", "10x", "./..."}, "24/11/4"},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			plain := runPlainGo(t, mode.args...)
			kt := runKtest(t, t.TempDir(), mode.args...)
			want, got := normalise(asTest2JSON(plain.stdout)), normalise(kt.stdout)
			if !slices.Equal(want, got) {
				t.Errorf("stdout differs from go test %s:\n%s", strings.Join(mode.args, " "), diffLines(want, got))
			}
			if want, got := goStderrLines(plain.stderr), goStderrLines(kt.stderr); !slices.Equal(want, got) {
				t.Errorf("stderr (go's lines, sorted) differs:\n%s", diffLines(want, got))
			}
			if kt.exit != plain.exit || plain.exit == 0 {
				t.Errorf("ktest exit %d, go test exit %d (the fixture fails)", kt.exit, plain.exit)
			}
			wantCounts := "FAIL " + goCounts
			if mode.counts != "" {
				wantCounts = "FAIL " + mode.counts
			}
			if got := summaryOf(t, kt.stderr); got != wantCounts {
				t.Errorf("ktest counted %s, want %s (go test -json: %s)", got, wantCounts, goCounts)
			}
		})
	}
}

// TestDropInBenchmarksPass: -bench . -run ^$ runs only benchmarks, which
// print as go prints them and pass: exit 0, a PASS verdict in the summary
// and in the run sidecar, and JUnit with one named suite and a passing
// test case per benchmark.
func TestDropInBenchmarksPass(t *testing.T) {
	dropinEnv(t)
	args := []string{"-count=1", "-bench", ".", "-benchmem", "-run", "^$", "-benchtime", "10x", "./bench"}
	plain := runPlainGo(t, args...)
	sidecars := t.TempDir()
	junitFile := filepath.Join(t.TempDir(), "report.xml")
	kt := runKtest(t, sidecars, append([]string{"--junitfile", junitFile}, args...)...)
	if kt.exit != 0 || plain.exit != 0 {
		t.Fatalf("ktest exit %d, go test exit %d, want 0\n%s", kt.exit, plain.exit, kt.stderr)
	}
	if want, got := normalise(plain.stdout), normalise(kt.stdout); !slices.Equal(want, got) {
		t.Errorf("stdout differs:\n%s", diffLines(want, got))
	}
	if got := summaryOf(t, kt.stderr); got != "PASS 4/0/1" {
		t.Errorf("summary %s, want PASS with 4 benchmarks passed and 1 skipped", got)
	}
	runs, _ := filepath.Glob(filepath.Join(sidecars, "*", "run.json"))
	if len(runs) != 1 {
		t.Fatalf("want one run.json under %s, found %v", sidecars, runs)
	}
	var rec struct {
		Verdict  string `json:"verdict"`
		ExitCode int    `json:"exit_code"`
		Packages []struct {
			Name string `json:"name"`
		} `json:"packages"`
	}
	data, err := os.ReadFile(runs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Verdict != "PASS" || rec.ExitCode != 0 || len(rec.Packages) != 1 || rec.Packages[0].Name != "example.com/dropin/bench" {
		t.Errorf("run.json: verdict %q, exit %d, packages %+v; want PASS, 0, the bench package", rec.Verdict, rec.ExitCode, rec.Packages)
	}
	var report junitReport
	data, err = os.ReadFile(junitFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(data, &report); err != nil {
		t.Fatal(err)
	}
	if report.Tests != 5 || report.Failures != 0 || report.Errors != 0 || report.Skipped != 1 || len(report.Suites) != 1 || report.Suites[0].Name != "example.com/dropin/bench" {
		t.Errorf("JUnit: tests=%d failures=%d errors=%d skipped=%d suites=%d %q; want 5 cases (1 skipped) in one suite named after the package",
			report.Tests, report.Failures, report.Errors, report.Skipped, len(report.Suites), report.Suites[0].Name)
	}
}

// TestDropInCrashInEveryFormat: the timeout panic, with "running tests:"
// and the goroutine dump, shows in every gotestsum format, and in JUnit as
// the failure text of the test that was running. The formats replay one
// real go test -json stream through a fake go.
func TestDropInCrashInEveryFormat(t *testing.T) {
	dropinEnv(t)
	hang := runPlainGo(t, "-count=1", "-json", "./hang")
	if hang.exit == 0 || !bytes.Contains(hang.stdout, []byte("panic: test timed out after 1s")) {
		t.Fatalf("go test -json ./hang: exit %d, no timeout panic:\n%s", hang.exit, hang.stdout)
	}
	dir := t.TempDir()
	streamFile := filepath.Join(dir, "hang.json")
	fakeGo := filepath.Join(dir, "go")
	if err := os.WriteFile(streamFile, hang.stdout, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fakeGo, []byte("#!/bin/sh\ncat "+streamFile+"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KTEST_GO", fakeGo)

	formats := []string{"", "standard-quiet", "standard-verbose", "standard-json", "pkgname", "pkgname-and-test-fails",
		"testname", "testdox", "dots", "dots-v2", "github-actions"}
	for _, format := range formats {
		args := []string{"-count=1", "./hang"}
		if format != "" {
			args = append([]string{"--format", format}, args...)
		}
		kt := runKtest(t, t.TempDir(), args...)
		out := string(kt.stdout)
		for _, want := range []string{"panic: test timed out after 1s", "running tests:", "TestHang", "goroutine ", "hang_test.go:"} {
			if format == "standard-json" {
				want = strings.ReplaceAll(want, "\t", `\t`)
			}
			if !strings.Contains(out, want) {
				t.Errorf("--format %q: stdout lacks %q:\n%s", format, want, out)
			}
		}
		if kt.exit != 1 {
			t.Errorf("--format %q: exit %d, want go's 1", format, kt.exit)
		}
	}

	junitFile := filepath.Join(dir, "report.xml")
	runKtest(t, t.TempDir(), "--junitfile", junitFile, "-count=1", "./hang")
	var report struct {
		Suites []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Text string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	data, err := os.ReadFile(junitFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(data, &report); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range report.Suites {
		for _, c := range s.Cases {
			if c.Name != "TestHang" {
				continue
			}
			found = true
			if c.Failure == nil || !strings.Contains(c.Failure.Text, "panic: test timed out after 1s") || !strings.Contains(c.Failure.Text, "goroutine ") {
				t.Errorf("JUnit: TestHang's failure does not hold the timeout panic: %+v", c.Failure)
			}
		}
	}
	if !found {
		t.Errorf("JUnit has no TestHang:\n%s", data)
	}
}
