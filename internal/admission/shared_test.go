package admission

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Admission is shared: two holders fill a two-CPU host, and a third guest
// is refused naming both.
func TestTwoHoldersFillHost(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "adm")
	a, b := startHolder(t, dir, 2), startHolder(t, dir, 2)
	if a.path == b.path {
		t.Fatalf("both holders got %s", a.path)
	}
	o := Options{Dir: dir, Resources: fakeHost(2, 4096), ReserveMB: -1}
	_, err := o.Acquire(t.Context(), small, 0)
	ce := wantContention(t, err, "no CPU left")
	if ce.Guests != 2 {
		t.Errorf("ContentionError counts %d guests, want 2", ce.Guests)
	}
}

// With the host's real resources, a small guest is admitted.
func TestRealHost(t *testing.T) {
	s, err := Options{Dir: t.TempDir(), ReserveMB: -1}.Acquire(t.Context(), Need{CPUs: 1, MemoryMB: 1}, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// Another user shares the slots root made, umask or not: a slot file
// released by one user is reused by the next (fchmod 0666 on create).
// Needs root, to run the second process as nobody.
func TestSharedAcrossUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a process as another user")
	}
	const nobody = 65534
	// The dirs the other user needs must be reachable: a world-readable
	// temp dir for the binary and the admission directory.
	base, err := os.MkdirTemp("", "admission-users-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "admission.test")
	if err := copyFile(os.Args[0], bin, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "adm")

	old := unix.Umask(0o077)
	s, err := oneCPU(dir).Acquire(t.Context(), small, 0)
	unix.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	first := s.Path()
	s.Close()

	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=hold", envChildDir+"="+dir, envChildCPUs+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start a process as nobody: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 4096)
	n, _ := io.ReadAtLeast(stdout, buf, 1)
	line := strings.TrimSpace(string(buf[:n]))
	if line != "held "+first {
		t.Fatalf("nobody's holder said %q, want \"held %s\" (root's slot reused)", line, first)
	}
	// Root now waits for nobody's slot, and gets it when nobody lets go.
	ch := acquireAsync(oneCPU(dir), small, time.Minute)
	stdin.Close()
	r := <-ch
	if r.err != nil {
		t.Fatalf("root's Acquire after nobody released: %v", r.err)
	}
	r.slot.Close()
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, mode)
}
