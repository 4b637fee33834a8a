package runner

import (
	"bytes"
	"strings"
	"testing"

	"gotest.tools/gotestsum/testjson"
)

// TestGoQuietFormatFailureReport: a failing test's log is shown as plain go
// test shows it, including lines that merely start with "---", while the
// results of passing and skipped subtests are not.
func TestGoQuietFormatFailureReport(t *testing.T) {
	stream := strings.Join([]string{
		`{"Action":"start","Package":"p"}`,
		`{"Action":"run","Package":"p","Test":"TestBoot"}`,
		`{"Action":"output","Package":"p","Test":"TestBoot","Output":"=== RUN   TestBoot\n"}`,
		`{"Action":"output","Package":"p","Test":"TestBoot","Output":"    boot_test.go:9: guest failed\n"}`,
		`{"Action":"output","Package":"p","Test":"TestBoot","Output":"        --- guest output ---\n"}`,
		`{"Action":"output","Package":"p","Test":"TestBoot","Output":"        hello from the guest\n"}`,
		`{"Action":"run","Package":"p","Test":"TestBoot/ok"}`,
		`{"Action":"output","Package":"p","Test":"TestBoot/ok","Output":"    --- PASS: TestBoot/ok (0.00s)\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestBoot/ok"}`,
		`{"Action":"output","Package":"p","Test":"TestBoot","Output":"--- FAIL: TestBoot (0.00s)\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestBoot"}`,
		`{"Action":"output","Package":"p","Output":"FAIL\n"}`,
		`{"Action":"fail","Package":"p"}`,
	}, "\n")
	var out bytes.Buffer
	f, err := newFormatter(&out, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testjson.ScanTestOutput(testjson.ScanConfig{Stdout: strings.NewReader(stream), Handler: formatOnly{f}}); err != nil {
		t.Fatal(err)
	}
	want := "--- FAIL: TestBoot (0.00s)\n    boot_test.go:9: guest failed\n        --- guest output ---\n        hello from the guest\nFAIL\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

type formatOnly struct{ f testjson.EventFormatter }

func (h formatOnly) Event(e testjson.TestEvent, x *testjson.Execution) error { return h.f.Format(e, x) }
func (h formatOnly) Err(string) error                                        { return nil }

// TestGoVerboseFormatOrdersPackages: events of two packages arrive
// interleaved, as go test -json writes them; the output is one package after
// the other, in start order, as go test -v prints it.
func TestGoVerboseFormatOrdersPackages(t *testing.T) {
	stream := strings.Join([]string{
		`{"Action":"start","Package":"a"}`,
		`{"Action":"start","Package":"b"}`,
		`{"Action":"output","Package":"b","Test":"TestB","Output":"b1\n"}`,
		`{"Action":"output","Package":"a","Test":"TestA","Output":"a1\n"}`,
		`{"Action":"output","Package":"b","Output":"ok b\n"}`,
		`{"Action":"pass","Package":"b"}`,
		`{"Action":"start","Package":"c"}`,
		`{"Action":"output","Package":"c","Output":"c1\n"}`,
		`{"Action":"output","Package":"a","Output":"ok a\n"}`,
		`{"Action":"pass","Package":"a"}`,
		`{"Action":"output","Package":"c","Output":"c2\n"}`,
	}, "\n")
	var out bytes.Buffer
	f, err := newFormatter(&out, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testjson.ScanTestOutput(testjson.ScanConfig{Stdout: strings.NewReader(stream), Handler: formatOnly{f}}); err != nil {
		t.Fatal(err)
	}
	// c never ended (go test was stopped): flush writes what it held.
	if err := f.(interface{ flush() error }).flush(); err != nil {
		t.Fatal(err)
	}
	if want := "a1\nok a\nb1\nok b\nc1\nc2\n"; out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}
