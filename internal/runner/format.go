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

// newFormatter returns the formatter for the run. The default mimics plain
// go test: package lines always, a failing test's output when it fails, and
// everything under -v.
func newFormatter(out io.Writer, name string, verbose bool) (testjson.EventFormatter, error) {
	switch {
	case name == "" && verbose:
		return newGoVerboseFormat(out), nil
	case name == "":
		return &goQuietFormat{out: out, pkg: testjson.NewEventFormatter(out, "standard-quiet", testjson.FormatOptions{})}, nil
	}
	f := testjson.NewEventFormatter(out, name, testjson.FormatOptions{HideEmptyPackages: false})
	if f == nil {
		return nil, fmt.Errorf("unknown format %q; want one of %s", name, strings.Join(FormatNames, ", "))
	}
	return f, nil
}

// goQuietFormat is plain `go test` without -v: gotestsum's standard-quiet
// prints the package lines, and this adds what go prints for a failing test,
// which standard-quiet leaves out: a `--- FAIL` line and the log of the test
// and of each failing subtest, nested by depth.
type goQuietFormat struct {
	out io.Writer
	pkg testjson.EventFormatter
	// running holds the output of each running root test and its subtests
	// until the root test ends.
	running map[rootTest]*testTree
}

type rootTest struct{ pkg, name string }

// testTree is the buffered output of one root test and its subtests.
type testTree struct {
	order  []string            // test names in the order they started
	logs   map[string][]string // log lines per test, framing lines removed
	header map[string]string   // the `--- FAIL: name (d)` line per failed test
}

func (f *goQuietFormat) Format(event testjson.TestEvent, exec *testjson.Execution) error {
	if event.Test == "" {
		return f.pkg.Format(event, exec)
	}
	root, _ := testjson.TestName(event.Test).Split()
	key := rootTest{event.Package, root}
	tree := f.running[key]
	if tree == nil {
		if f.running == nil {
			f.running = map[rootTest]*testTree{}
		}
		tree = &testTree{logs: map[string][]string{}, header: map[string]string{}}
		f.running[key] = tree
	}
	if _, seen := tree.logs[event.Test]; !seen {
		tree.order = append(tree.order, event.Test)
		tree.logs[event.Test] = nil
	}
	switch {
	case event.Action == testjson.ActionOutput:
		line := event.Output
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case isFramingLine(trimmed):
		case strings.HasPrefix(trimmed, "--- FAIL: "):
			tree.header[event.Test] = trimmed
		case strings.HasPrefix(trimmed, "--- PASS: "), strings.HasPrefix(trimmed, "--- SKIP: "):
			// result lines of passing and skipped (sub)tests: plain go
			// test does not print them without -v
		default:
			tree.logs[event.Test] = append(tree.logs[event.Test], line)
		}
	case event.Action.IsTerminal() && event.Test == root:
		delete(f.running, key)
		if event.Action == testjson.ActionFail {
			_, err := io.WriteString(f.out, tree.failureReport())
			return err
		}
	}
	return nil
}

// failureReport renders the failed tests of the tree as plain go test does.
func (t *testTree) failureReport() string {
	var b strings.Builder
	for _, name := range t.order {
		header, failed := t.header[name]
		if !failed {
			continue
		}
		indent := strings.Repeat("    ", strings.Count(name, "/"))
		b.WriteString(indent + header)
		for _, line := range t.logs[name] {
			b.WriteString(indent + line)
		}
	}
	return b.String()
}

// isFramingLine reports the lines go test -json adds that plain go test does
// not print without -v.
func isFramingLine(line string) bool {
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME"} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}
