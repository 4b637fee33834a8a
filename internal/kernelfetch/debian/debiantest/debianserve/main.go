// Command debianserve serves a debiantest archive on loopback for the
// cmd/ktest fetch scripts, in a process of its own so that the scripts'
// test binary links no networking. It is controlled through files in
// -state: it writes "url" (the mirror URL) once listening, reads "mode"
// (debiantest.Mode*; missing = ok) on every request, and rewrites "debs"
// (the number of .deb requests so far) before answering each one. It runs
// until killed.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ktest-dev/ktest/internal/kernelfetch/debian/debiantest"
	"github.com/ktest-dev/ktest/internal/kernelfetch/debian/debiantest/httpserve"
)

func main() {
	root := flag.String("root", "", "the archive's root directory")
	state := flag.String("state", "", "the control directory")
	flag.Parse()
	if *root == "" || *state == "" {
		fmt.Fprintln(os.Stderr, "usage: debianserve -root DIR -state DIR")
		os.Exit(2)
	}
	write := func(name, content string) {
		tmp := filepath.Join(*state, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err == nil {
			os.Rename(tmp, filepath.Join(*state, name))
		}
	}
	srv := httpserve.NewServer(&debiantest.Archive{Root: *root})
	srv.ModeFunc = func() string {
		b, err := os.ReadFile(filepath.Join(*state, "mode"))
		if m := strings.TrimSpace(string(b)); err == nil && m != "" {
			return m
		}
		return debiantest.ModeOK
	}
	srv.OnDeb = func(n int64) { write("debs", strconv.FormatInt(n, 10)) }
	srv.Start()
	write("url", srv.URL)
	select {}
}
