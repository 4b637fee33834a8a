package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fakeGoMain is a stand-in for the go command, selected with KTEST_GO=fakego.
// Environment variables choose how it misbehaves:
//
//	FAKEGO_ARGS       file to write the received arguments to, one per line
//	FAKEGO_STREAM     file copied to stdout (a canned test2json stream)
//	FAKEGO_STDOUT     a line written to stdout after the stream
//	FAKEGO_STDERR     a line written to stderr
//	FAKEGO_PIDFILE    file to write ktest's pid (our parent) to
//	FAKEGO_GRANDCHILD file to write the pid of a sleeping grandchild to
//	FAKEGO_READY      file created once everything above is done
//	FAKEGO_WAIT       "signal": wait for SIGINT/SIGTERM and exit 100+signum;
//	                  "ignore": ignore SIGINT/SIGTERM and sleep
//	FAKEGO_ENV        file to write the environment to, one KEY=VALUE per line
//	FAKEGO_TRYLOCK    lockfile to probe: FAKEGO_ENV's file gets a line
//	                  TRYLOCK=held when another process holds a flock on it
//	FAKEGO_EXIT       exit status (default 0)
func fakeGoMain() {
	if len(os.Args) > 1 && os.Args[1] == "sleep-grandchild" {
		time.Sleep(5 * time.Minute)
		return
	}
	if p := os.Getenv("FAKEGO_ARGS"); p != "" {
		var b []byte
		for _, a := range os.Args[1:] {
			b = append(b, a+"\n"...)
		}
		must(os.WriteFile(p, b, 0o644))
	}
	if p := os.Getenv("FAKEGO_ENV"); p != "" {
		lines := os.Environ()
		if lf := os.Getenv("FAKEGO_TRYLOCK"); lf != "" {
			lines = append(lines, "TRYLOCK="+probeLock(lf))
		}
		must(os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	}
	var sigs chan os.Signal
	switch os.Getenv("FAKEGO_WAIT") {
	case "signal":
		sigs = make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	case "ignore":
		signal.Ignore(syscall.SIGINT, syscall.SIGTERM)
	}
	if p := os.Getenv("FAKEGO_STREAM"); p != "" {
		f, err := os.Open(p)
		must(err)
		_, err = io.Copy(os.Stdout, f)
		must(err)
		f.Close()
	}
	if s := os.Getenv("FAKEGO_STDOUT"); s != "" {
		fmt.Fprintln(os.Stdout, s)
	}
	if s := os.Getenv("FAKEGO_STDERR"); s != "" {
		fmt.Fprintln(os.Stderr, s)
	}
	if p := os.Getenv("FAKEGO_PIDFILE"); p != "" {
		must(os.WriteFile(p, []byte(strconv.Itoa(os.Getppid())), 0o644))
	}
	if p := os.Getenv("FAKEGO_GRANDCHILD"); p != "" {
		self, err := os.Executable()
		must(err)
		gc := exec.Command(self, "sleep-grandchild")
		gc.Stdout, gc.Stderr = os.Stdout, os.Stderr // holds the pipes, as a leaked test process would
		must(gc.Start())
		must(os.WriteFile(p, []byte(strconv.Itoa(gc.Process.Pid)), 0o644))
	}
	if p := os.Getenv("FAKEGO_READY"); p != "" {
		must(os.WriteFile(p, nil, 0o644))
	}
	switch os.Getenv("FAKEGO_WAIT") {
	case "signal":
		sig := <-sigs
		os.Exit(100 + int(sig.(syscall.Signal)))
	case "ignore":
		time.Sleep(5 * time.Minute)
	}
	code, _ := strconv.Atoi(os.Getenv("FAKEGO_EXIT"))
	os.Exit(code)
}

// probeLock reports "held" when some process holds a flock on path (an
// exclusive non-blocking attempt fails), else "free".
func probeLock(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "missing"
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return "held"
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return "free"
}

// holdLockMain is `holdlock sh|ex LOCKFILE READYFILE [ARG...]`: it takes a
// flock on LOCKFILE (creating it), creates READYFILE, and holds the lock
// until it is killed. It is the "other process" of contention tests; the
// ARGs, ignored, put text into its command line.
func holdLockMain() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: holdlock sh|ex LOCKFILE READYFILE [ARG...]")
		os.Exit(2)
	}
	how := unix.LOCK_SH
	if os.Args[1] == "ex" {
		how = unix.LOCK_EX
	}
	must(os.MkdirAll(filepath.Dir(os.Args[2]), 0o755))
	f, err := os.OpenFile(os.Args[2], os.O_RDWR|os.O_CREATE, 0o666)
	must(err)
	must(unix.Flock(int(f.Fd()), how))
	must(os.WriteFile(os.Args[3], nil, 0o644))
	time.Sleep(10 * time.Minute)
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakego:", err)
		os.Exit(99)
	}
}

// expectExitMain runs `expect-exit N prog args...`: it runs prog, passing its
// output through, and succeeds only when prog exits with status N. testscript
// itself only knows success and failure.
func expectExitMain() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: expect-exit N prog [args...]")
		os.Exit(2)
	}
	want, err := strconv.Atoi(os.Args[1])
	must(err)
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "expect-exit:", err)
		os.Exit(1)
	}
	got := cmd.ProcessState.ExitCode()
	if got != want {
		fmt.Fprintf(os.Stderr, "expect-exit: %s exited %d, want %d\n", os.Args[2], got, want)
		os.Exit(1)
	}
}
