package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestHelpGolden pins ktest --help, including the exit-code table of docs/spec.md §2.
// Run with -update after an intended change.
func TestHelpGolden(t *testing.T) {
	isolateUserDirs(t)
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, &stdout, &stderr); err != nil {
		t.Fatalf("ktest --help: %v\n%s", err, stderr.Bytes())
	}
	const golden = "testdata/help.golden"
	if *update {
		if err := os.WriteFile(golden, stdout.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestHelpGolden -update to create it)", err)
	}
	if got := stdout.String(); got != string(want) {
		t.Errorf("ktest --help differs from %s (rerun with -update if intended)\n--- got\n%s\n--- want\n%s", golden, got, want)
	}
	for _, row := range []string{"  0 ", "  3 ", "  4 ", "  128+N ", "SIGINT 130, SIGTERM 143"} {
		if !strings.Contains(stdout.String(), row) {
			t.Errorf("help lacks exit-code row %q", row)
		}
	}
}

// TestEveryHelpHasExitCodes checks that each command's --help carries
// examples and the exit-code table (docs/spec.md §1).
func TestEveryHelpHasExitCodes(t *testing.T) {
	isolateUserDirs(t)
	for _, args := range helpInvocations() {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, &stdout, &stderr); err != nil {
			t.Errorf("ktest %s: %v", strings.Join(args, " "), err)
			continue
		}
		if !strings.Contains(stdout.String(), "Exit codes:") || !strings.Contains(stdout.String(), "128+N") {
			t.Errorf("ktest %s lacks the exit-code table:\n%s", strings.Join(args, " "), stdout.String())
		}
		if !strings.Contains(stdout.String(), "Examples:") {
			t.Errorf("ktest %s lacks examples:\n%s", strings.Join(args, " "), stdout.String())
		}
	}
}

func helpInvocations() [][]string {
	return [][]string{
		{"--help"}, {"-h"}, {"help"},
		{"version", "--help"},
		{"doctor", "--help"},
		{"stats", "--help"},
		{"locks", "--help"},
		{"kernel", "--help"},
		{"kernel", "list", "--help"},
		{"kernel", "add", "--help"},
		{"kernel", "rm", "--help"},
		{"kernel", "clean", "--help"},
		{"kernel", "path", "--help"},
	}
}
