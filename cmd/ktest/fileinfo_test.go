package main

import (
	"os"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"
)

// fileinfo PATH file|symlink|fifo|chardev [MODE] checks what PATH is
// (without following a symlink) and, for a file, its permission bits in
// octal: outputs must go through symlinks and never replace a FIFO or a
// device, and a replaced report keeps its mode.
func cmdFileInfo(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: fileinfo PATH file|symlink|fifo|chardev [MODE]")
	}
	st, err := os.Lstat(ts.MkAbs(args[0]))
	ts.Check(err)
	got := "other"
	switch m := st.Mode(); {
	case m.IsRegular():
		got = "file"
	case m&os.ModeSymlink != 0:
		got = "symlink"
	case m&os.ModeNamedPipe != 0:
		got = "fifo"
	case m&os.ModeCharDevice != 0:
		got = "chardev"
	}
	if got != args[1] {
		ts.Fatalf("%s is a %s (%v), want a %s", args[0], got, st.Mode(), args[1])
	}
	if len(args) == 3 {
		want, err := strconv.ParseUint(args[2], 8, 32)
		ts.Check(err)
		if uint64(st.Mode().Perm()) != want {
			ts.Fatalf("%s has mode %#o, want %#o", args[0], st.Mode().Perm(), want)
		}
	}
}
