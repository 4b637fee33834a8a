// Package atomicfile writes files so that a crash leaves either the old file
// or the complete new one, never a torn one.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile writes data to a temp file in path's directory, fsyncs it, renames
// it over path, and fsyncs the directory so the rename itself survives a
// crash.
//
// The directory may be one others can write, so the temp file is created
// O_CREAT|O_EXCL under a random name (never through a symlink planted under
// that name), its mode is set on the descriptor of the file this call
// created, and on failure it is removed only while its name still holds
// that file. Whatever is at path (a symlink included) is replaced, not
// followed: callers that must write through a symlink or to a device use
// another writer.
func WriteFile(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file for %s: %w", path, err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if !renamed {
			removeIfSame(tmp, f)
		}
		f.Close()
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp, path, err)
	}
	renamed = true
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return SyncDir(dir)
}

// removeIfSame removes path only if it still names the file open as f.
func removeIfSame(path string, f *os.File) {
	fi, err := f.Stat()
	if err != nil {
		return
	}
	if li, err := os.Lstat(path); err == nil && os.SameFile(fi, li) {
		_ = os.Remove(path)
	}
}

// SyncDir fsyncs a directory so that entries created or renamed in it are
// durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}
