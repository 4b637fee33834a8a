package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ktest-dev/ktest/internal/kernelfetch/debian/debiantest"
)

// TestFetchScripts runs the `ktest kernel fetch` scripts in testdata/fetch
// against a signed Debian archive of synthetic kernels, built once and
// served on loopback by each script's `debianrepo start`.
func TestFetchScripts(t *testing.T) {
	for _, tool := range []string{"apt-get", "dpkg-deb", "gpg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: the fetch scripts need a Debian-like host", tool)
		}
	}
	archive, err := debiantest.Build(t.TempDir(), append(append([]debiantest.Kernel(nil), debiantest.DefaultKernels...),
		// A kernel too large for the tiny tmpfs of the full-disk script.
		debiantest.Kernel{Suite: "trixie", Release: "6.12.99+deb13-cloud-amd64", Version: "6.12.99-1", ImagePad: 3 << 20}))
	if err != nil {
		t.Fatal(err)
	}
	// The archive is served by debianserve, a process of its own: this
	// test binary is the ktest the scripts run and must link no
	// networking (ktest is a static binary that opens nothing at start).
	serve := filepath.Join(t.TempDir(), "debianserve")
	if out, err := exec.Command("go", "build", "-o", serve, "../../internal/kernelfetch/debian/debiantest/debianserve").CombinedOutput(); err != nil {
		t.Fatalf("build debianserve: %v\n%s", err, out)
	}
	p := scriptParams(t, "testdata/fetch")
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		if err := setup(env); err != nil {
			return err
		}
		env.Values[repoKey{}] = &scriptRepo{archive: archive, serve: serve}
		env.Setenv("KTSTR_CACHE_DIR", filepath.Join(env.WorkDir, "kernels"))
		return nil
	}
	p.Cmds["debianrepo"] = cmdDebianRepo
	p.Cmds["tmpfs"] = cmdTmpfs
	p.Cmds["nopartial"] = cmdNoPartial
	p.Cmds["signalfetch"] = cmdSignalFetch
	p.Cmds["noapt"] = cmdNoApt
	testscript.Run(t, p)
}

type repoKey struct{}

type scriptRepo struct {
	archive *debiantest.Archive
	serve   string // the debianserve binary
	mu      sync.Mutex
	state   string    // the running server's control directory
	cmd     *exec.Cmd // the running server
}

// start runs debianserve on the archive and returns its URL.
func (r *scriptRepo) start(ts *testscript.TestScript) string {
	state, err := os.MkdirTemp(ts.Getenv("WORK"), ".debianserve-")
	ts.Check(err)
	cmd := exec.Command(r.serve, "-root", r.archive.Root, "-state", state)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	ts.Check(cmd.Start())
	ts.Defer(func() { r.kill(cmd) })
	r.state, r.cmd = state, cmd
	deadline := time.Now().Add(30 * time.Second)
	for {
		if url, err := os.ReadFile(filepath.Join(state, "url")); err == nil {
			return string(url)
		}
		if time.Now().After(deadline) {
			ts.Fatalf("debianserve wrote no url within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *scriptRepo) kill(cmd *exec.Cmd) {
	if cmd.ProcessState == nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}
}

// debs is the number of .deb requests the running server answered.
func (r *scriptRepo) debs() int64 {
	b, err := os.ReadFile(filepath.Join(r.state, "debs"))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// debianrepo start | stop | mode MODE | debs N | waitdeb N
//
// start serves the archive and points KTEST_DEBIAN_MIRROR and
// KTEST_DEBIAN_KEYRING at it; stop takes the mirror down; mode sets a
// failure mode (ok, truncate, tamper-deb, tamper-inrelease, hang); debs N
// checks that exactly N .deb files were requested since start; waitdeb N
// waits until N were.
func cmdDebianRepo(ts *testscript.TestScript, neg bool, args []string) {
	r := ts.Value(repoKey{}).(*scriptRepo)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(args) == 0 {
		ts.Fatalf("usage: debianrepo start|stop|mode MODE|debs N")
	}
	switch args[0] {
	case "start":
		ts.Setenv("KTEST_DEBIAN_MIRROR", r.start(ts))
		ts.Setenv("KTEST_DEBIAN_KEYRING", r.archive.Keyring)
	case "stop":
		r.kill(r.cmd)
	case "mode":
		tmp := filepath.Join(r.state, ".mode.tmp")
		ts.Check(os.WriteFile(tmp, []byte(args[1]), 0o644))
		ts.Check(os.Rename(tmp, filepath.Join(r.state, "mode")))
	case "waitdeb":
		want, err := strconv.ParseInt(args[1], 10, 64)
		ts.Check(err)
		deadline := time.Now().Add(30 * time.Second)
		for r.debs() < want {
			if time.Now().After(deadline) {
				ts.Fatalf("no .deb was requested within 30s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	case "debs":
		want, err := strconv.ParseInt(args[1], 10, 64)
		ts.Check(err)
		if got := r.debs(); (got == want) == neg {
			ts.Fatalf(".deb requests: %d, want %d", got, want)
		}
	default:
		ts.Fatalf("debianrepo: unknown command %q", args[0])
	}
}

// tmpfs DIR SIZE mounts a tmpfs of SIZE (e.g. 1m) on DIR until the script
// ends ([root] only).
func cmdTmpfs(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: tmpfs DIR SIZE")
	}
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o755))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+args[1], "tmpfs", dir).CombinedOutput(); err != nil {
		ts.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	ts.Defer(func() { exec.Command("umount", "-l", dir).Run() })
}

// nopartial DIR checks that a cache root holds no entry and no staging or
// removal debris: only bookkeeping (.locks) may be there.
func cmdNoPartial(ts *testscript.TestScript, neg bool, args []string) {
	des, err := os.ReadDir(ts.MkAbs(args[0]))
	if os.IsNotExist(err) {
		return
	}
	ts.Check(err)
	var left []string
	for _, de := range des {
		if de.Name() == ".locks" || de.Name() == "lost+found" {
			continue
		}
		left = append(left, de.Name())
	}
	if (len(left) == 0) == neg {
		ts.Fatalf("cache root holds %s", fmt.Sprint(strings.Join(left, ", ")))
	}
}

// descendants returns the pids of this test process's descendants that run
// in dir (scripts run in parallel, each in its own $WORK) and whose command
// line starts with argv (argv[0] compared by base name).
func descendants(dir string, argv ...string) []int {
	self := os.Getpid()
	parent := func(pid int) int {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) < 2 {
			return 0
		}
		ppid, _ := strconv.Atoi(f[1])
		return ppid
	}
	des, _ := os.ReadDir("/proc")
	var out []int
	for _, de := range des {
		pid, err := strconv.Atoi(de.Name())
		if err != nil {
			continue
		}
		if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil || (cwd != dir && !strings.HasPrefix(cwd, dir+"/")) {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(string(cmd), "\x00")
		if len(args) < len(argv) || filepath.Base(args[0]) != argv[0] || strings.Join(args[1:len(argv)], " ") != strings.Join(argv[1:], " ") {
			continue
		}
		for p := parent(pid); p > 1; p = parent(p) {
			if p == self {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// signalfetch INT|TERM|HUP|KILL sends the signal to the `ktest kernel fetch`
// processes this script started (descendants running in its $WORK).
func cmdSignalFetch(ts *testscript.TestScript, neg bool, args []string) {
	sig := map[string]syscall.Signal{"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP, "KILL": syscall.SIGKILL}[args[0]]
	pids := descendants(ts.Getenv("WORK"), "ktest", "kernel", "fetch")
	if len(pids) == 0 {
		ts.Fatalf("no ktest kernel fetch process to signal")
	}
	for _, pid := range pids {
		ts.Check(syscall.Kill(pid, sig))
	}
}

// noapt checks, for up to 5s, that no apt-get runs with this script's
// private apt configuration (whoever its parent is now).
func cmdNoApt(ts *testscript.TestScript, neg bool, args []string) {
	conf := "APT_CONFIG=" + ts.MkAbs(".cache/ktest/apt/apt.conf")
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []string
		des, _ := os.ReadDir("/proc")
		for _, de := range des {
			if _, err := strconv.Atoi(de.Name()); err != nil {
				continue
			}
			env, _ := os.ReadFile(filepath.Join("/proc", de.Name(), "environ"))
			if strings.Contains(string(env), conf+"\x00") {
				left = append(left, de.Name())
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("apt processes still running with this script's configuration: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
