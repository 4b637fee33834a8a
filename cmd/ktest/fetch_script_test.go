package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

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
	p := scriptParams(t, "testdata/fetch")
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		if err := setup(env); err != nil {
			return err
		}
		env.Values[repoKey{}] = &scriptRepo{archive: archive}
		env.Setenv("KTSTR_CACHE_DIR", filepath.Join(env.WorkDir, "kernels"))
		return nil
	}
	p.Cmds["debianrepo"] = cmdDebianRepo
	p.Cmds["tmpfs"] = cmdTmpfs
	p.Cmds["nopartial"] = cmdNoPartial
	testscript.Run(t, p)
}

type repoKey struct{}

type scriptRepo struct {
	archive *debiantest.Archive
	mu      sync.Mutex
	srv     *debiantest.Server
}

// debianrepo start | stop | mode MODE | debs N
//
// start serves the archive and points KTEST_DEBIAN_MIRROR and
// KTEST_DEBIAN_KEYRING at it; stop takes the mirror down; mode sets a
// failure mode (ok, truncate, tamper-deb, tamper-inrelease); debs N checks
// that exactly N .deb files were requested since start.
func cmdDebianRepo(ts *testscript.TestScript, neg bool, args []string) {
	r := ts.Value(repoKey{}).(*scriptRepo)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(args) == 0 {
		ts.Fatalf("usage: debianrepo start|stop|mode MODE|debs N")
	}
	switch args[0] {
	case "start":
		r.srv = debiantest.Serve(r.archive)
		srv := r.srv
		ts.Defer(srv.Close)
		ts.Setenv("KTEST_DEBIAN_MIRROR", srv.URL)
		ts.Setenv("KTEST_DEBIAN_KEYRING", r.archive.Keyring)
	case "stop":
		r.srv.Close()
	case "mode":
		r.srv.SetMode(args[1])
	case "debs":
		want, err := strconv.ParseInt(args[1], 10, 64)
		ts.Check(err)
		if got := r.srv.DebRequests(); (got == want) == neg {
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
