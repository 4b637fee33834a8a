package guest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/reexec"
	"github.com/ktest-dev/ktest/vm/internal/protocol"
)

// childModeEnv selects a guest function when this test binary is re-run as
// a guest program (see TestMain).
const childModeEnv = "KTEST_GUEST_TEST_CHILD"

func TestMain(m *testing.M) {
	os.Exit(reexec.Main(m, map[string]func() int{"guest": guestChild}))
}

// guestChild is a guest program run as a plain process, in the mode
// childModeEnv names.
func guestChild() int {
	mode := os.Getenv(childModeEnv)
	return Main(func(env *Env) error {
		fmt.Fprintf(env.Stdout, "child %s args=%q\n", mode, env.Args)
		switch mode {
		case "ok":
			return nil
		case "exit7":
			return WithExitCode(errors.New("seven"), 7)
		case "ctx":
			<-env.Context().Done() // the guard's deadline cancels it
			return fmt.Errorf("stopped: %w", env.Context().Err())
		}
		return fmt.Errorf("unknown child mode %q", mode)
	})
}

func TestMainAsProcess(t *testing.T) {
	cases := []struct {
		mode      string
		timeoutMS int64
		exit      int
		errText   string
	}{
		{"ok", 0, 0, ""},
		{"exit7", 0, 7, "seven"},
		{"ctx", 2000, 1, "stopped: context deadline exceeded"}, // context ends 250 ms before the guard
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			cfgPath := filepath.Join(t.TempDir(), "guest.json")
			data, _ := json.Marshal(protocol.Config{Nonce: "n0nce", Args: []string{"a", "b c"}, TimeoutMS: c.timeoutMS})
			if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := reexec.Command(t.Context(), "guest", childModeEnv+"="+c.mode, protocol.ConfigEnv+"="+cfgPath)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			exit := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				exit = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("%s\nchild %s args=[\"a\" \"b c\"]\n\n%s\n", protocol.BeginLine("n0nce"), c.mode,
				protocol.ResultLine("n0nce", protocol.Verdict{Exit: c.exit, Error: c.errText}))
			if exit != c.exit || out.String() != want {
				t.Errorf("exit %d, output:\n%s\nwant exit %d, output:\n%s", exit, out.String(), c.exit, want)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(protocol.ConfigEnv, bad)
	if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "parse guest config") {
		t.Errorf("loadConfig(bad json) = %v", err)
	}
	// Outside a VM a missing config just means "no host": defaults.
	t.Setenv(protocol.ConfigEnv, filepath.Join(t.TempDir(), "missing.json"))
	if cfg, err := loadConfig(); err != nil || cfg.Nonce != "" || cfg.Args != nil {
		t.Errorf("loadConfig(missing) = %+v, %v; want zero config", cfg, err)
	}
}

func newTestEnv() (*Env, *bytes.Buffer) {
	var buf bytes.Buffer
	return &Env{Stdout: &buf, Stderr: &buf}, &buf
}

func TestRunGuardedVerdicts(t *testing.T) {
	env, out := newTestEnv()
	v := runGuarded(func(*Env) error { panic(errors.New("kaboom")) }, env, 0)
	if v.Exit != protocol.ExitPanic || !v.Panic || v.Error != "panic: kaboom" || !strings.Contains(out.String(), "guest_test.go") {
		t.Errorf("panic verdict %+v, output %q", v, out.String())
	}

	env, _ = newTestEnv()
	v = runGuarded(func(*Env) error { runtime.Goexit(); return nil }, env, 0)
	if v.Exit != protocol.ExitFailure || !strings.Contains(v.Error, "Goexit") {
		t.Errorf("Goexit verdict %+v", v)
	}

	env, _ = newTestEnv()
	v = runGuarded(func(*Env) error { return fmt.Errorf("wrapped: %w", WithExitCode(errors.New("x"), 42)) }, env, 0)
	if v.Exit != 42 || v.Error != "wrapped: x" {
		t.Errorf("exit-code verdict %+v, want 42 through wrapping", v)
	}

	env, out = newTestEnv()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	v = runGuarded(func(*Env) error { <-release; return nil }, env, 50*time.Millisecond)
	if v.Exit != protocol.ExitTimeout || !v.TimedOut || !strings.Contains(out.String(), "goroutine stacks") {
		t.Errorf("timeout verdict %+v, output %q", v, out.String())
	}
	if env.Deadline.IsZero() {
		t.Error("Env.Deadline not set although a guard was given")
	}
}

func TestGuardFor(t *testing.T) {
	cases := []struct{ timeout, uptime, want time.Duration }{
		{0, 0, 0},
		{20 * time.Second, 2 * time.Second, 16 * time.Second}, // margin 10% = 2 s
		{60 * time.Second, 2 * time.Second, 53 * time.Second}, // margin capped at 5 s
		{10 * time.Minute, 0, 10*time.Minute - 5*time.Second},
		{2 * time.Second, 0, 1500 * time.Millisecond}, // margin at least 0.5 s
		{1 * time.Second, 900 * time.Millisecond, 100 * time.Millisecond},
	}
	for _, c := range cases {
		if got := guardFor(c.timeout, c.uptime); got != c.want {
			t.Errorf("guardFor(%v, %v) = %v, want %v", c.timeout, c.uptime, got, c.want)
		}
	}
}
