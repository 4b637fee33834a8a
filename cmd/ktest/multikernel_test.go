package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jstemmer/go-junit-report/v2/parser/gotest"
	"github.com/rogpeppe/go-internal/testscript"
	"gotest.tools/gotestsum/testjson"
)

// kernelentry CACHE KEY RELEASE makes a cache entry KEY under the cache
// root CACHE holding a synthetic kernel whose header says RELEASE: the
// test image $IMAGES/bzImage-6.9.0 with its version string rewritten, and
// a metadata.json with that version. Several of them are the kernels of a
// run over several kernels; they boot nothing.
func cmdKernelEntry(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: kernelentry CACHE KEY RELEASE")
	}
	root, key, release := ts.MkAbs(args[0]), args[1], args[2]
	img, err := os.ReadFile(filepath.Join(ts.Getenv("IMAGES"), "bzImage-6.9.0"))
	ts.Check(err)
	// The kernel version string: at the u16 at 0x20E, plus 0x200,
	// NUL-terminated (docs/spec.md §5).
	at := int(binary.LittleEndian.Uint16(img[0x20e:])) + 0x200
	end := bytes.IndexByte(img[at:], 0)
	text := release + " (ktest@script) #1"
	if end < 0 || len(text) > end {
		ts.Fatalf("kernelentry: release %q does not fit the test image's version string (%d bytes)", release, end)
	}
	copy(img[at:], text)
	for i := at + len(text); i < at+end; i++ {
		img[i] = 0
	}
	dir := filepath.Join(root, key)
	ts.Check(os.MkdirAll(dir, 0o755))
	ts.Check(os.WriteFile(filepath.Join(dir, "bzImage"), img, 0o644))
	meta := fmt.Sprintf(`{
  "version": %q,
  "source": {"type": "tarball"},
  "arch": "x86_64",
  "image_name": "bzImage",
  "config_hash": null,
  "built_at": "2026-01-01T00:00:00Z",
  "ktstr_kconfig_hash": null,
  "has_vmlinux": false,
  "vmlinux_stripped": false
}`, release)
	ts.Check(os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(meta), 0o644))
}

// junitsuites FILE prints each <testsuite> of the JUnit report FILE as a
// line, `NAME tests=N failures=N errors=N skipped=N kernel=LABEL`, for
// stdout assertions (kernel= only for suites that carry the property).
func cmdJUnitSuites(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: junitsuites FILE")
	}
	var r struct {
		Suites []struct {
			Name       string `xml:"name,attr"`
			Tests      int    `xml:"tests,attr"`
			Failures   int    `xml:"failures,attr"`
			Errors     int    `xml:"errors,attr"`
			Skipped    int    `xml:"skipped,attr"`
			Properties []struct {
				Name  string `xml:"name,attr"`
				Value string `xml:"value,attr"`
			} `xml:"properties>property"`
			Testcases []struct {
				Classname string `xml:"classname,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(ts.ReadFile(args[0])), &r); err != nil {
		ts.Fatalf("%s is not valid JUnit XML: %v", args[0], err)
	}
	for _, s := range r.Suites {
		line := fmt.Sprintf("%s tests=%d failures=%d errors=%d skipped=%d", s.Name, s.Tests, s.Failures, s.Errors, s.Skipped)
		for _, p := range s.Properties {
			if p.Name == "kernel" {
				line += " kernel=" + p.Value
			}
		}
		for _, tc := range s.Testcases {
			if tc.Classname != s.Name {
				ts.Fatalf("suite %q has a test case of class %q", s.Name, tc.Classname)
			}
		}
		fmt.Fprintln(ts.Stdout(), line)
	}
}

// jsonkernels FILE checks that every line of the --jsonfile FILE is a
// test2json event, that gotestsum's testjson and go-junit-report's parser
// read the file as a whole without an error, and prints, per value of the
// KtestKernel field in order of appearance (`-` for events without it),
// `KERNEL events=N pass=N fail=N skip=N`, then
// `gotestsum pass=N fail=N skip=N` and `go-junit-report tests=N`.
func cmdJSONKernels(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: jsonkernels FILE")
	}
	data := []byte(ts.ReadFile(args[0]))
	type tally struct{ events, pass, fail, skip int }
	var order []string
	counts := map[string]*tally{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var ev struct {
			Action, Test, KtestKernel string
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Action == "" {
			ts.Fatalf("%s:%d is not a test2json event: %v: %s", args[0], n, err, sc.Text())
		}
		k := ev.KtestKernel
		if k == "" {
			k = "-"
		}
		t := counts[k]
		if t == nil {
			t = &tally{}
			counts[k] = t
			order = append(order, k)
		}
		t.events++
		if ev.Test != "" {
			switch ev.Action {
			case "pass":
				t.pass++
			case "fail":
				t.fail++
			case "skip":
				t.skip++
			}
		}
	}
	ts.Check(sc.Err())
	for _, k := range order {
		t := counts[k]
		fmt.Fprintf(ts.Stdout(), "%s events=%d pass=%d fail=%d skip=%d\n", k, t.events, t.pass, t.fail, t.skip)
	}
	exec, err := testjson.ScanTestOutput(testjson.ScanConfig{Stdout: bytes.NewReader(data)})
	if err != nil {
		ts.Fatalf("gotestsum cannot read %s: %v", args[0], err)
	}
	var pass, fail, skip int
	for _, name := range exec.Packages() {
		p := exec.Package(name)
		pass, fail, skip = pass+len(p.Passed), fail+len(p.Failed), skip+len(p.Skipped)
	}
	fmt.Fprintf(ts.Stdout(), "gotestsum pass=%d fail=%d skip=%d\n", pass, fail, skip)
	report, err := gotest.NewJSONParser().Parse(bytes.NewReader(data))
	if err != nil {
		ts.Fatalf("go-junit-report cannot read %s: %v", args[0], err)
	}
	tests := 0
	for _, p := range report.Packages {
		tests += len(p.Tests)
	}
	fmt.Fprintf(ts.Stdout(), "go-junit-report tests=%d\n", tests)
}
