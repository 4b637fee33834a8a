// Package exitcode passes its one test, then exits 3 from TestMain: the
// status of a test binary must reach go test unchanged, whatever it is.
package exitcode

import (
	"os"
	"testing"
)

// Code is the status the test binary exits with after a passing run.
const Code = 3

func TestMain(m *testing.M) {
	if code := m.Run(); code != 0 {
		os.Exit(code)
	}
	os.Exit(Code)
}

func TestPassesThenExits(t *testing.T) { t.Logf("the binary exits %d after this", Code) }
