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

	"github.com/ktest-dev/ktest/internal/reaper"
)

// fakeGoMain is a stand-in for the go command, selected with KTEST_GO=fakego.
// Environment variables choose how it misbehaves:
//
//	FAKEGO_ARGS       file to write the received arguments to, one per line
//	FAKEGO_STREAM     file copied to stdout (a canned test2json stream)
//	FAKEGO_STDOUT     a line written to stdout after the stream
//	FAKEGO_STDERR     a line written to stderr
//	FAKEGO_PIDFILE    file to write ktest's pid to (our parent, or its parent
//	                  when that is ktest's process supervisor)
//	FAKEGO_PARENTPID  file to write our parent's pid to
//	FAKEGO_GOPID      file to write our own pid to
//	FAKEGO_GRANDCHILD file to write the pid of a sleeping grandchild to
//	FAKEGO_ESCAPEE    file to write the pid of a sleeping grandchild to that
//	                  left our process group (setsid) and holds our stdout
//	FAKEGO_AWAIT      file to wait for (up to 30s) before exiting
//	FAKEGO_READY      file created once everything above is done
//	FAKEGO_WAIT       "signal": wait for SIGINT/SIGTERM and exit 100+signum;
//	                  "ignore": ignore SIGINT/SIGTERM and sleep
//	FAKEGO_ENV        file to write the environment to, one KEY=VALUE per line
//	FAKEGO_TRYLOCK    lockfile to probe: FAKEGO_ENV's file gets a line
//	                  TRYLOCK=held when another process holds a flock on it
//	FAKEGO_EXIT       exit status (default 0)
//	FAKEGO_CALLS      file to append one line per run to, for runs over
//	                  several kernels: kernel=<KTSTR_TEST_KERNEL or none>
//	                  unavailable=<KTEST_UNAVAILABLE's category or none>
//	                  locks=<held|free|missing for each FAKEGO_TRYLOCKS>
//	FAKEGO_TRYLOCKS   comma-separated lockfiles probed for FAKEGO_CALLS
//	FAKEGO_RUN        a command line (split at spaces, found on PATH) run
//	                  to its end before the stream, e.g. another process's
//	                  `ktest kernel rm KEY` during a pass
//	FAKEGO_BYKERNEL   directory of per-kernel behaviour, by the name of the
//	                  directory holding KTSTR_TEST_KERNEL (the cache key),
//	                  or "none" without one: KEY.json is the stream (instead
//	                  of FAKEGO_STREAM), KEY.exit the exit status, and
//	                  KEY.wait a FAKEGO_WAIT value, each when present, and
//	                  KEY.env lines of NAME=VALUE ($VARS expanded) to set
func fakeGoMain() {
	if len(os.Args) > 1 && os.Args[1] == "sleep-grandchild" {
		time.Sleep(5 * time.Minute)
		return
	}
	if dir := os.Getenv("FAKEGO_BYKERNEL"); dir != "" {
		key := "none"
		if k := os.Getenv("KTSTR_TEST_KERNEL"); k != "" {
			key = filepath.Base(filepath.Dir(k))
		}
		for suffix, env := range map[string]string{".json": "FAKEGO_STREAM", ".exit": "FAKEGO_EXIT", ".wait": "FAKEGO_WAIT"} {
			path := filepath.Join(dir, key+suffix)
			if _, err := os.Stat(path); err != nil {
				continue
			}
			value := path
			if suffix != ".json" {
				data, err := os.ReadFile(path)
				must(err)
				value = strings.TrimSpace(string(data))
			}
			must(os.Setenv(env, value))
		}
		if data, err := os.ReadFile(filepath.Join(dir, key+".env")); err == nil {
			for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				if name, value, ok := strings.Cut(line, "="); ok {
					must(os.Setenv(name, os.ExpandEnv(value)))
				}
			}
		}
	}
	if p := os.Getenv("FAKEGO_CALLS"); p != "" {
		kernel, unavailable := os.Getenv("KTSTR_TEST_KERNEL"), os.Getenv("KTEST_UNAVAILABLE")
		if kernel == "" {
			kernel = "none"
		}
		if unavailable == "" {
			unavailable = "none"
		} else {
			unavailable, _, _ = strings.Cut(unavailable, ":")
		}
		var locks []string
		if lfs := os.Getenv("FAKEGO_TRYLOCKS"); lfs != "" {
			for _, lf := range strings.Split(lfs, ",") {
				locks = append(locks, probeLock(lf))
			}
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		must(err)
		_, err = fmt.Fprintf(f, "kernel=%s unavailable=%s locks=%s\n", kernel, unavailable, strings.Join(locks, ","))
		must(err)
		must(f.Close())
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
	if line := os.Getenv("FAKEGO_RUN"); line != "" {
		argv := strings.Fields(line)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		must(cmd.Run())
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
		must(os.WriteFile(p, []byte(strconv.Itoa(ktestPid())), 0o644))
	}
	if p := os.Getenv("FAKEGO_PARENTPID"); p != "" {
		must(os.WriteFile(p, []byte(strconv.Itoa(os.Getppid())), 0o644))
	}
	if p := os.Getenv("FAKEGO_GOPID"); p != "" {
		must(os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())), 0o644))
	}
	if p := os.Getenv("FAKEGO_GRANDCHILD"); p != "" {
		self, err := os.Executable()
		must(err)
		gc := exec.Command(self, "sleep-grandchild")
		gc.Stdout, gc.Stderr = os.Stdout, os.Stderr // holds the pipes, as a leaked test process would
		must(gc.Start())
		must(os.WriteFile(p, []byte(strconv.Itoa(gc.Process.Pid)), 0o644))
	}
	if p := os.Getenv("FAKEGO_ESCAPEE"); p != "" {
		self, err := os.Executable()
		must(err)
		gc := exec.Command(self, "sleep-grandchild")
		gc.Stdout, gc.Stderr = os.Stdout, os.Stderr
		gc.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // out of go test's process group
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
	if p := os.Getenv("FAKEGO_AWAIT"); p != "" {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(p); err == nil {
				break
			}
		}
	}
	code, _ := strconv.Atoi(os.Getenv("FAKEGO_EXIT"))
	os.Exit(code)
}

// ktestPid returns the pid of the ktest that runs us: our parent, or our
// grandparent when the parent is ktest's process supervisor (a re-executed
// ktest marked in its environment).
func ktestPid() int {
	ppid := os.Getppid()
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", ppid))
	must(err)
	for _, kv := range strings.Split(string(env), "\x00") {
		if strings.HasPrefix(kv, supervisorEnvPrefix) {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", ppid))
			must(err)
			// pid (comm) state ppid ...
			fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
			pid, err := strconv.Atoi(fields[1])
			must(err)
			return pid
		}
	}
	return ppid
}

// holdFDMain is `holdfd PIDFILE FD READYFILE`: once PIDFILE names a process,
// it opens that process's descriptor FD through /proc (a pipe's write end
// opens as the same pipe), creates READYFILE and sleeps until killed. It is
// a process outside ktest's tree that keeps go test's output open.
func holdFDMain() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: holdfd PIDFILE FD READYFILE")
		os.Exit(2)
	}
	var pid []byte
	for deadline := time.Now().Add(30 * time.Second); len(pid) == 0; time.Sleep(10 * time.Millisecond) {
		pid, _ = os.ReadFile(os.Args[1])
		if time.Now().After(deadline) {
			must(fmt.Errorf("no pid in %s after 30s", os.Args[1]))
		}
	}
	f, err := os.OpenFile(fmt.Sprintf("/proc/%s/fd/%s", strings.TrimSpace(string(pid)), os.Args[2]), os.O_WRONLY, 0)
	must(err)
	defer f.Close()
	must(os.WriteFile(os.Args[3], nil, 0o644))
	time.Sleep(10 * time.Minute)
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
// itself only knows success and failure. With EXPECT_EXIT_PIDFILE set, prog's
// pid is written there once it runs.
func expectExitMain() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: expect-exit N prog [args...]")
		os.Exit(2)
	}
	want, err := strconv.Atoi(os.Args[1])
	must(err)
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Start()
	if err == nil {
		if p := os.Getenv("EXPECT_EXIT_PIDFILE"); p != "" {
			// For scripts that signal prog before it has started go.
			must(os.WriteFile(p+".tmp", []byte(strconv.Itoa(cmd.Process.Pid)), 0o644))
			must(os.Rename(p+".tmp", p))
		}
		err = cmd.Wait()
	}
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

// withNofileMain is `withnofile N prog args...`: it lowers RLIMIT_NOFILE,
// soft and hard, to N and execs prog (found on PATH) in its place.
func withNofileMain() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: withnofile N prog [args...]")
		os.Exit(2)
	}
	n, err := strconv.ParseUint(os.Args[1], 10, 64)
	must(err)
	path, err := exec.LookPath(os.Args[2])
	must(err)
	must(unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: n, Max: n}))
	must(syscall.Exec(path, os.Args[2:], os.Environ()))
}

// supervisorEnvPrefix marks ktest's process supervisor in its environment.
const supervisorEnvPrefix = reaper.EnvVar + "="
