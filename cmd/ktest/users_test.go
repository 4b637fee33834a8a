package main

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// useradd VAR creates a throwaway user with a name unique to this run
// (kt + random hex), stores the name in $VAR, and deletes the user (and its
// group) when the script ends. Root only: guard the script with [root].
func cmdUseradd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: useradd VAR")
	}
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		ts.Fatalf("random name: %v", err)
	}
	name := "kt" + hex.EncodeToString(b)
	out, err := exec.Command("useradd", "--no-create-home", "--home-dir", "/nonexistent",
		"--shell", "/usr/sbin/nologin", "--user-group", name).CombinedOutput()
	if err != nil {
		ts.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	ts.Defer(func() {
		if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
			ts.Logf("userdel %s: %v\n%s", name, err, out)
		}
	})
	ts.Setenv(args[0], name)
}

// installbin DIR copies ktest and fakego into DIR (mode 0755) and makes the
// script's work directory and its parent traversable, so that other users
// (see useradd) can run them: the originals live in a root-only temp dir.
func cmdInstallbin(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: installbin DIR")
	}
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o755))
	for _, name := range []string{"ktest", "fakego"} {
		src, err := os.Open(filepath.Join(ts.Getenv("KTEST_BIN"), name))
		ts.Check(err)
		dst, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
		ts.Check(err)
		_, err = io.Copy(dst, src)
		ts.Check(err)
		src.Close()
		ts.Check(dst.Close())
	}
	work := ts.Getenv("WORK")
	for _, d := range []string{filepath.Dir(work), work, dir} {
		if !strings.HasPrefix(d, filepath.Dir(work)) {
			continue
		}
		st, err := os.Stat(d)
		ts.Check(err)
		ts.Check(os.Chmod(d, st.Mode().Perm()|0o711))
	}
	ts.Check(os.Chmod(dir, 0o755))
}
