package vm

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ktest-dev/ktest/internal/initramfs"
	"github.com/ktest-dev/ktest/vm/internal/protocol"
)

// writeInitramfs writes the boot's initramfs to path: the base layout,
// the guest binary as /init, the run configuration, and cfg.Files. The
// file is created fresh; the caller removes it with its scratch directory.
func writeInitramfs(path, guestBin string, files map[string]string, gcfg protocol.Config) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create initramfs: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close initramfs %s: %w", path, cerr)
		}
	}()
	w := initramfs.NewWriter(f)
	if err := w.AddBaseLayout(); err != nil {
		return err
	}
	if err := w.AddFileFrom("init", 0o755, guestBin); err != nil {
		return err
	}
	cfgJSON, err := json.Marshal(gcfg)
	if err != nil {
		return fmt.Errorf("marshal guest config: %w", err)
	}
	if err := w.AddFile(protocol.ConfigPath, 0o644, cfgJSON); err != nil {
		return err
	}
	// Sorted so that the archive does not depend on map order.
	guestPaths := make([]string, 0, len(files))
	for gp := range files {
		guestPaths = append(guestPaths, gp)
	}
	sort.Strings(guestPaths)
	for _, gp := range guestPaths {
		if err := addHostPath(w, gp, files[gp]); err != nil {
			return err
		}
	}
	return w.Close()
}

// reservedGuestPath reports whether a Files entry would replace something
// the VM helper puts into the initramfs itself.
func reservedGuestPath(guestPath string) bool {
	p, err := initramfs.CleanPath(guestPath)
	if err != nil {
		return false // reported by the writer with its own message
	}
	cfg := strings.TrimPrefix(protocol.ConfigPath, "/")
	return p == "init" || p == "dev/console" || p == cfg || p == filepath.Dir(cfg)
}

// addHostPath copies a host file, or a directory tree, to guestPath.
// Symlinks inside a tree are kept as symlinks; other special files are
// refused.
func addHostPath(w *initramfs.Writer, guestPath, hostPath string) error {
	st, err := os.Stat(hostPath)
	if err != nil {
		return fmt.Errorf("add file %s to the initramfs: %w", guestPath, err)
	}
	if !st.IsDir() {
		return w.AddFileFrom(guestPath, 0, hostPath)
	}
	return filepath.WalkDir(hostPath, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", hostPath, err)
		}
		rel, err := filepath.Rel(hostPath, p)
		if err != nil {
			return fmt.Errorf("walk %s: %w", hostPath, err)
		}
		target := filepath.ToSlash(filepath.Join(guestPath, rel))
		switch {
		case d.IsDir():
			info, err := d.Info()
			if err != nil {
				return fmt.Errorf("stat %s: %w", p, err)
			}
			return w.AddDir(target, info.Mode())
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("read symlink %s: %w", p, err)
			}
			return w.AddSymlink(target, link)
		case d.Type().IsRegular():
			return w.AddFileFrom(target, 0, p)
		default:
			return fmt.Errorf("add %s to the initramfs: %s is a %v, only files, directories and symlinks can be copied", guestPath, p, d.Type())
		}
	})
}
