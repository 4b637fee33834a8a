package runner

import (
	"fmt"
	"io"
	"strings"

	"gotest.tools/gotestsum/testjson"
)

// FormatNames lists the gotestsum format names --format accepts, in the order
// ktest's help shows them. Aliases gotestsum also accepts are valid too.
var FormatNames = []string{
	"standard-quiet", "standard-verbose", "standard-json",
	"pkgname", "pkgname-and-test-fails", "testname", "testdox",
	"dots", "dots-v2", "github-actions", "none",
}

// ValidFormat reports whether gotestsum knows the format name.
func ValidFormat(name string) bool {
	return testjson.NewEventFormatter(io.Discard, name, testjson.FormatOptions{}) != nil
}

// newFormatter returns gotestsum's formatter for a --format name. The
// default format ("") is not gotestsum's but goConsole.
func newFormatter(out io.Writer, name string) (testjson.EventFormatter, error) {
	f := testjson.NewEventFormatter(out, name, testjson.FormatOptions{HideEmptyPackages: false})
	if f == nil {
		return nil, fmt.Errorf("unknown format %q; want one of %s", name, strings.Join(FormatNames, ", "))
	}
	return f, nil
}

// printsSummary reports whether ktest follows the format with gotestsum's
// summary (PrintSummary: the skipped and failed tests with their output,
// which is where a crash's panic and goroutine dump show in formats that
// print no test output, then errors and the DONE line), as gotestsum does.
// standard-json stays a stream of events, and none prints nothing.
func printsSummary(name string) bool {
	switch name {
	case "", "none", "standard-json":
		return false
	}
	return true
}
