package debian

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
)

// errStop ends walkDeb early without an error.
var errStop = errors.New("stop")

// walkDeb streams the data archive of the .deb at path through
// `dpkg-deb --fsys-tarfile` and calls fn for each regular file with its
// path (without the leading "./") and content. fn returns errStop to end
// the walk early (dpkg-deb is then killed, which is not an error).
func walkDeb(ctx context.Context, dpkgDeb, path string, fn func(name string, e tarEntry, r io.Reader) error) error {
	cmd := exec.CommandContext(ctx, dpkgDeb, "--fsys-tarfile", path)
	// Its own process group (a terminal's ^C reaches ktest, which stops
	// it), and SIGKILL when ktest dies: Pdeathsig follows the thread that
	// started the child, so that thread stays locked until Wait returns.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = aptWaitDelay
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w", path, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run dpkg-deb: %w", err)
	}
	walkErr := walkTar(out, fn)
	stopped := errors.Is(walkErr, errStop)
	if walkErr != nil {
		// Stop dpkg-deb now: it would block on a pipe nobody reads.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	waitErr := cmd.Wait()
	switch {
	case stopped:
		return nil
	case walkErr != nil:
		return fmt.Errorf("read %s: %w", path, walkErr)
	case waitErr != nil:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("dpkg-deb --fsys-tarfile %s: %v: %s", path, waitErr, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func walkTar(r io.Reader, fn func(name string, e tarEntry, r io.Reader) error) error {
	return readTar(r, func(e tarEntry, body io.Reader) error {
		if !e.Regular() {
			return nil
		}
		return fn(strings.TrimPrefix(e.Name, "./"), e, body)
	})
}

// moduleRel returns a data-archive path's place in the module directory
// of release (lib/modules/REL/x or usr/lib/modules/REL/x → x), or "".
func moduleRel(name, release string) string {
	for _, prefix := range []string{"lib/modules/" + release + "/", "usr/lib/modules/" + release + "/"} {
		if rel, ok := strings.CutPrefix(name, prefix); ok && rel != "" {
			return rel
		}
	}
	return ""
}

// isImagePath and isConfigPath recognise the boot image and the kernel
// config in both layouts: /boot/vmlinuz-REL and /boot/config-REL (6.x), or
// /usr/lib/modules/REL/vmlinuz and .../config (7.x).
func isImagePath(name, release string) bool {
	return name == "boot/vmlinuz-"+release || moduleRel(name, release) == "vmlinuz"
}

func isConfigPath(name, release string) bool {
	return name == "boot/config-"+release || moduleRel(name, release) == "config"
}

// notModuleFile lists the files of a module directory that are not part
// of the module tree ktest stores: the image and config are stored on
// their own, and Debian's System.map is a stub pointing at the -dbg
// package.
func notModuleFile(rel string) bool {
	return rel == "vmlinuz" || rel == "config" || rel == "System.map"
}
