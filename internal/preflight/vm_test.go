package preflight

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/kernelimage"
)

func TestCheckVMKernel(t *testing.T) {
	write := func(path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := t.TempDir()
	// An entry with virtio-fs as a module, present.
	mod := filepath.Join(root, "mod")
	write(filepath.Join(mod, "ktest", "config"), "CONFIG_VIRTIO_FS=m\nCONFIG_BLK_DEV_INITRD=y\n")
	write(filepath.Join(mod, "ktest", "modules", "modules.dep"), "kernel/fs/fuse/virtiofs.ko.xz: kernel/fs/fuse/fuse.ko.xz\n")
	write(filepath.Join(mod, "ktest", "modules", "kernel", "fs", "fuse", "virtiofs.ko.xz"), "x")
	v := CheckVMKernel(&Kernel{Path: filepath.Join(mod, "bzImage"), Entry: &cache.Entry{Dir: mod}}, root)
	if !v.Virtiofs || v.VirtiofsWhy != "CONFIG_VIRTIO_FS=m, module kernel/fs/fuse/virtiofs.ko.xz" || !v.Initramfs {
		t.Errorf("module present: %+v", v)
	}
	// An image laid out as an entry outside the cache, module listed but
	// its file missing.
	os.Remove(filepath.Join(mod, "ktest", "modules", "kernel", "fs", "fuse", "virtiofs.ko.xz"))
	v = CheckVMKernel(&Kernel{Path: filepath.Join(mod, "bzImage")}, root)
	if v.Virtiofs || !strings.Contains(v.VirtiofsWhy, "no virtiofs module") || v.Err("k") != nil {
		t.Errorf("module missing: %+v", v)
	}
	// A host kernel: /boot/config-REL under the host root; neither path.
	write(filepath.Join(root, "boot", "config-6.9.0"), "# CONFIG_VIRTIO_FS is not set\n")
	v = CheckVMKernel(&Kernel{Path: filepath.Join(root, "boot", "vmlinuz-6.9.0"), Image: imageInfo("6.9.0")}, root)
	if v.Virtiofs || v.Initramfs || v.Config != filepath.Join(root, "boot", "config-6.9.0") {
		t.Errorf("host kernel: %+v", v)
	}
	if err := v.Err("/boot/vmlinuz-6.9.0"); err == nil || !strings.Contains(err.Error(), "no virtio-fs (CONFIG_VIRTIO_FS is not set) and no initramfs (CONFIG_BLK_DEV_INITRD is not set)") {
		t.Errorf("Err = %v", err)
	}
	// No configuration anywhere: assumed able, left to the boot.
	v = CheckVMKernel(&Kernel{Path: filepath.Join(root, "elsewhere", "bzImage"), Image: imageInfo("7.0")}, root)
	if !v.Virtiofs || !v.Initramfs || v.Config != "" {
		t.Errorf("unknown: %+v", v)
	}
}

func FuzzParseKconfig(f *testing.F) {
	f.Add([]byte("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x=y\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for k, v := range ParseKconfig(data) {
			if !strings.HasPrefix(k, "CONFIG_") || strings.Contains(k, "=") || strings.ContainsAny(k+v, "\n") {
				t.Fatalf("entry %q=%q", k, v)
			}
		}
	})
}

func TestFindVMTools(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	os.MkdirAll(bin, 0o755)
	if _, err := FindVMTools(bin, root); err == nil || !strings.Contains(err.Error(), "--vm needs QEMU") {
		t.Errorf("no QEMU: %v", err)
	}
	os.WriteFile(filepath.Join(bin, QEMUName()), []byte("#!/bin/sh\n"), 0o755)
	// Not executable: not found.
	os.WriteFile(filepath.Join(bin, "virtiofsd"), []byte("#!/bin/sh\n"), 0o644)
	tools, err := FindVMTools("relative:"+bin, root)
	if err != nil || tools.QEMU != filepath.Join(bin, QEMUName()) || tools.Virtiofsd != "" {
		t.Errorf("QEMU only: %+v, %v", tools, err)
	}
	lib := filepath.Join(root, "usr", "lib", "qemu")
	os.MkdirAll(lib, 0o755)
	os.WriteFile(filepath.Join(lib, "virtiofsd"), []byte("#!/bin/sh\n"), 0o755)
	if tools, _ := FindVMTools(bin, root); tools.Virtiofsd != filepath.Join(lib, "virtiofsd") {
		t.Errorf("Debian's virtiofsd: %+v", tools)
	}
	os.Chmod(filepath.Join(bin, "virtiofsd"), 0o755)
	if tools, _ := FindVMTools(bin, root); tools.Virtiofsd != filepath.Join(bin, "virtiofsd") {
		t.Errorf("virtiofsd on PATH first: %+v", tools)
	}
}

func imageInfo(release string) kernelimage.Info { return kernelimage.Info{Release: release} }
