package vmm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultQEMU is the QEMU system emulator looked up in PATH.
const DefaultQEMU = "qemu-system-x86_64"

// virtiofsdPlaces are where distributions install virtiofsd outside PATH.
var virtiofsdPlaces = []string{"/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd", "/usr/lib/virtiofsd"}

func findQEMU(name string) (string, error) {
	if name == "" {
		name = DefaultQEMU
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", &SetupError{What: "find QEMU", Err: err, Hint: "install qemu-system-x86 (scripts/setup.sh does), or name it with --vm-qemu"}
	}
	return p, nil
}

func findVirtiofsd(name string) (string, error) {
	if name != "" {
		p, err := exec.LookPath(name)
		if err != nil {
			return "", &SetupError{What: "find virtiofsd", Err: err, Hint: "install virtiofsd (scripts/setup.sh does)"}
		}
		return p, nil
	}
	if p, err := exec.LookPath("virtiofsd"); err == nil {
		return p, nil
	}
	for _, p := range virtiofsdPlaces {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &SetupError{What: "find virtiofsd", Err: errors.New("not in PATH nor in " + strings.Join(virtiofsdPlaces, ", ")), Hint: "install virtiofsd (Debian: the virtiofsd package, or qemu-system-common's /usr/lib/qemu/virtiofsd; scripts/setup.sh does)"}
}

var (
	virtiofsdStyleMu sync.Mutex
	virtiofsdStyles  = map[string]bool{}
)

// virtiofsdIsRust reports whether the virtiofsd at p is the Rust one
// (--shared-dir) rather than QEMU's C one (-o source=).
func virtiofsdIsRust(ctx context.Context, p string) bool {
	virtiofsdStyleMu.Lock()
	defer virtiofsdStyleMu.Unlock()
	if v, ok := virtiofsdStyles[p]; ok {
		return v
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, p, "--help").CombinedOutput()
	rust := bytes.Contains(out, []byte("--shared-dir"))
	virtiofsdStyles[p] = rust
	return rust
}

// virtiofsdArgs serves the host's root on socket. The namespace sandbox
// cannot pivot_root into "/" (EBUSY): chroot is the sandbox that works.
func virtiofsdArgs(rust bool, socket string) []string {
	if rust {
		return []string{"--socket-path=" + socket, "--shared-dir=/", "--cache=auto", "--sandbox=chroot", "--log-level=error"}
	}
	return []string{"--socket-path=" + socket, "-o", "source=/", "-o", "cache=auto", "-o", "sandbox=chroot", "-o", "log_level=err"}
}

// child is a helper process in its own process group, killed with it.
type child struct {
	cmd    *exec.Cmd
	stderr *tailBuffer
	done   chan struct{}
	err    error
}

// startChild starts path in its own process group, with PDEATHSIG so that
// it dies with this process, and cancellation killing the whole group.
func startChild(ctx context.Context, path string, args []string) (*child, error) {
	c := &child{stderr: newTailBuffer(64 << 10), done: make(chan struct{})}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = nil
	cmd.Stdout = c.stderr
	cmd.Stderr = c.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	c.cmd = cmd
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// kill ends the child's group and waits until it is reaped.
func (c *child) kill() {
	_ = killGroup(c.cmd.Process.Pid)
	<-c.done
}

// exited reports whether the child has been reaped.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func killGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
