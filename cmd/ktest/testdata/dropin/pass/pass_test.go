// Package pass passes: plain go test shows only its ok line, go test -v
// everything, including the logs and prints of its tests.
package pass

import (
	"fmt"
	"testing"
)

func TestLogs(t *testing.T) {
	t.Log("a log line go shows only with -v")
	fmt.Println("a print from a passing test")
}

func TestSubtests(t *testing.T) {
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) { t.Logf("subtest %s", name) })
	}
	t.Log("parent log after its subtests")
}

// TestParallel is the only parallel top-level test, and has one parallel
// subtest, so the order of its PAUSE and CONT lines is deterministic.
func TestParallel(t *testing.T) {
	t.Parallel()
	t.Log("parallel test")
	t.Run("serial", func(t *testing.T) { t.Log("serial subtest") })
	t.Run("parallel", func(t *testing.T) {
		t.Parallel()
		t.Log("parallel subtest")
	})
}

func TestSkipped(t *testing.T) {
	t.Skip("skipped in a passing package")
}
