package vmm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ktest-dev/ktest/internal/modload"
	"github.com/ktest-dev/ktest/internal/testproto"
	"github.com/ktest-dev/ktest/internal/vmproto"
)

// Defaults for zero Spec fields.
const (
	DefaultCPUs     = 2
	DefaultMemoryMB = 1024
)

// prepared is a checked Spec with everything a boot needs found or built.
type prepared struct {
	spec      Spec
	qemu      string
	virtiofsd string
	rustFS    bool
	machine   machine
	req       vmproto.Run
	// payload is what the initramfs transport packs; nil with virtio-fs.
	payload *payload

	consoleConn *os.File // QEMU's console connection, during boot
}

func prepare(ctx context.Context, s Spec) (*prepared, error) {
	if s.Kernel == "" {
		return nil, &SetupError{What: "run in vm", Err: errors.New("no kernel"), Hint: "set Spec.Kernel to a bzImage"}
	}
	if len(s.Argv) == 0 {
		return nil, &SetupError{What: "run in vm", Err: errors.New("no program")}
	}
	if t := s.Topology; t != nil {
		if err := t.Validate(s.MemoryMB); err != nil {
			return nil, &SetupError{What: "run in vm", Err: err}
		}
		if s.CPUs != 0 && s.CPUs != t.CPUs() {
			return nil, &SetupError{What: "run in vm", Err: fmt.Errorf("Spec.CPUs is %d, its topology has %d", s.CPUs, t.CPUs())}
		}
		s.CPUs = t.CPUs()
		if m := t.MemoryMB(); m != 0 {
			s.MemoryMB = m
		}
	}
	if s.CPUs == 0 {
		s.CPUs = DefaultCPUs
	}
	if s.MemoryMB == 0 {
		s.MemoryMB = DefaultMemoryMB
	}
	if s.CPUs < 1 || s.CPUs > 255 {
		return nil, &SetupError{What: "run in vm", Err: fmt.Errorf("%d CPUs", s.CPUs), Hint: "want 1..255"}
	}
	if s.MemoryMB < 128 {
		return nil, &SetupError{What: "run in vm", Err: fmt.Errorf("%d MiB of memory", s.MemoryMB), Hint: "want at least 128"}
	}
	if s.Accel == "" {
		s.Accel = os.Getenv(testproto.EnvAccel)
	}
	switch s.Accel = strings.ToLower(strings.TrimSpace(s.Accel)); s.Accel {
	case "":
		s.Accel = "tcg"
	case "kvm", "tcg":
	default:
		return nil, &SetupError{What: "run in vm", Err: fmt.Errorf("accelerator %q", s.Accel), Hint: `want "kvm" or "tcg"`}
	}
	p := &prepared{spec: s}
	var err error
	if p.qemu, err = findQEMU(s.QEMU); err != nil {
		return nil, err
	}
	switch s.Transport {
	case "", vmproto.TransportVirtiofs:
		p.virtiofsd, err = findVirtiofsd(s.Virtiofsd)
		if err != nil && s.Transport == "" && s.Virtiofsd == "" {
			// None found: the initramfs transport, below. One the
			// caller named must be there.
			p.virtiofsd, err = "", nil
		}
		if err != nil {
			return nil, err
		}
	case vmproto.TransportInitramfs:
	default:
		return nil, &SetupError{What: "run in vm", Err: fmt.Errorf("transport %q", s.Transport), Hint: fmt.Sprintf("want %q, %q or \"\" (virtio-fs when virtiofsd and the kernel have it)", vmproto.TransportVirtiofs, vmproto.TransportInitramfs)}
	}
	if s.Init == "" {
		if s.Init, err = os.Executable(); err != nil {
			return nil, &SetupError{What: "find the init binary", Err: err}
		}
	}
	if s.CacheDir == "" {
		home, err := userCacheHome(os.Getenv)
		if err != nil {
			return nil, &SetupError{What: "find the vm cache directory", Err: err, Hint: "set HOME or XDG_CACHE_HOME, or Spec.CacheDir"}
		}
		s.CacheDir = filepath.Join(home, "ktest", "vm")
	}
	k, err := resolveKernel(s.Kernel, s.CacheDir, s.ExtractVmlinux)
	if err != nil {
		return nil, err
	}
	if s.Transport == "" {
		s.Transport = vmproto.TransportVirtiofs
		if p.virtiofsd == "" || checkVirtiofs(k) != nil {
			s.Transport = vmproto.TransportInitramfs
		}
	}
	if s.Transport == vmproto.TransportVirtiofs {
		if err := checkVirtiofs(k); err != nil {
			return nil, err
		}
		p.rustFS = virtiofsdIsRust(ctx, p.virtiofsd)
	}
	m := machine{kernel: k, cpus: s.CPUs, memMB: s.MemoryMB, accel: s.Accel, topology: s.Topology,
		noVirtiofs: s.Transport != vmproto.TransportVirtiofs}
	if m.initrd, err = baseInitramfs(s.CacheDir, s.Init, k, m.q35()); err != nil {
		return nil, err
	}
	p.machine = m
	p.spec = s
	if p.req, err = request(ctx, s, k); err != nil {
		return nil, err
	}
	if s.Transport == vmproto.TransportInitramfs {
		p.req.Transport = vmproto.TransportInitramfs
		if p.payload, err = collectPayload(p.req, k, len(s.Setup) > 0, s.Pack); err != nil {
			return nil, &SetupError{What: "use the initramfs transport", Err: err}
		}
		if err := p.payload.checkSize(s.MemoryMB); err != nil {
			return nil, &SetupError{What: "use the initramfs transport", Err: err,
				Hint: "install virtiofsd (scripts/setup.sh does), which shares the host's files instead, or give the guest more memory"}
		}
	}
	return p, nil
}

// checkVirtiofs refuses a kernel that cannot mount virtio-fs: its config
// says neither =y nor =m with the module in its tree.
func checkVirtiofs(k kernelFiles) error {
	if k.config == "" {
		return nil // nothing to check against; the boot says
	}
	data, err := os.ReadFile(k.config)
	if err != nil {
		return nil
	}
	cfg := string(data)
	switch {
	case strings.Contains(cfg, "\nCONFIG_VIRTIO_FS=y"):
		return nil
	case strings.Contains(cfg, "\nCONFIG_VIRTIO_FS=m") && k.modules != "":
		if idx, err := modload.ReadIndex(k.modules); err == nil {
			if _, err := idx.LoadOrder("virtiofs"); err == nil {
				return nil
			}
		}
	}
	return &SetupError{What: "use kernel " + k.image, Err: errors.New("it cannot mount virtio-fs (CONFIG_VIRTIO_FS is neither built in nor a module in the cache entry's ktest/modules)"), Hint: "use a kernel with CONFIG_VIRTIO_FS=y, or fetch it again with ktest kernel fetch so its modules are kept"}
}

// request is the run request for the guest.
func request(ctx context.Context, s Spec, k kernelFiles) (vmproto.Run, error) {
	argv := slices.Clone(s.Argv)
	if !strings.Contains(argv[0], "/") {
		lp, err := exec.LookPath(argv[0])
		if err != nil {
			return vmproto.Run{}, &SetupError{What: "find the program", Err: err}
		}
		argv[0] = lp
	}
	dir := s.Dir
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return vmproto.Run{}, &SetupError{What: "find the working directory", Err: err}
		}
	}
	dir, _ = filepath.Abs(dir)
	if !filepath.IsAbs(argv[0]) {
		argv[0] = filepath.Join(dir, argv[0])
	}
	req := vmproto.Run{
		Argv: argv, Env: s.Env, Dir: dir,
		Modules: s.Modules, Setup: s.Setup,
		Release: k.release, ModuleDir: k.modules, Config: k.config,
	}
	if req.Env == nil {
		req.Env = []string{}
	}
	binds := map[string]bool{}
	for _, w := range s.Writable {
		r, err := filepath.EvalSymlinks(w)
		if err != nil {
			return vmproto.Run{}, &SetupError{What: "use writable directory " + w, Err: err}
		}
		binds[r] = true
	}
	// What the guest's own tmpfs would hide: the program and its
	// directory when they live under /tmp or /run (go test's $WORK), and
	// the kernel's module tree (a kernel cache under a temporary HOME),
	// which the guest's /lib/modules/REL links into.
	for _, d := range []string{filepath.Dir(argv[0]), dir, k.modules} {
		if d == "" {
			continue
		}
		r, err := filepath.EvalSymlinks(d)
		if err != nil || !hiddenInGuest(r) || coveredBy(r, binds) {
			continue
		}
		if _, ok := binds[r]; !ok {
			binds[r] = false
		}
	}
	for path, w := range binds {
		req.Binds = append(req.Binds, vmproto.Bind{Path: path, Writable: w})
	}
	slices.SortFunc(req.Binds, func(a, b vmproto.Bind) int { return strings.Compare(a.Path, b.Path) })
	if k.modules != "" {
		req.ModprobeDir = modprobeTree(ctx, s.CacheDir, k)
		req.ModulesParent = resolveHostPath("/lib/modules")
	}
	if k.config != "" {
		req.BootDir = resolveHostPath("/boot")
	}
	return req, nil
}

// hiddenInGuest reports whether a host path lies under a directory the
// guest mounts a filesystem of its own on.
func hiddenInGuest(p string) bool {
	for _, d := range []string{"/tmp", "/run", "/dev", "/proc", "/sys"} {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// coveredBy reports whether p lies in (or is) one of binds' writable paths.
func coveredBy(p string, binds map[string]bool) bool {
	for b, w := range binds {
		if w && (p == b || strings.HasPrefix(p, b+"/")) {
			return true
		}
	}
	return false
}

// resolveHostPath resolves the symlinks of the existing part of p (/lib
// is usr/lib on merged-/usr hosts) and keeps the rest.
func resolveHostPath(p string) string {
	rest := ""
	for cur := p; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// userCacheHome is $XDG_CACHE_HOME when absolute, else $HOME/.cache, as
// package cache finds it for the kernel cache (which vmm does not link:
// kerneltest links vmm, and must not link the cache).
func userCacheHome(getenv func(string) string) (string, error) {
	if x := getenv("XDG_CACHE_HOME"); x != "" && filepath.IsAbs(x) {
		return x, nil
	}
	home := getenv("HOME")
	if home == "" || !filepath.IsAbs(home) || strings.Trim(home, "/") == "" {
		return "", fmt.Errorf("HOME is %q: not an absolute path below the root, and XDG_CACHE_HOME is not an absolute path", home)
	}
	return filepath.Join(home, ".cache"), nil
}
