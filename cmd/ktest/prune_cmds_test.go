package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// repeat N PROG [ARGS...] runs a program N times, as exec does, and stops
// at the first failure: for scripts that need many real runs.
func cmdRepeat(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: repeat N PROG [ARGS...]")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	for i := range n {
		if err := ts.Exec(args[1], args[2:]...); err != nil {
			ts.Fatalf("run %d of %d: %v", i+1, n, err)
		}
	}
}

// sidecardir ENVFILE exists|gone checks the run directory a run was given:
// the KTEST_SIDECAR_DIR line of the environment fakego wrote to ENVFILE.
func cmdSidecarDir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 || (args[1] != "exists" && args[1] != "gone") {
		ts.Fatalf("usage: sidecardir ENVFILE exists|gone")
	}
	var dir string
	for _, line := range strings.Split(ts.ReadFile(args[0]), "\n") {
		if v, ok := strings.CutPrefix(line, "KTEST_SIDECAR_DIR="); ok {
			dir = v
		}
	}
	if dir == "" {
		ts.Fatalf("%s has no KTEST_SIDECAR_DIR", args[0])
	}
	_, err := os.Stat(dir)
	if exists := err == nil; exists != (args[1] == "exists") {
		ts.Fatalf("run directory %s: exists=%v, want %s", filepath.Base(dir), exists, args[1])
	}
}
