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

	action, output := testResult(stdout.Bytes(), "TestSkipsWhenResourceBusy")
	if action != "skip" {
		t.Fatalf("child TestSkipsWhenResourceBusy: result %q, want skip; output:\n%s", action, output)
	}
	if !strings.Contains(output, "ktest: SKIP: contention: lockfile ") || !strings.Contains(output, "is held by another process") {
		t.Errorf("skip message has no contention banner about the lock:\n%s", output)
	}

	files, err := filepath.Glob(filepath.Join(sidecars, "skips", "*.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("want one skip sidecar in %s, found %v (%v)", sidecars, files, err)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	// The fields of a skip sidecar this test checks (ktest.skip/v1).
	var rec struct {
		Schema   string `json:"schema"`
		RunID    string `json:"run_id"`
		Package  string `json:"package"`
		Test     string `json:"test"`
		Category string `json:"category"`
		Reason   string `json:"reason"`
		Errno    string `json:"errno"`
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatalf("parse %s: %v", files[0], err)
	}
	if rec.Schema != "ktest.skip/v1" || rec.Category != "contention" ||
		rec.Test != "TestSkipsWhenResourceBusy" || rec.Errno != "EWOULDBLOCK" || rec.RunID != "example-run" ||
		!strings.HasSuffix(rec.Package, "/contention") || !strings.Contains(rec.Reason, "is held by another process") {
		t.Errorf("skip sidecar does not describe the skip:\n%s", data)
	}
}

// testResult returns the final action of test name in go test -json output
// ("pass", "fail", "skip", or "" if it never finished) and what it
// printed. Lines that are not test2json events (build errors) are skipped.
func testResult(jsonOut []byte, name string) (action, output string) {
	var out strings.Builder
	for line := range bytes.Lines(jsonOut) {
		var ev struct{ Action, Test, Output string }
		if json.Unmarshal(line, &ev) != nil || ev.Test != name {
			continue
		}
		switch ev.Action {
		case "output":
			out.WriteString(ev.Output)
		case "pass", "fail", "skip":
			action = ev.Action
		}
	}
	return action, out.String()
}
