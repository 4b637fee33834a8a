// Package testmainfail runs no tests and then fails in TestMain: plain go
// test shows "testing: warning: no tests to run" and PASS before the FAIL.
package testmainfail

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	flag.Parse()
	flag.Set("test.run", "^$")
	m.Run()
	fmt.Println("TestMain: failing after m.Run")
	os.Exit(1)
}

func TestNeverRuns(t *testing.T) {}
