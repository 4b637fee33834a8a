package vm

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// buildEnvVars are the environment variables that change what `go build`
// produces; they are part of a build's cache key.
var buildEnvVars = []string{"GOFLAGS", "GOEXPERIMENT", "GOAMD64", "GOWORK", "GOPATH", "GOROOT", "GOTOOLCHAIN", "GOPROXY", "GOMODCACHE"}

// guestBuilds caches guest packages built by this process. Entries live
// until RemoveGuestBuilds; the binaries are in buildDir.
var guestBuilds struct {
	mu       sync.Mutex
	dir      string // created on first build
	byKey    map[string]*guestBuild
	sequence int
}

// guestBuild is one build, possibly still running. done is closed when
// path/err are set. Failed builds are removed from the cache so that the
// next Run tries again.
type guestBuild struct {
	done chan struct{}
	path string
	err  error
}

// RemoveGuestBuilds deletes the guest binaries this process built and
// empties the build cache. Call it from TestMain after m.Run (the
// binaries are otherwise left in the system temp directory). Builds still
// running are not waited for.
func RemoveGuestBuilds() error {
	guestBuilds.mu.Lock()
	dir := guestBuilds.dir
	guestBuilds.dir = ""
	guestBuilds.byKey = nil
	guestBuilds.mu.Unlock()
	if dir == "" {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove guest builds %s: %w", dir, err)
	}
	return nil
}

// resolveGuest returns the path of a static guest executable for spec:
// spec itself if it is a file (after checking it can run as /init), else
// the cached or fresh build of the Go package spec names.
func resolveGuest(ctx context.Context, spec string) (string, error) {
	st, err := os.Stat(spec)
	switch {
	case err == nil && st.Mode().IsRegular():
		abs, err := filepath.Abs(spec)
		if err != nil {
			return "", fmt.Errorf("resolve guest binary %s: %w", spec, err)
		}
		return abs, checkGuestBinary(abs)
	case err == nil && st.IsDir():
		abs, err := filepath.Abs(spec)
		if err != nil {
			return "", fmt.Errorf("resolve guest package %s: %w", spec, err)
		}
		return buildGuest(ctx, abs, ".", abs)
	case err == nil:
		return "", fmt.Errorf("guest %s is a %v: want a static executable or a Go package directory", spec, st.Mode().Type())
	case looksLikePath(spec):
		return "", fmt.Errorf("guest %s: %w", spec, err)
	default:
		// An import path, resolved in the caller's module.
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("build guest package %s: get working directory: %w", spec, err)
		}
		return buildGuest(ctx, wd, spec, spec+"@"+wd)
	}
}

func looksLikePath(s string) bool {
	return filepath.IsAbs(s) || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "~")
}

// buildGuest builds package pkg (relative to dir) once per process and
// environment; concurrent callers for the same key share one build.
func buildGuest(ctx context.Context, dir, pkg, id string) (string, error) {
	key := id
	for _, v := range buildEnvVars {
		key += "\x00" + v + "=" + os.Getenv(v)
	}
	guestBuilds.mu.Lock()
	if guestBuilds.byKey == nil {
		guestBuilds.byKey = map[string]*guestBuild{}
	}
	if b, ok := guestBuilds.byKey[key]; ok {
		guestBuilds.mu.Unlock()
		select {
		case <-b.done:
			return b.path, b.err
		case <-ctx.Done():
			return "", fmt.Errorf("wait for guest build of %s: %w", id, context.Cause(ctx))
		}
	}
	b := &guestBuild{done: make(chan struct{})}
	guestBuilds.byKey[key] = b
	if guestBuilds.dir == "" {
		d, err := os.MkdirTemp("", "ktest-guest-builds-")
		if err != nil {
			delete(guestBuilds.byKey, key)
			guestBuilds.mu.Unlock()
			b.err = fmt.Errorf("create guest build directory: %w", err)
			close(b.done)
			return "", b.err
		}
		guestBuilds.dir = d
	}
	guestBuilds.sequence++
	out := filepath.Join(guestBuilds.dir, fmt.Sprintf("guest-%d", guestBuilds.sequence))
	guestBuilds.mu.Unlock()

	b.path, b.err = goBuild(ctx, dir, pkg, out)
	if b.err != nil {
		b.path = ""
		guestBuilds.mu.Lock()
		if guestBuilds.byKey[key] == b {
			delete(guestBuilds.byKey, key)
		}
		guestBuilds.mu.Unlock()
	}
	close(b.done)
	return b.path, b.err
}

// goBuild runs `go build` for a static linux/amd64 binary. -s -w drop the
// symbol table and DWARF (stack traces still work), which keeps the
// initramfs small; the kernel unpacks it byte by byte under emulation.
func goBuild(ctx context.Context, dir, pkg, out string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build guest package %s: the go command is not in PATH (%w): install Go or set Config.Guest to a prebuilt static binary", pkg, err)
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, "-ldflags=-s -w", pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	var output bytes.Buffer
	cmd.Stdout = &output
	cmd.Stderr = &output
	// go build starts compilers and the linker: cancel the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killProcessGroup(cmd.Process.Pid) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctxErr := context.Cause(ctx); ctx.Err() != nil {
			return "", fmt.Errorf("build guest package %s: %w", pkg, ctxErr)
		}
		return "", fmt.Errorf("build guest package %s in %s (CGO_ENABLED=0 GOOS=linux GOARCH=amd64): %w\n%s", pkg, dir, err, strings.TrimSpace(output.String()))
	}
	return out, checkGuestBinary(out)
}

// checkGuestBinary verifies that path can run as /init of an x86-64
// initramfs with no shared libraries: an x86-64 ELF executable without a
// program interpreter.
func checkGuestBinary(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return fmt.Errorf("guest binary %s is not an ELF executable (%v): give a static Linux program or a Go package", path, err)
		}
		return fmt.Errorf("open guest binary %s: %w", path, err)
	}
	defer f.Close() // read-only
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("guest binary %s is built for %v, but the VM is x86-64: build it with GOARCH=amd64", path, f.Machine)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("guest binary %s is an ELF %v, not an executable", path, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp := make([]byte, min(p.Filesz, 256))
			_, _ = p.ReadAt(interp, 0)
			return fmt.Errorf("guest binary %s is dynamically linked (interpreter %s), but the initramfs has no shared libraries: build it with CGO_ENABLED=0",
				path, strings.TrimRight(string(interp), "\x00"))
		}
	}
	return nil
}
