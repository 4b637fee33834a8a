package vmm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/vmproto"
)

// roleInitramfsProbe is this test binary as the guest's program under the
// initramfs transport: it reports what it finds, one fact per line, and
// writes into its writable directories.
const roleInitramfsProbe = "initramfs-probe"

// reexecRoleEnv is package reexec's role variable: the guest program gets
// the role through Spec.Env, not reexec.Command.
const reexecRoleEnv = "KTEST_REEXEC_ROLE"

// bigSize spans several file messages (vmproto.FileChunk each).
const bigSize = 2*vmproto.FileChunk + 12345

func bigContent() []byte {
	b := make([]byte, bigSize)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func initramfsProbe() int {
	fact := func(k string, v any) { fmt.Printf("%s=%v\n", k, v) }
	var st unix.Statfs_t
	if err := unix.Statfs(".", &st); err == nil {
		fact("fuse", st.Type == unix.FUSE_SUPER_MAGIC)
	}
	wd, _ := os.Getwd()
	fact("pwd", wd)
	data, err := os.ReadFile("data.txt")
	fact("data", strings.TrimSpace(string(data))+errString(err))
	other, err := os.ReadFile("../other/x.txt")
	fact("module", strings.TrimSpace(string(other))+errString(err))
	_, err = os.Stat("../.git/config")
	fact("git", errors.Is(err, os.ErrNotExist))
	_, err = os.Stat(filepath.Join(os.Getenv("W"), "before.txt"))
	fact("writable-files-packed", err == nil)
	var u unix.Utsname
	unix.Uname(&u)
	rel := unix.ByteSliceToString(u.Release[:])
	_, err = os.Stat("/boot/config-" + rel)
	fact("config", err == nil)
	if out, err := exec.Command("modprobe", "dummy").CombinedOutput(); err != nil {
		fact("modprobe", fmt.Sprintf("%v: %s", err, out))
	} else {
		mods, _ := os.ReadFile("/proc/modules")
		fact("modprobe", bytes.Contains(mods, []byte("dummy ")))
	}
	w := os.Getenv("W")
	must := func(err error) {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(100)
		}
	}
	must(os.WriteFile(filepath.Join(w, "big.bin"), bigContent(), 0o640))
	must(os.MkdirAll(filepath.Join(w, "sub", "deep"), 0o755))
	must(os.WriteFile(filepath.Join(w, "sub", "deep", "empty"), nil, 0o600))
	must(os.WriteFile("data.txt", []byte("changed in the guest\n"), 0o644))
	must(os.WriteFile("golden.txt", []byte("new golden\n"), 0o644))
	fmt.Fprintln(os.Stderr, "probe done")
	return 3
}

func errString(err error) string {
	if err != nil {
		return " (" + err.Error() + ")"
	}
	return ""
}

// Without virtio-fs the program, its Go module and the kernel's modules
// are packed into the initramfs; what the program writes in its writable
// directories comes back to the host when it exits.
func TestInitramfsTransport(t *testing.T) {
	t.Parallel()
	mod := t.TempDir()
	for name, content := range map[string]string{
		"go.mod":       "module example.com/m\n",
		"pkg/data.txt": "from the host",
		"other/x.txt":  "elsewhere in the module",
		".git/config":  "[core]",
	} {
		os.MkdirAll(filepath.Join(mod, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(mod, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	untouched := filepath.Join(mod, "other", "x.txt")
	old := time.Now().Add(-time.Hour)
	os.Chtimes(untouched, old, old)
	w := t.TempDir()
	os.WriteFile(filepath.Join(w, "before.txt"), []byte("on the host only"), 0o644)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := bootSpec(t, exe, "-test.run=^$")
	s.Transport = vmproto.TransportInitramfs
	s.Virtiofsd = "/nonexistent/virtiofsd" // not needed, so not looked for
	s.Dir = filepath.Join(mod, "pkg")
	s.Writable = []string{mod, w}
	s.Env = append(s.Env, "W="+w, reexecRoleEnv+"="+roleInitramfsProbe)
	s.Env = append(s.Env, os.Environ()...) // GORACE and the like, as go test gives them
	r := boot(t, s)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	if r.res.ExitCode != 3 || r.res.Transport != vmproto.TransportInitramfs {
		t.Errorf("exit %d, transport %q; want 3 and initramfs", r.res.ExitCode, r.res.Transport)
	}
	if strings.Contains(strings.Join(r.res.Command, " "), "vhost-user-fs") {
		t.Errorf("the QEMU line has a virtio-fs device: %q", r.res.Command)
	}
	out := r.stdout.String()
	for _, want := range []string{
		"fuse=false", "pwd=" + s.Dir, "data=from the host", "module=elsewhere in the module",
		"git=true", "writable-files-packed=false", "config=true", "modprobe=true",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if got := r.stderr.String(); got != "probe done\n" {
		t.Errorf("stderr = %q, want the probe's line only (no write-back problem)", got)
	}
	big, err := os.ReadFile(filepath.Join(w, "big.bin"))
	if err != nil || !bytes.Equal(big, bigContent()) {
		t.Errorf("big.bin on the host: %d bytes, %v; want the guest's %d bytes", len(big), err, bigSize)
	}
	if st, err := os.Stat(filepath.Join(w, "big.bin")); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("big.bin: %v, %v; want mode 0640", st, err)
	}
	if st, err := os.Stat(filepath.Join(w, "sub", "deep", "empty")); err != nil || st.Size() != 0 {
		t.Errorf("an empty file in a new directory: %v", err)
	}
	for name, want := range map[string]string{"pkg/data.txt": "changed in the guest\n", "pkg/golden.txt": "new golden\n", "other/x.txt": "elsewhere in the module"} {
		if got, err := os.ReadFile(filepath.Join(mod, name)); err != nil || string(got) != want {
			t.Errorf("%s on the host: %q, %v; want %q", name, got, err, want)
		}
	}
	if st, err := os.Stat(untouched); err != nil || !st.ModTime().Equal(old) {
		t.Errorf("an unchanged file was written back: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(w, "before.txt")); string(got) != "on the host only" {
		t.Errorf("a host file the guest did not see was changed: %q", got)
	}
}
