package vminit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/modload"
	"github.com/ktest-dev/ktest/internal/vmproto"
)

// guestMount is one filesystem of the guest's own, mounted in the new root.
type guestMount struct {
	src, dst, fstype string
	flags            uintptr
	data             string
	mkdir            bool // the mount point lies in a guest filesystem
	optional         bool // a kernel without the filesystem goes on
}

const nsd = unix.MS_NOSUID | unix.MS_NODEV

var guestMounts = []guestMount{
	{"proc", "/proc", "proc", nsd | unix.MS_NOEXEC, "", false, false},
	{"sysfs", "/sys", "sysfs", nsd | unix.MS_NOEXEC, "", false, false},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755", false, false},
	{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620", true, true},
	{"tmpfs", "/dev/shm", "tmpfs", nsd, "mode=1777", true, true},
	{"tmpfs", "/tmp", "tmpfs", nsd, "mode=1777", false, false},
	{"tmpfs", "/run", "tmpfs", nsd, "mode=0755", false, false},
	{"cgroup2", "/sys/fs/cgroup", "cgroup2", nsd | unix.MS_NOEXEC, "", false, false},
	{"bpf", "/sys/fs/bpf", "bpf", nsd | unix.MS_NOEXEC, "mode=0700", false, false},
	{"tracefs", "/sys/kernel/tracing", "tracefs", nsd | unix.MS_NOEXEC, "", false, true},
	{"debugfs", "/sys/kernel/debug", "debugfs", nsd | unix.MS_NOEXEC, "", false, true},
}

// prepareRoot builds the program's root under rootDir: the host's root
// (virtio-fs, or what the host packed into the initramfs) read-only, the guest's filesystems, the kernel's modules and config, and
// the host directories of req.Binds.
func prepareRoot(req *vmproto.Run) error {
	for _, d := range []string{hostDir, rootDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if req.Transport == vmproto.TransportInitramfs {
		// The host packed what it sends under hostDir: the same tree,
		// smaller (see vmm's payload).
		debugf("initramfs transport")
	} else {
		if err := unix.Mount(vmproto.FSTag, hostDir, "virtiofs", 0, ""); err != nil {
			return fmt.Errorf("mount the host's root (virtio-fs tag %s): %w", vmproto.FSTag, err)
		}
		debugf("virtio-fs mounted")
	}
	if err := bind(hostDir, rootDir, false); err != nil {
		return err
	}
	for _, m := range guestMounts {
		dst := rootDir + m.dst
		if m.mkdir {
			_ = os.MkdirAll(dst, 0o755)
		}
		err := unix.Mount(m.src, dst, m.fstype, m.flags, m.data)
		if err != nil && !(m.optional && (errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT))) {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.dst, err)
		}
	}
	debugf("guest filesystems mounted")
	if err := kernelFiles(req); err != nil {
		// modprobe and /boot/config are conveniences: say so, go on.
		logf("%v", err)
	}
	for _, b := range req.Binds {
		dst := rootDir + b.Path
		if _, err := os.Stat(dst); err != nil {
			// Under the guest's /tmp or /run: a mount point of its own.
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return fmt.Errorf("create mount point for %s: %w", b.Path, err)
			}
		}
		if err := bind(hostDir+b.Path, dst, b.Writable); err != nil {
			return err
		}
	}
	return nil
}

// bind mounts src at dst, read-only unless writable.
func bind(src, dst string, writable bool) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", src, dst, err)
	}
	if !writable {
		if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make %s read-only: %w", dst, err)
		}
	}
	return nil
}

// kernelFiles shows the kernel's modules as /lib/modules/REL and its
// config as /boot/config-REL, and makes the kernel's own module requests
// load from the module tree.
func kernelFiles(req *vmproto.Run) error {
	var errs []error
	if req.ModuleDir != "" {
		if err := os.WriteFile(moddirFile, []byte(hostDir+req.ModuleDir), 0o600); err == nil {
			if err := os.WriteFile("/proc/sys/kernel/modprobe", []byte(ModprobePath), 0); err != nil {
				errs = append(errs, fmt.Errorf("set the kernel's modprobe: %w", err))
			}
		}
	}
	if req.ModprobeDir != "" && req.ModulesParent != "" && req.Release != "" {
		if err := showAt(req.ModulesParent, req.Release, hostDir+req.ModprobeDir, true); err != nil {
			errs = append(errs, fmt.Errorf("show the kernel's modules at /lib/modules/%s: %w", req.Release, err))
		}
	}
	if req.Config != "" && req.BootDir != "" && req.Release != "" {
		if err := showAt(req.BootDir, "config-"+req.Release, hostDir+req.Config, false); err != nil {
			errs = append(errs, fmt.Errorf("show the kernel's config at /boot/config-%s: %w", req.Release, err))
		}
	}
	return errors.Join(errs...)
}

var overlays int

// showAt mounts a tmpfs at the host directory parent (in the new root),
// creates name in it and binds src there (a directory when isDir).
// parent may be missing from the host: then an overlay over its deepest
// existing ancestor adds it.
func showAt(parent, name, src string, isDir bool) error {
	dst := rootDir + parent
	if st, err := os.Stat(dst); err != nil || !st.IsDir() {
		if err := addMissingDir(parent); err != nil {
			return err
		}
	}
	if err := unix.Mount("tmpfs", dst, "tmpfs", nsd|unix.MS_NOEXEC, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", parent, err)
	}
	target := filepath.Join(dst, name)
	var err error
	if isDir {
		err = os.Mkdir(target, 0o755)
	} else {
		err = os.WriteFile(target, nil, 0o644)
	}
	if err != nil {
		return err
	}
	if err := bind(src, target, false); err != nil {
		return err
	}
	// The tmpfs itself read-only, as the rest of the root.
	return unix.Mount("", dst, "", unix.MS_REMOUNT|unix.MS_RDONLY|nsd|unix.MS_NOEXEC, "mode=0755")
}

// addMissingDir makes the host path dir (absent from the host) exist in
// the new root: a read-only overlay over its deepest existing ancestor,
// whose upper layer holds the missing directories.
func addMissingDir(dir string) error {
	anc := dir
	for {
		anc = filepath.Dir(anc)
		if st, err := os.Stat(rootDir + anc); err == nil && st.IsDir() {
			break
		}
		if anc == "/" {
			return fmt.Errorf("no ancestor of %s in the root", dir)
		}
	}
	if strings.ContainsAny(rootDir+anc, ":,\\") {
		return fmt.Errorf("cannot overlay %s: its path has a ':', ',' or '\\'", anc)
	}
	if err := modload.Load(ModDir, "overlay", ""); err != nil && !filesystemKnown("overlay") {
		return fmt.Errorf("add %s: %w", dir, err)
	}
	overlays++
	layer := filepath.Join(scratchDir, "layer"+strconv.Itoa(overlays))
	if err := os.MkdirAll(layer+strings.TrimPrefix(dir, anc), 0o755); err != nil {
		return err
	}
	if err := unix.Mount("overlay", rootDir+anc, "overlay", unix.MS_RDONLY, "lowerdir="+layer+":"+rootDir+anc); err != nil {
		return fmt.Errorf("overlay %s onto %s: %w", strings.TrimPrefix(dir, anc), anc, err)
	}
	return nil
}

// filesystemKnown reports whether /proc/filesystems lists fstype.
func filesystemKnown(fstype string) bool {
	data, _ := os.ReadFile("/proc/filesystems")
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[len(f)-1] == fstype {
			return true
		}
	}
	return false
}
