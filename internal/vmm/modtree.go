package vmm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// modprobeTree returns the directory the guest shows as
// /lib/modules/REL. The host's modprobe (which the guest runs from the
// read-only root) reads libkmod's binary indexes (modules.dep.bin, ...),
// which a cache entry lacks: when the host has depmod, they are generated
// once per kernel into cacheDir, next to symlinks to the entry's modules.
// Without depmod the entry's tree is shown as it is (the host then has no
// modprobe to run either).
func modprobeTree(ctx context.Context, cacheDir string, k kernelFiles) string {
	if k.modules == "" {
		return ""
	}
	depmod := findDepmod()
	if depmod == "" {
		return k.modules
	}
	id, err := fileIdentity(filepath.Join(k.modules, "modules.dep"))
	if err != nil {
		return k.modules
	}
	h := sha256.Sum256([]byte("ktest.vm/modtree/1\x00" + k.modules + "\x00" + id + "\x00" + k.release))
	out := filepath.Join(cacheDir, "modules-"+hex.EncodeToString(h[:])[:24])
	if st, err := os.Stat(filepath.Join(out, "modules.dep.bin")); err == nil && st.Mode().IsRegular() {
		return out
	}
	if err := buildModprobeTree(ctx, depmod, cacheDir, out, k); err != nil {
		return k.modules
	}
	return out
}

func buildModprobeTree(ctx context.Context, depmod, cacheDir, out string, k kernelFiles) error {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(cacheDir, ".modules-tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	tree := filepath.Join(tmp, "lib", "modules", k.release)
	if err := os.MkdirAll(tree, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(k.modules)
	if err != nil {
		return err
	}
	for _, e := range ents {
		n := e.Name()
		// depmod writes the indexes; the rest (the module directories,
		// modules.order, modules.builtin*) it reads.
		if strings.HasPrefix(n, "modules.") && !strings.HasPrefix(n, "modules.order") && !strings.HasPrefix(n, "modules.builtin") {
			continue
		}
		if err := os.Symlink(filepath.Join(k.modules, n), filepath.Join(tree, n)); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, depmod, "-b", tmp, k.release)
	if outp, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("depmod: %w: %s", err, outp)
	}
	if err := os.Rename(tree, out); err != nil {
		if _, serr := os.Stat(filepath.Join(out, "modules.dep.bin")); serr == nil {
			return nil // another run made it first
		}
		return err
	}
	return nil
}

func findDepmod() string {
	if p, err := exec.LookPath("depmod"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/depmod", "/sbin/depmod"} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
