package vmm

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/vmproto"
)

func TestResolveHostPath(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "usr", "lib")
	os.MkdirAll(real, 0o755)
	os.Symlink("usr/lib", filepath.Join(dir, "lib"))
	rdir, _ := filepath.EvalSymlinks(dir)
	if got, want := resolveHostPath(filepath.Join(dir, "lib", "modules")), filepath.Join(rdir, "usr", "lib", "modules"); got != want {
		t.Errorf("resolveHostPath = %q, want %q", got, want)
	}
	if got, want := resolveHostPath(filepath.Join(dir, "lib")), filepath.Join(rdir, "usr", "lib"); got != want {
		t.Errorf("resolveHostPath = %q, want %q", got, want)
	}
}

func TestRequestBinds(t *testing.T) {
	work := t.TempDir() // under /tmp, as go test's $WORK
	bin := filepath.Join(work, "b001", "pkg.test")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	os.WriteFile(bin, nil, 0o755)
	writable := t.TempDir()
	wd, _ := os.Getwd()
	req, err := request(t.Context(), Spec{Argv: []string{bin, "-test.v"}, Dir: wd, Writable: []string{writable}}, kernelFiles{release: "6.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	rbin, _ := filepath.EvalSymlinks(filepath.Dir(bin))
	rw, _ := filepath.EvalSymlinks(writable)
	want := []vmproto.Bind{{Path: rbin}, {Path: rw, Writable: true}}
	if rwd, _ := filepath.EvalSymlinks(wd); hiddenInGuest(rwd) {
		// A checkout under /tmp: the guest's tmpfs would hide it.
		want = append(want, vmproto.Bind{Path: rwd})
	}
	slices.SortFunc(want, func(a, b vmproto.Bind) int { return strings.Compare(a.Path, b.Path) })
	if !slices.Equal(req.Binds, want) {
		t.Errorf("binds %+v, want %+v (the program's directory read-only, the writable one rw; the package dir on the root unless under /tmp)", req.Binds, want)
	}
	if req.Dir != wd || req.Argv[0] != bin || req.Env == nil {
		t.Errorf("request %+v", req)
	}
	if _, err := request(t.Context(), Spec{Argv: []string{"/bin/true"}, Writable: []string{"/nonexistent/dir"}}, kernelFiles{}); err == nil {
		t.Error("a missing writable directory was accepted")
	}
}

func TestMachineArgs(t *testing.T) {
	m := machine{kernel: kernelFiles{image: "/k/bzImage", vmlinux: "/k/vmlinux"}, initrd: "/c/i.cpio", cpus: 2, memMB: 1024, accel: "tcg", scratch: "/s"}
	a := strings.Join(m.args(), " ")
	for _, want := range []string{"microvm,", "-kernel /k/vmlinux", "virtio-serial-device", "vhost-user-fs-device,chardev=fs,tag=hostroot",
		"name=ktest.ctl", "name=ktest.out", "name=ktest.err", "share=on", "tcg,thread=single", "-cpu qemu64,+arat", "-smp 2", "KTEST_VMINIT=1", "virtio-mmio.force-legacy=false"} {
		if !strings.Contains(a, want) {
			t.Errorf("microvm args lack %q: %s", want, a)
		}
	}
	m.kernel.vmlinux = ""
	a = strings.Join(m.args(), " ")
	for _, want := range []string{"q35,", "-kernel /k/bzImage", "virtio-serial-pci", "vhost-user-fs-pci"} {
		if !strings.Contains(a, want) {
			t.Errorf("q35 args lack %q: %s", want, a)
		}
	}
}

func TestCheckVirtiofs(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte("#\nCONFIG_VIRTIO_FS=y\n"), 0o644)
	if err := checkVirtiofs(kernelFiles{config: cfg}); err != nil {
		t.Errorf("built in: %v", err)
	}
	os.WriteFile(cfg, []byte("#\n# CONFIG_VIRTIO_FS is not set\n"), 0o644)
	err := checkVirtiofs(kernelFiles{config: cfg})
	if se := (*SetupError)(nil); err == nil || !strings.Contains(err.Error(), "virtio-fs") {
		t.Errorf("not set: %v %v", err, se)
	}
	os.WriteFile(cfg, []byte("#\nCONFIG_VIRTIO_FS=m\n"), 0o644)
	if err := checkVirtiofs(kernelFiles{config: cfg}); err == nil {
		t.Error("a module without a module tree was accepted")
	}
}

func TestSpoolKeepsEverything(t *testing.T) {
	r, w, _ := os.Pipe()
	var out syncBuffer
	done, n := spool(&out, r)
	for i := 0; i < 1000; i++ {
		w.Write([]byte(strings.Repeat("z", 1000)))
	}
	w.Close()
	<-done
	if got := out.String(); len(got) != 1000000 || n.Load() != 1000000 {
		t.Errorf("spool passed %d bytes, counted %d", len(got), n.Load())
	}
}

// A kernel cache under /tmp (a temporary HOME, as CI has) is hidden by
// the guest's own /tmp: its module tree, which /lib/modules/REL links
// into, is shown read-only at its path.
func TestRequestBindsModuleTreeUnderTmp(t *testing.T) {
	mods := filepath.Join(t.TempDir(), "entry", "ktest", "modules")
	os.MkdirAll(mods, 0o755)
	os.WriteFile(filepath.Join(mods, "modules.dep"), nil, 0o644)
	rmods, _ := filepath.EvalSymlinks(mods)
	if !hiddenInGuest(rmods) {
		t.Skipf("the test's temp dir %s is not under /tmp or /run", rmods)
	}
	wd, _ := os.Getwd()
	req, err := request(t.Context(), Spec{Argv: []string{"/bin/true"}, Dir: wd, CacheDir: t.TempDir()}, kernelFiles{release: "6.1.0", modules: mods})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(req.Binds, vmproto.Bind{Path: rmods}) {
		t.Errorf("binds %+v lack the module tree %s, read-only", req.Binds, rmods)
	}
}

// The initramfs cache keeps the most recently used archives and any used
// within the hour; other files are not touched.
func TestPruneInitramfs(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	var names []string
	for i := range 12 {
		n := filepath.Join(dir, fmt.Sprintf("initramfs-%02d.cpio", i))
		os.WriteFile(n, nil, 0o644)
		at := now.Add(-time.Duration(i) * time.Hour) // 0 is the newest
		if i == 10 {
			at = now.Add(-time.Minute) // used just now, though listed late
		}
		os.Chtimes(n, at, at)
		names = append(names, n)
	}
	other := filepath.Join(dir, "vmlinux-x")
	os.WriteFile(other, nil, 0o644)
	os.Chtimes(other, now.Add(-100*time.Hour), now.Add(-100*time.Hour))
	pruneInitramfs(dir, names[0], now)
	for i, n := range names {
		_, err := os.Stat(n)
		// The new one (0), the 7 most recently used besides it (10 and
		// 1-6), and none older.
		want := i <= 6 || i == 10
		if (err == nil) != want {
			t.Errorf("%s: present %v, want %v", filepath.Base(n), err == nil, want)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("pruning removed another file: %v", err)
	}
}
