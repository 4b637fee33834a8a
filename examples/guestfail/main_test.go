package guestfail

import (
	"os"
	"testing"

	"github.com/ktest-dev/ktest/kerneltest"
)

// TestMain removes the guest program vm builds for the tests.
func TestMain(m *testing.M) { os.Exit(kerneltest.Main(m)) }
