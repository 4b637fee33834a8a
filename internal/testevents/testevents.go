// Package testevents reads one test's verdict and output from a
// `go test -json` stream, for tests that run go test as a child process.
package testevents

import (
	"bytes"
	"fmt"
	"strings"

	"gotest.tools/gotestsum/testjson"
)

// Result returns the final action of the test named name ("pass", "fail",
// "skip", or "" if it never finished) and its output. Lines that are not
// test2json events, such as build errors, are ignored.
func Result(jsonOut []byte, name string) (action, output string, err error) {
	exec, err := testjson.ScanTestOutput(testjson.ScanConfig{
		Stdout:                   bytes.NewReader(jsonOut),
		IgnoreNonJSONOutputLines: true,
	})
	if err != nil {
		return "", "", fmt.Errorf("read go test -json output: %w", err)
	}
	for _, pkgName := range exec.Packages() {
		pkg := exec.Package(pkgName)
		for _, group := range []struct {
			action string
			cases  []testjson.TestCase
		}{{"pass", pkg.Passed}, {"fail", pkg.Failed}, {"skip", pkg.Skipped}} {
			for _, tc := range group.cases {
				if tc.Test.Name() == name {
					return group.action, strings.Join(pkg.OutputLines(tc), ""), nil
				}
			}
		}
	}
	return "", "", nil
}
