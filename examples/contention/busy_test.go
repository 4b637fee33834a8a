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
// TryLockFile calls open the file twice, and flock locks belong to open
// file descriptions, so the second contends with the first.
func TestSkipsWhenResourceBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "exclusive.lock")
	holder, err := kerneltest.TryLockFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Unlock()

	second, err := kerneltest.TryLockFile(path)
	kerneltest.SkipOnContention(t, err) // skips here
	defer second.Unlock()
	t.Error("not reached: the second TryLockFile got the lock the first one holds")
}
