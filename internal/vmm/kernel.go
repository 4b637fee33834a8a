package vmm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ktest-dev/ktest/internal/kernelimage"
)

// kernelFiles is what a boot uses of a kernel: the image, its vmlinux (PVH
// entry) when one is at hand, and a cache entry's module tree and config.
type kernelFiles struct {
	image   string
	vmlinux string // "" when none: q35 boots the bzImage
	modules string // directory with modules.dep, "" if none
	config  string // "" if none
	release string
}

// resolveKernel finds the files of s.Kernel. A vmlinux next to the image
// (a ktstr cache entry has one) is used as it is; otherwise one is
// extracted once into cacheDir.
func resolveKernel(image, cacheDir string, extract func(image, out string) error) (kernelFiles, error) {
	info, err := kernelimage.Inspect(image)
	if err != nil {
		return kernelFiles{}, &SetupError{What: "use kernel " + image, Err: err, Hint: "pass a bzImage, e.g. $(ktest kernel path VERSION)"}
	}
	k := kernelFiles{image: image, release: info.Release}
	dir := filepath.Dir(image)
	if st, err := os.Stat(filepath.Join(dir, "vmlinux")); err == nil && st.Mode().IsRegular() {
		k.vmlinux = filepath.Join(dir, "vmlinux")
	} else {
		k.vmlinux = extractedVmlinux(image, cacheDir, extract)
	}
	if st, err := os.Stat(filepath.Join(dir, "ktest", "modules", "modules.dep")); err == nil && st.Mode().IsRegular() {
		k.modules = filepath.Join(dir, "ktest", "modules")
	}
	if st, err := os.Stat(filepath.Join(dir, "ktest", "config")); err == nil && st.Mode().IsRegular() {
		k.config = filepath.Join(dir, "ktest", "config")
	}
	return k, nil
}

// extractedVmlinux returns the vmlinux extracted from image into cacheDir,
// extracting it on first use; "" when that fails or there is no extract
// (the boot then uses the bzImage).
func extractedVmlinux(image, cacheDir string, extract func(image, out string) error) string {
	if extract == nil {
		return ""
	}
	id, err := fileIdentity(image)
	if err != nil {
		return ""
	}
	out := filepath.Join(cacheDir, "vmlinux-"+id)
	if st, err := os.Stat(out); err == nil && st.Mode().IsRegular() {
		return out
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return ""
	}
	tmp := fmt.Sprintf("%s.tmp-%d", out, os.Getpid())
	os.Remove(tmp)
	if err := extract(image, tmp); err != nil {
		return ""
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return ""
	}
	return out
}

// fileIdentity names a file's current content cheaply: its path, device,
// inode, size and modification time.
func fileIdentity(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	abs, _ := filepath.Abs(path)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00%d", abs, st.Size(), st.ModTime().UnixNano(), inode(st))
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}
