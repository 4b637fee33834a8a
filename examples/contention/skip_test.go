package contention

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/skipreport"
	"github.com/ktest-dev/ktest/internal/testevents"
)

// TestBusyResourceSkips runs TestSkipsWhenResourceBusy in a child go test,
// with a sidecar directory of its own, and checks that it skipped with the
// contention banner and wrote a matching skip sidecar. It needs no kernel.
func TestBusyResourceSkips(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("find the go command to run the child test: %v", err)
	}
	sidecars := t.TempDir()

	cmd := exec.CommandContext(t.Context(), goTool, "test", "-tags", "ktest_contention",
		"-run", "^TestSkipsWhenResourceBusy$", "-count=1", "-json", ".")
	cmd.Env = append(cmd.Environ(), "KTEST_SIDECAR_DIR="+sidecars, "KTEST_RUN_ID=example-run")
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child go test: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}

	action, output := testResult(t, stdout.Bytes(), "TestSkipsWhenResourceBusy")
	if action != "skip" {
		t.Fatalf("child TestSkipsWhenResourceBusy: result %q, want skip; output:\n%s", action, output)
	}
	cat, reason, ok := skipreport.ParseBannerLine(output)
	if !ok || cat != skipreport.Contention || !strings.Contains(reason, "exclusive resource busy") {
		t.Errorf("skip message has no contention banner about the resource (category %q, reason %q):\n%s", cat, reason, output)
	}

	files, err := filepath.Glob(filepath.Join(sidecars, "skips", "*.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("want one skip sidecar in %s, found %v (%v)", sidecars, files, err)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var rec skipreport.SkipRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatalf("parse %s: %v", files[0], err)
	}
	if rec.Schema != skipreport.SkipSchema || rec.Category != skipreport.Contention ||
		rec.Test != "TestSkipsWhenResourceBusy" || rec.Errno != "EWOULDBLOCK" || rec.RunID != "example-run" ||
		rec.Package != "github.com/ktest-dev/ktest/examples/contention" || !strings.Contains(rec.Reason, "exclusive resource busy") {
		t.Errorf("skip sidecar does not describe the skip:\n%s", data)
	}
}

// testResult returns the final action of test name in go test -json output
// ("" if it never finished) and its output.
func testResult(t *testing.T, jsonOut []byte, name string) (action, output string) {
	t.Helper()
	action, output, err := testevents.Result(jsonOut, name)
	if err != nil {
		t.Fatal(err)
	}
	return action, output
}
