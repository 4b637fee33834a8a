package vmm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ktest-dev/ktest/internal/atomicfile"
	"github.com/ktest-dev/ktest/internal/initramfs"
	"github.com/ktest-dev/ktest/internal/modload"
	"github.com/ktest-dev/ktest/internal/vminit"
)

// initramfsModules are the modules the init may need before the host's
// root is mounted: the transports (virtio-mmio on microvm, virtio-pci on
// q35), the console ports, virtio-fs, and overlay (for a /lib/modules the
// host lacks). Built-in ones are skipped.
func initramfsModules(q35 bool) []string {
	mods := []string{"virtio_mmio", "virtio_console", "virtiofs", "overlay"}
	if q35 {
		mods = append(mods, "virtio_pci")
	}
	return mods
}

// baseInitramfs returns the initramfs for init on kernel k, writing it
// into cacheDir on first use. It holds nothing per run (the run request
// travels over the control channel), so boots share it.
func baseInitramfs(cacheDir, init string, k kernelFiles, q35 bool) (string, error) {
	id, err := fileIdentity(init)
	if err != nil {
		return "", &SetupError{What: "use init " + init, Err: err}
	}
	h := sha256.New()
	fmt.Fprintf(h, "ktest.vm/initramfs/1\x00%s\x00%t\x00", id, q35)
	if k.modules != "" {
		for _, f := range []string{"modules.dep", "modules.builtin"} {
			fid, _ := fileIdentity(filepath.Join(k.modules, f))
			fmt.Fprintf(h, "%s\x00", fid)
		}
	}
	if deps, err := elfRuntime(init); err == nil {
		for _, f := range deps {
			fid, _ := fileIdentity(f)
			fmt.Fprintf(h, "%s\x00", fid)
		}
	}
	out := filepath.Join(cacheDir, "initramfs-"+hex.EncodeToString(h.Sum(nil))[:24]+".cpio")
	if st, err := os.Stat(out); err == nil && st.Mode().IsRegular() {
		// In use: pruning goes by the last use.
		now := time.Now()
		_ = os.Chtimes(out, now, now)
		return out, nil
	}
	runtime, err := elfRuntime(init)
	if err != nil {
		return "", &SetupError{What: "use init " + init, Err: err, Hint: "Spec.Init must be an executable that calls vminit.Main (the ktest binary, or a test binary linking kerneltest)"}
	}
	var b bytes.Buffer
	w := initramfs.NewWriter(&b)
	w.AddBaseLayout()
	w.AddFileFrom("init", 0o755, init)
	for _, f := range runtime {
		w.AddFileFrom(f, 0o755, f)
	}
	w.AddDir("ktest", 0o755)
	w.AddSymlink(strings.TrimPrefix(vminit.ModprobePath, "/"), "/init")
	if k.modules != "" {
		if err := addModules(w, k.modules, initramfsModules(q35)); err != nil {
			return "", err
		}
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("build initramfs: %w", err)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("build initramfs: %w", err)
	}
	if err := atomicfile.WriteFile(out, b.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("build initramfs: %w", err)
	}
	pruneInitramfs(cacheDir, out, time.Now())
	return out, nil
}

// Pruning of the cached initramfs archives: every new init binary (each
// rebuilt test binary under kerneltest.Run) makes one of several MiB.
const (
	keepInitramfs   = 8         // the most recently used ones always stay
	initramfsMaxAge = time.Hour // older unused ones beyond those go
)

// pruneInitramfs removes cached archives (by their name pattern, regular
// files only) beyond the keepInitramfs most recently used, that no boot
// used in the last initramfsMaxAge, so that a boot about to start with
// one keeps it. Failures are ignored: the cache only grows.
func pruneInitramfs(cacheDir, keep string, now time.Time) {
	names, _ := filepath.Glob(filepath.Join(cacheDir, "initramfs-*.cpio"))
	type used struct {
		path string
		at   time.Time
	}
	var all []used
	for _, n := range names {
		st, err := os.Lstat(n)
		if err != nil || !st.Mode().IsRegular() || n == keep {
			continue
		}
		all = append(all, used{n, st.ModTime()})
	}
	slices.SortFunc(all, func(a, b used) int { return b.at.Compare(a.at) })
	for i, u := range all {
		if i >= keepInitramfs-1 && now.Sub(u.at) > initramfsMaxAge {
			os.Remove(u.path)
		}
	}
}

// addModules puts names (and what they depend on) under vminit.ModDir,
// with a modules.dep of their own and the kernel's modules.builtin.
func addModules(w *initramfs.Writer, dir string, names []string) error {
	idx, err := modload.ReadIndex(dir)
	if err != nil {
		return fmt.Errorf("build initramfs: %w", err)
	}
	base := strings.TrimPrefix(vminit.ModDir, "/")
	var dep strings.Builder
	var files []string
	for _, n := range names {
		order, err := idx.LoadOrder(n)
		if err != nil {
			continue // not in this kernel: the boot checks what it needs
		}
		for _, rel := range order {
			if !slices.Contains(files, rel) {
				files = append(files, rel)
			}
		}
	}
	for _, rel := range files {
		name := moduleFileName(rel)
		order, _ := idx.LoadOrder(name)
		dep.WriteString(rel + ":")
		for j := len(order) - 2; j >= 0; j-- {
			dep.WriteString(" " + order[j])
		}
		dep.WriteString("\n")
		if err := w.AddFileFrom(base+"/"+rel, 0o644, filepath.Join(dir, rel)); err != nil {
			return err
		}
	}
	if err := w.AddFile(base+"/modules.dep", 0o644, []byte(dep.String())); err != nil {
		return err
	}
	if data, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		return w.AddFile(base+"/modules.builtin", 0o644, data)
	}
	return nil
}

// moduleFileName is the module name of a module file path.
func moduleFileName(rel string) string {
	b := filepath.Base(rel)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		b = strings.TrimSuffix(b, ext)
	}
	return strings.TrimSuffix(b, ".ko")
}
