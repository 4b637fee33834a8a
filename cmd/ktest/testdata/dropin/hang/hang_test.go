// Package hang hangs: its TestMain sets a one-second timeout, so the test
// binary panics with "test timed out" and a goroutine dump.
package hang

import (
	"flag"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	flag.Parse()
	flag.Set("test.timeout", "1s")
	os.Exit(m.Run())
}

func TestQuick(t *testing.T) { t.Log("quick test done") }

func TestHang(t *testing.T) {
	t.Log("about to hang")
	time.Sleep(time.Hour)
}
