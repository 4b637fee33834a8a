package vm

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktest-dev/ktest/vm/internal/protocol"
)

// TestGuestProtocolAsProcess runs the test guest as an ordinary process
// (not PID 1: guest.Main skips mounts and power-off and returns the exit
// status) and parses its output with the host's console parser. This pins
// the guest/host protocol for every verdict kind without booting a VM.
func TestGuestProtocolAsProcess(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not in PATH")
	}
	bin, err := resolveGuest(context.Background(), testGuestPkg)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		mode      string
		timeoutMS int64
		wantExit  int
		check     func(t *testing.T, v protocol.Verdict, output string)
	}{
		{"info", 0, 0, func(t *testing.T, v protocol.Verdict, output string) {
			if !strings.Contains(output, `"in_vm":false`) || !strings.Contains(output, `"args":["info"]`) {
				t.Errorf("info output %q", output)
			}
		}},
		{"fail", 0, 3, func(t *testing.T, v protocol.Verdict, output string) {
			if v.Error != "deliberate failure" || !strings.Contains(output, "stderr before failing") {
				t.Errorf("verdict %+v output %q", v, output)
			}
		}},
		{"panic", 0, protocol.ExitPanic, func(t *testing.T, v protocol.Verdict, output string) {
			if !v.Panic || v.Error != "panic: deliberate panic" || !strings.Contains(output, "goroutine ") {
				t.Errorf("verdict %+v output %q, want a panic verdict and a stack", v, output)
			}
		}},
		// The guard is derived from the host timeout (minus a margin): a
		// 1.5 s budget makes the hung function time out in about 1 s.
		{"hang", 1500, protocol.ExitTimeout, func(t *testing.T, v protocol.Verdict, output string) {
			if !v.TimedOut || !strings.Contains(output, "goroutine stacks") || !strings.Contains(output, "main.run") {
				t.Errorf("verdict %+v output %q, want a timeout verdict with the hung goroutine's stack", v, output)
			}
		}},
		{"bogus-mode", 0, 1, func(t *testing.T, v protocol.Verdict, output string) {
			if !strings.Contains(v.Error, `unknown mode "bogus-mode"`) {
				t.Errorf("verdict %+v", v)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			cfgPath := filepath.Join(t.TempDir(), "guest.json")
			data, _ := json.Marshal(protocol.Config{Nonce: testNonce, Args: []string{c.mode}, TimeoutMS: c.timeoutMS})
			if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
				t.Fatal(err)
			}
			p := newConsoleParser(testNonce, nil, nil)
			cmd := exec.Command(bin)
			cmd.Env = append(os.Environ(), protocol.ConfigEnv+"="+cfgPath)
			cmd.Stdout, cmd.Stderr = p, p // one pipe: keeps stdout/stderr order
			err := cmd.Run()
			p.Close()
			exit := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				exit = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if p.verdict == nil {
				t.Fatalf("no verdict parsed from:\n%s", p.console.String())
			}
			if p.verdict.Exit != c.wantExit || exit != c.wantExit {
				t.Errorf("verdict exit %d, process exit %d; want %d", p.verdict.Exit, exit, c.wantExit)
			}
			c.check(t, *p.verdict, p.Output())
		})
	}
}
