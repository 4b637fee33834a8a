package preflight

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/kmod"
)

// VMTools are the host programs `ktest --vm` needs (docs/spec.md §14).
type VMTools struct {
	// QEMU is the system emulator's absolute path.
	QEMU string
	// Virtiofsd is virtiofsd's absolute path, "" when none was found (the
	// guests then get the initramfs transport).
	Virtiofsd string
	// VirtiofsdLooked lists where virtiofsd was looked for, for the notice.
	VirtiofsdLooked []string
}

// QEMUName is the system emulator for this host's architecture.
func QEMUName() string {
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i386", "riscv64": "riscv64", "s390x": "s390x", "ppc64le": "ppc64"}[runtime.GOARCH]
	if arch == "" {
		arch = runtime.GOARCH
	}
	return "qemu-system-" + arch
}

// virtiofsdPaths are where distributions install virtiofsd off PATH:
// Debian's QEMU 7.2 ships the C one in /usr/lib/qemu, Fedora's and the
// Rust package's live in /usr/libexec.
var virtiofsdPaths = []string{"/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd", "/usr/lib/virtiofsd"}

// FindVMTools finds QEMU on pathEnv (a PATH value) and virtiofsd on it or
// in virtiofsdPaths under hostRoot ("" = /, a test seam). A missing QEMU
// is an error with a hint; a missing virtiofsd is not.
func FindVMTools(pathEnv, hostRoot string) (VMTools, error) {
	var t VMTools
	qemu, err := lookPathIn(QEMUName(), pathEnv)
	if err != nil {
		return t, hint.Wrap(fmt.Errorf("--vm needs QEMU: no %s on PATH", QEMUName()),
			"install it (Debian: apt-get install qemu-system-x86; scripts/setup.sh does), or put it on PATH")
	}
	t.QEMU = qemu
	t.VirtiofsdLooked = append(t.VirtiofsdLooked, "virtiofsd on PATH")
	if p, err := lookPathIn("virtiofsd", pathEnv); err == nil {
		t.Virtiofsd = p
		return t, nil
	}
	if hostRoot == "" {
		hostRoot = "/"
	}
	for _, p := range virtiofsdPaths {
		full := filepath.Join(hostRoot, p)
		t.VirtiofsdLooked = append(t.VirtiofsdLooked, full)
		if isExecutable(full) {
			t.Virtiofsd = full
			return t, nil
		}
	}
	return t, nil
}

// lookPathIn is exec.LookPath over the PATH value pathEnv: absolute
// entries only (a relative one would depend on go test's directory).
func lookPathIn(name, pathEnv string) (string, error) {
	for _, dir := range filepath.SplitList(pathEnv) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", fs.ErrNotExist
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// VMKernel says how a kernel can reach the host's files in a guest.
type VMKernel struct {
	// Config is the kernel configuration read, "" when none was found
	// (then both paths are assumed to work: the boot says otherwise).
	Config string
	// Virtiofs is set when the kernel can mount virtio-fs: built in, or
	// a module the guest can load. Why says which, or why not.
	Virtiofs    bool
	VirtiofsWhy string
	// Initramfs is set when the kernel can unpack an initramfs.
	Initramfs    bool
	InitramfsWhy string
}

// CheckVMKernel reads k's configuration (the cache entry's ktest/config,
// or one beside the image laid out as an entry, else /boot/config-RELEASE
// under hostRoot) and its modules (ktest/modules,
// else /lib/modules/RELEASE) to see whether its guests can use virtio-fs
// or the initramfs transport.
func CheckVMKernel(k *Kernel, hostRoot string) VMKernel {
	if hostRoot == "" {
		hostRoot = "/"
	}
	var configPath, modulesDir string
	entryDir := filepath.Dir(k.Path)
	if k.Entry != nil {
		entryDir = k.Entry.Dir
	}
	if fi, err := os.Stat(filepath.Join(entryDir, "ktest", "config")); err == nil && fi.Mode().IsRegular() || k.Entry != nil {
		// A cache entry, or an image laid out as one (a copy of an entry
		// outside the cache root): what the engine boots with.
		configPath = filepath.Join(entryDir, "ktest", "config")
		modulesDir = filepath.Join(entryDir, "ktest", "modules")
	} else if rel := k.Image.Release; rel != "" {
		configPath = filepath.Join(hostRoot, "boot", "config-"+rel)
		modulesDir = filepath.Join(hostRoot, "lib", "modules", rel)
	}
	v := VMKernel{Virtiofs: true, Initramfs: true, VirtiofsWhy: "kernel configuration unknown", InitramfsWhy: "kernel configuration unknown"}
	if configPath == "" {
		return v
	}
	data, err := readSmallFile(configPath, 16<<20)
	if err != nil {
		return v
	}
	v.Config = configPath
	cfg := ParseKconfig(data)
	switch cfg["CONFIG_VIRTIO_FS"] {
	case "y":
		v.VirtiofsWhy = "CONFIG_VIRTIO_FS=y"
	case "m":
		if mod := findModule(modulesDir, "virtiofs"); mod != "" {
			v.VirtiofsWhy = "CONFIG_VIRTIO_FS=m, module " + mod
		} else {
			v.Virtiofs = false
			v.VirtiofsWhy = "CONFIG_VIRTIO_FS=m, but no virtiofs module in " + modulesDir
		}
	default:
		v.Virtiofs = false
		v.VirtiofsWhy = "CONFIG_VIRTIO_FS is not set"
	}
	if cfg["CONFIG_BLK_DEV_INITRD"] == "y" {
		v.InitramfsWhy = "CONFIG_BLK_DEV_INITRD=y"
	} else {
		v.Initramfs = false
		v.InitramfsWhy = "CONFIG_BLK_DEV_INITRD is not set"
	}
	return v
}

// Err is the hard error for a kernel whose guests can reach the host's
// files neither way; nil otherwise.
func (v VMKernel) Err(kernelPath string) error {
	if v.Virtiofs || v.Initramfs {
		return nil
	}
	return hint.Wrap(fmt.Errorf("--vm cannot use kernel %s: no virtio-fs (%s) and no initramfs (%s), read from %s", kernelPath, v.VirtiofsWhy, v.InitramfsWhy, v.Config),
		"use a kernel built with CONFIG_VIRTIO_FS and CONFIG_BLK_DEV_INITRD (every Debian cloud kernel is), e.g. ktest kernel fetch 6.12")
}

// ParseKconfig reads a kernel .config: CONFIG_NAME=value lines; comments
// ("# CONFIG_X is not set") and other lines are ignored. Values keep their
// quotes.
func ParseKconfig(data []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "CONFIG_") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out
}

// findModule returns the path of module name in dir's modules.dep
// (relative, as depmod writes it) when that file is present, else "".
func findModule(dir, name string) string {
	data, err := readSmallFile(filepath.Join(dir, "modules.dep"), 64<<20)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		path, _, ok := strings.Cut(line, ":")
		if !ok || kmod.NameFromPath(path) != kmod.Normalize(name) {
			continue
		}
		full := path
		if !filepath.IsAbs(full) {
			full = filepath.Join(dir, path)
		}
		if fi, err := os.Stat(full); err == nil && fi.Mode().IsRegular() {
			return path
		}
	}
	return ""
}

// readSmallFile reads a regular file of at most limit bytes, never
// blocking on a FIFO put in its place.
func readSmallFile(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if fi.Size() > limit {
		return nil, errors.New(path + ": too large")
	}
	return os.ReadFile(path)
}
