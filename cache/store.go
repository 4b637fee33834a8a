package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// StoreSource names what Store puts into an entry.
type StoreSource struct {
	// Image is the path of the boot image to copy (required).
	Image string
	// Vmlinux is the optional path of a vmlinux to copy alongside.
	Vmlinux string
	// Metadata is written as metadata.json after Store fills in defaults;
	// see Store.
	Metadata Metadata
}

// Steps of Store, in order, as passed to storeHook.
const (
	stepLocked           = "locked"
	stepDebrisSwept      = "debris-swept"
	stepStagingCreated   = "staging-created"
	stepImageWritten     = "image-written"
	stepVmlinuxWritten   = "vmlinux-written"
	stepMetadataWritten  = "metadata-written"
	stepStagingSynced    = "staging-synced"
	stepPublished        = "published"
	stepRootSynced       = "root-synced"
	stepDisplacedRemoved = "displaced-removed"
)

// storeSteps lists Store's steps in order (stepVmlinuxWritten only happens
// with a vmlinux).
var storeSteps = []string{
	stepLocked, stepDebrisSwept, stepStagingCreated, stepImageWritten, stepVmlinuxWritten,
	stepMetadataWritten, stepStagingSynced, stepPublished, stepRootSynced, stepDisplacedRemoved,
}

// storeHook, when non-nil, is called after each step of Store. Only tests set
// it (in a re-executed child process) to stop Store at a step and SIGKILL it
// there; it is nil in production.
var storeHook func(step string)

func hook(step string) {
	if storeHook != nil {
		storeHook(step)
	}
}

// Store copies an image (and optional vmlinux) into the entry key, crash-safely:
//
//  1. take LOCK_EX on the entry's lockfile (Cache.StoreLockTimeout, default 60 s);
//  2. remove staging and removal debris left by dead processes;
//  3. create the staging directory {root}/.tmp-{key}-{pid};
//  4. copy the image (and vmlinux) and write metadata.json, fsyncing each file;
//  5. fsync the staging directory;
//  6. publish: rename staging to {root}/{key}, or swap the two with
//     renameat2(RENAME_EXCHANGE) when the entry exists;
//  7. fsync the root, then delete the displaced old tree, then unlock.
//
// A crash at any point leaves the old entry or the new one, never a mix:
// readers holding LOCK_SH are excluded for the whole sequence, and lockless
// readers (List) see one rename. Leftovers of a crash are dot-named and
// removed by the next Store or Clean.
//
// Metadata defaults: Arch = HostArch(); ImageName = DefaultImageName(Arch);
// BuiltAt = now (a given value must be BuiltAtLayout exactly); HasVmlinux
// follows src.Vmlinux and VmlinuxStripped is cleared without a vmlinux;
// Extra["sha256"] is set to the SHA-256 of the stored image (a different
// value given by the caller is an error: the image is not what they meant).
// Source.Type must be set. The caller's Metadata is not modified.
//
// On a filesystem without RENAME_EXCHANGE, replacing an existing entry falls
// back to two renames; a crash between them leaves no entry (never a torn one).
func (c *Cache) Store(ctx context.Context, key string, src StoreSource) (Entry, error) {
	if err := ValidateKey(key); err != nil {
		return Entry{}, fmt.Errorf("store: %w", err)
	}
	meta, err := prepareMetadata(src)
	if err != nil {
		return Entry{}, fmt.Errorf("store %s: %w", lockWhat(key), err)
	}
	img, imgSize, err := openRegular(src.Image, "kernel image")
	if err != nil {
		return Entry{}, fmt.Errorf("store %s: %w", lockWhat(key), err)
	}
	defer img.Close()
	var vml *os.File
	var vmlSize int64
	if src.Vmlinux != "" {
		if vml, vmlSize, err = openRegular(src.Vmlinux, "vmlinux"); err != nil {
			return Entry{}, fmt.Errorf("store %s: %w", lockWhat(key), err)
		}
		defer vml.Close()
	}

	lock, err := AcquireLock(ctx, c.LockPath(key), Exclusive, c.storeLockTimeout(), lockWhat(key))
	if err != nil {
		return Entry{}, fmt.Errorf("store %s: %w", lockWhat(key), err)
	}
	// Unlocked only after the displaced tree is gone: nobody may see the
	// entry half-deleted or start a second Store on our debris.
	defer lock.Unlock()
	hook(stepLocked)

	c.sweepDebris(key)
	hook(stepDebrisSwept)

	staging := filepath.Join(c.Root, stagingPrefix+key+"-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(staging, 0o755); err != nil {
		return Entry{}, fmt.Errorf("store %s: create staging directory: %w", lockWhat(key), err)
	}
	published := false
	defer func() {
		if !published {
			_ = os.RemoveAll(staging)
		}
	}()
	hook(stepStagingCreated)

	if err := ctx.Err(); err != nil {
		return Entry{}, fmt.Errorf("store %s: %w", lockWhat(key), err)
	}
	sum, err := copyFileSync(img, imgSize, filepath.Join(staging, meta.ImageName), true)
	if err != nil {
		return Entry{}, fmt.Errorf("store %s: copy image %s: %w", lockWhat(key), src.Image, err)
	}
	if want, ok := meta.ExtraString(ExtraSHA256); ok && want != sum {
		return Entry{}, fmt.Errorf("store %s: image %s has sha256 %s but the metadata says %s; it changed or is the wrong file", lockWhat(key), src.Image, sum, want)
	}
	if err := meta.SetExtraString(ExtraSHA256, sum); err != nil {
		return Entry{}, fmt.Errorf("store %s: %w", lockWhat(key), err)
	}
	hook(stepImageWritten)

	if vml != nil {
		if _, err := copyFileSync(vml, vmlSize, filepath.Join(staging, VmlinuxFile), false); err != nil {
			return Entry{}, fmt.Errorf("store %s: copy vmlinux %s: %w", lockWhat(key), src.Vmlinux, err)
		}
		hook(stepVmlinuxWritten)
	}

	data, err := MarshalMetadata(meta)
	if err != nil {
		return Entry{}, fmt.Errorf("store %s: %w", lockWhat(key), err)
	}
	if err := writeFileSync(filepath.Join(staging, MetadataFile), data); err != nil {
		return Entry{}, fmt.Errorf("store %s: write metadata: %w", lockWhat(key), err)
	}
	hook(stepMetadataWritten)

	if err := syncDir(staging); err != nil {
		return Entry{}, fmt.Errorf("store %s: %w", lockWhat(key), err)
	}
	hook(stepStagingSynced)

	if err := ctx.Err(); err != nil {
		return Entry{}, fmt.Errorf("store %s: %w", lockWhat(key), err)
	}
	final := c.EntryDir(key)
	displaced, err := c.publish(staging, final, key)
	if err != nil {
		return Entry{}, fmt.Errorf("store %s: %w", lockWhat(key), err)
	}
	published = true
	hook(stepPublished)

	if err := syncDir(c.Root); err != nil {
		return Entry{}, fmt.Errorf("store %s: published, but %w", lockWhat(key), err)
	}
	hook(stepRootSynced)

	if displaced != "" {
		// Best effort: a failure leaves dot-named debris that the next
		// Store of this key (or Clean) removes; the new entry is in place.
		_ = os.RemoveAll(displaced)
	}
	hook(stepDisplacedRemoved)

	return Entry{Key: key, Dir: final, Metadata: &meta}, nil
}

// prepareMetadata fills Store's defaults into a copy of src.Metadata and
// checks that it can be written.
func prepareMetadata(src StoreSource) (Metadata, error) {
	if src.Image == "" {
		return Metadata{}, errors.New("no image path given")
	}
	m := src.Metadata
	m.Extra = maps.Clone(m.Extra)
	m.Source.Extra = maps.Clone(m.Source.Extra)
	if m.Arch == "" {
		m.Arch = HostArch()
	}
	if m.ImageName == "" {
		m.ImageName = DefaultImageName(m.Arch)
		if m.ImageName == "" {
			return Metadata{}, fmt.Errorf("metadata has no image_name and arch %q has no default (x86_64 → bzImage, aarch64 → Image)", m.Arch)
		}
	}
	if err := validateImageName(m.ImageName); err != nil {
		return Metadata{}, fmt.Errorf("metadata: %w", err)
	}
	if m.ImageName == VmlinuxFile {
		return Metadata{}, fmt.Errorf("metadata: image_name %q collides with the vmlinux file", m.ImageName)
	}
	if _, ok := sourceKeys[m.Source.Type]; !ok {
		return Metadata{}, fmt.Errorf("metadata source type %q is not tarball, git or local; set Metadata.Source.Type", m.Source.Type)
	}
	if m.BuiltAt == "" {
		m.BuiltAt = FormatBuiltAt(time.Now())
	} else if _, err := time.Parse(BuiltAtLayout, m.BuiltAt); err != nil {
		return Metadata{}, fmt.Errorf("metadata built_at %q is not UTC %s: use cache.FormatBuiltAt", m.BuiltAt, BuiltAtLayout)
	}
	m.HasVmlinux = src.Vmlinux != ""
	m.VmlinuxStripped = m.HasVmlinux && m.VmlinuxStripped
	if _, err := MarshalMetadata(m); err != nil {
		return Metadata{}, err
	}
	return m, nil
}

// openRegular opens a source file and returns it with its size; it must be a
// regular file (following symlinks).
func openRegular(path, what string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", what, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("stat %s %s: %w", what, path, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s %s is a %s, not a regular file", what, path, fileKind(st.Mode()))
	}
	return f, st.Size(), nil
}

// copyFileSync copies src (expected to be size bytes) to a new file dst,
// fsyncs it and, when hash is set, returns the hex SHA-256 of what was
// stored (read back from dst, so it describes the cached bytes).
func copyFileSync(src *os.File, size int64, dst string, hash bool) (string, error) {
	out, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	defer out.Close()
	n, err := io.Copy(out, src) // copy_file_range when both are files
	if err != nil {
		return "", err
	}
	if n != size {
		return "", fmt.Errorf("copied %d bytes but the file had %d: it changed while being copied", n, size)
	}
	if err := out.Sync(); err != nil {
		return "", fmt.Errorf("fsync %s: %w", dst, err)
	}
	sum := ""
	if hash {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(out, 0, n)); err != nil {
			return "", fmt.Errorf("hash %s: %w", dst, err)
		}
		sum = hex.EncodeToString(h.Sum(nil))
	}
	if err := out.Close(); err != nil {
		return "", fmt.Errorf("close %s: %w", dst, err)
	}
	return sum, nil
}

// writeFileSync writes data to a new file and fsyncs it.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return f.Close()
}

// syncDir fsyncs a directory so renames and creations in it are durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s for fsync: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// publish moves the staged tree to final and returns the path now holding
// the displaced old tree ("" when there was none). The caller holds LOCK_EX.
func (c *Cache) publish(staging, final, key string) (string, error) {
	st, err := os.Lstat(final)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		err := os.Rename(staging, final)
		if err == nil {
			return "", nil
		}
		if !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.ENOTEMPTY) {
			return "", fmt.Errorf("rename %s to %s: %w", staging, final, err)
		}
		// Someone created it without the lock (by hand): swap below.
	case err != nil:
		return "", fmt.Errorf("stat entry %s: %w", final, err)
	case !st.IsDir():
		return "", fmt.Errorf("entry path %s is a %s, not a directory; remove it and retry", final, fileKind(st.Mode()))
	}
	err = unix.Renameat2(unix.AT_FDCWD, staging, unix.AT_FDCWD, final, unix.RENAME_EXCHANGE)
	if err == nil {
		return staging, nil // staging now holds the old entry
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP) {
		return "", fmt.Errorf("renameat2(RENAME_EXCHANGE) %s <-> %s: %w", staging, final, err)
	}
	// No RENAME_EXCHANGE on this filesystem: move the old entry aside, then
	// the new one in. A crash in between leaves no entry, never a torn one.
	aside := filepath.Join(c.Root, removingPrefix+key+"-"+strconv.Itoa(os.Getpid()))
	if err := os.Rename(final, aside); err != nil {
		return "", fmt.Errorf("move old entry %s aside: %w", final, err)
	}
	if err := os.Rename(staging, final); err != nil {
		if rerr := os.Rename(aside, final); rerr != nil {
			return "", fmt.Errorf("rename %s to %s: %w (and restoring the old entry from %s failed: %v)", staging, final, err, aside, rerr)
		}
		return "", fmt.Errorf("rename %s to %s: %w", staging, final, err)
	}
	return aside, nil
}
