//go:build ktest_contention

package contention

import (
	"path/filepath"
	"testing"

	"github.com/ktest-dev/ktest/kerneltest"
)

// TestSkipsWhenResourceBusy always skips: it holds the resource (a lockfile
// of its own, so that real runs of TestExclusiveResource are not
// disturbed) and then asks for it again, as a second test run would. Two
// opens of one file are two open file descriptions, and flock locks
// belong to those, so the second request contends with the first.
func TestSkipsWhenResourceBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "exclusive.lock")
	holder, err := acquireExclusive(path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder()

	release, err := acquireExclusive(path)
	kerneltest.SkipOnContention(t, err) // skips here
	defer release()
	t.Error("not reached: the second acquireExclusive got the lock the first one holds")
}
