package testproto

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A symlink planted as a run's skips/ directory must not receive the
// sidecar: it would be written wherever the link points.
func TestWriteSkipRefusesSymlinkedSkipsDir(t *testing.T) {
	run := t.TempDir()
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(run, "skips")); err != nil {
		t.Fatal(err)
	}
	_, err := WriteSkip(run, SkipRecord{Category: NoKernel, Reason: "r"})
	if err == nil || !strings.Contains(err.Error(), "symbolic link, not a directory") {
		t.Fatalf("WriteSkip through a symlinked skips/: %v", err)
	}
	if des, _ := os.ReadDir(elsewhere); len(des) != 0 {
		t.Errorf("sidecar written through the symlink: %v", des)
	}
	// A missing skips/ is still created.
	run2 := t.TempDir()
	if p, err := WriteSkip(run2, SkipRecord{Category: NoKernel, Reason: "r"}); err != nil || filepath.Dir(p) != filepath.Join(run2, "skips") {
		t.Errorf("WriteSkip with no skips/ yet: %q, %v", p, err)
	}
}

// A sidecar is one compact JSON line with the schema set and the time
// filled in, and reads back as written.
func TestWriteSkipRoundTrip(t *testing.T) {
	run := t.TempDir()
	in := SkipRecord{RunID: "r1", Package: "example.com/p", Test: "TestX", Category: Contention,
		Reason: "busy", Errno: "EBUSY", Host: TakeHostSnapshot(), Kernel: &KernelRecord{Path: "/k/bzImage", CacheKey: "k"}, RunSource: "local"}
	path, err := WriteSkip(run, in)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(data), "\n") != 1 || !strings.HasSuffix(string(data), "}\n") {
		t.Errorf("sidecar is not one JSON line:\n%s", data)
	}
	var out SkipRecord
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if out.Schema != SkipSchema || out.Time.IsZero() || out.Category != Contention || out.Errno != "EBUSY" ||
		out.Kernel == nil || out.Kernel.CacheKey != "k" || out.Host.OnlineCPUs != in.Host.OnlineCPUs {
		t.Errorf("sidecar reads back as %+v", out)
	}
}
