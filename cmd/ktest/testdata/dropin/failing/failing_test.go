// Package failing fails: plain go test then shows everything its test
// binary printed, passing tests' prints included, and the logs of the
// failing tests after their --- FAIL headers.
package failing

import (
	"fmt"
	"testing"
)

func TestPassPrints(t *testing.T) {
	fmt.Println("a print from a passing test in a failing package")
	t.Log("a log of a passing test: shown only with -v")
}

func TestFails(t *testing.T) {
	fmt.Println("printed before the first log")
	t.Log("first log")
	fmt.Println("printed between the logs")
	t.Error("the failure\nover two lines")
	fmt.Println("printed after the failure")
}

func TestNested(t *testing.T) {
	t.Log("parent log before")
	t.Run("sub", func(t *testing.T) {
		t.Log("sub log")
		fmt.Println("sub print")
		t.Run("deeper", func(t *testing.T) { t.Error("deep failure") })
		t.Run("fine", func(t *testing.T) { t.Log("fine log") })
	})
	t.Run("skipped", func(t *testing.T) { t.Skip("sub skip") })
	t.Log("parent log after")
	fmt.Print("a partial line without newline")
}

// TestLooksLikeFailure passes, though it prints what looks like a result
// line: neither the counts nor JUnit may take it for a failure.
func TestLooksLikeFailure(t *testing.T) {
	fmt.Println("--- FAIL: TestLooksLikeFailure (0.00s)")
	fmt.Println("=== RUN   TestNotATest")
}

// TestNoNewline passes and ends its output without a newline.
func TestNoNewline(t *testing.T) {
	fmt.Print("no newline at the end of a passing test")
}

func TestFailsNoNewline(t *testing.T) {
	fmt.Print("no newline at the end of a failing test")
	t.Fail()
}

func TestSkips(t *testing.T) {
	t.Skip("a skip in a failing package")
}
