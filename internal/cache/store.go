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
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/atomicfile"
	"github.com/ktest-dev/ktest/internal/filekind"
	"github.com/ktest-dev/ktest/internal/regularfile"
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
	// Files, when set, writes ktest's own files (which ktstr ignores) into
	// dir, the entry's KtestDir subdirectory of the staging directory,
	// which Store creates empty just before the call. Everything Files
	// writes there is made durable (syncfs) before the entry is published;
	// when it fails, nothing is published and the staging directory is
	// removed, so no partial entry is ever seen.
	Files func(dir string) error
}

// KtestDir is the subdirectory of an entry holding ktest's own files
// (StoreSource.Files): fetched kernels keep their modules and config there.
// ktstr ignores it.
const KtestDir = "ktest"

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
//  5. fsync the staging directory (the fsyncs of steps 4 and 5 run
//     concurrently, with the image's SHA-256, and all complete before 6);
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
	in, err := openStoreInputs(key, src)
	if err != nil {
		return Entry{}, err
	}
	defer in.close()
	lock, err := AcquireLock(ctx, c.LockPath(key), Exclusive, c.storeLockTimeout(), lockWhat(key))
	if err != nil {
		return Entry{}, fmt.Errorf("store %s: %w", lockWhat(key), err)
	}
	// Unlocked only after the displaced tree is gone: nobody may see the
	// entry half-deleted or start a second Store on our debris.
	defer lock.Unlock()
	return c.storeHeld(ctx, key, src, in)
}

// StoreLocked is Store for a caller that already holds the entry's LOCK_EX
// (from LockEntry with Exclusive), for example a fetch that checked under
// the lock that the entry is missing and then downloaded it: Store's own
// lock would wait for the caller's. The lock stays held when StoreLocked
// returns.
func (c *Cache) StoreLocked(ctx context.Context, lock *Lock, key string, src StoreSource) (Entry, error) {
	if lock == nil || lock.Mode() != Exclusive || lock.Path() != c.LockPath(key) {
		return Entry{}, fmt.Errorf("store %s: StoreLocked needs the entry's own LOCK_EX (lockfile %s)", lockWhat(key), c.LockPath(key))
	}
	in, err := openStoreInputs(key, src)
	if err != nil {
		return Entry{}, err
	}
	defer in.close()
	return c.storeHeld(ctx, key, src, in)
}

// storeInputs are Store's checked metadata and open source files.
type storeInputs struct {
	meta             Metadata
	img, vml         *os.File
	imgSize, vmlSize int64
}

func (in *storeInputs) close() {
	in.img.Close()
	if in.vml != nil {
		in.vml.Close()
	}
}

// openStoreInputs validates key and metadata and opens the source files,
// before any lock is taken.
func openStoreInputs(key string, src StoreSource) (*storeInputs, error) {
	if err := ValidateKey(key); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	meta, err := prepareMetadata(src)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", lockWhat(key), err)
	}
	in := &storeInputs{meta: meta}
	if in.img, in.imgSize, err = openRegular(src.Image, "kernel image"); err != nil {
		return nil, fmt.Errorf("store %s: %w", lockWhat(key), err)
	}
	if src.Vmlinux != "" {
		if in.vml, in.vmlSize, err = openRegular(src.Vmlinux, "vmlinux"); err != nil {
			in.img.Close()
			return nil, fmt.Errorf("store %s: %w", lockWhat(key), err)
		}
	}
	return in, nil
}

// storeHeld is Store from step 2 on; the caller holds LOCK_EX on key.
func (c *Cache) storeHeld(ctx context.Context, key string, src StoreSource, in *storeInputs) (Entry, error) {
	meta := in.meta
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
	if err := writeStaging(staging, in.img, in.imgSize, in.vml, in.vmlSize, &meta, src); err != nil {
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

	if err := atomicfile.SyncDir(c.Root); err != nil {
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
	if m.ImageName == VmlinuxFile || m.ImageName == KtestDir {
		return Metadata{}, fmt.Errorf("metadata: image_name %q collides with the %s file", m.ImageName, m.ImageName)
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
// regular file (following symlinks). A FIFO or device is refused without
// being opened in a way that could block (regularfile.Open).
func openRegular(path, what string) (*os.File, int64, error) {
	f, st, err := regularfile.Open(path)
	var nr *regularfile.NotRegularError
	switch {
	case errors.As(err, &nr):
		return nil, 0, fmt.Errorf("%s %s", what, nr.Error())
	case err != nil:
		return nil, 0, fmt.Errorf("open %s: %w", what, err)
	}
	return f, st.Size(), nil
}

// writeStaging fills the staging directory: the image, the optional
// vmlinux and metadata.json (with ExtraSHA256 set to the hash of the staged
// image), each fsynced, and then the directory itself fsynced. It returns
// only when all of that is durable (or failed), so the caller may publish.
//
// The slow parts overlap (see stagingWriter): writeback of the image starts
// while it is being copied, the image is hashed piece by piece as it is
// copied and while its fsync runs, each file's fsync starts as soon as the
// file is complete, and the directory's fsync joins them, so the filesystem
// can serve them with one journal commit. Durability is the same as one
// after the other: nothing is published before every fsync has returned
// successfully.
func writeStaging(staging string, img *os.File, imgSize int64, vml *os.File, vmlSize int64, meta *Metadata, src StoreSource) (err error) {
	w, err := newStagingWriter(staging)
	if err != nil {
		return err
	}
	defer func() {
		// Wait for every goroutine before the caller removes or publishes
		// the staging directory.
		if ferr := w.finish(); err == nil {
			err = ferr
		}
	}()
	sumc, err := w.copyFile(meta.ImageName, img, imgSize, true)
	if err != nil {
		return fmt.Errorf("copy image %s: %w", src.Image, err)
	}
	hook(stepImageWritten)

	if vml != nil {
		if _, err := w.copyFile(VmlinuxFile, vml, vmlSize, false); err != nil {
			return fmt.Errorf("copy vmlinux %s: %w", src.Vmlinux, err)
		}
		hook(stepVmlinuxWritten)
	}

	if src.Files != nil {
		if err := writeKtestFiles(staging, src.Files); err != nil {
			return err
		}
	}

	res := <-sumc
	if res.err != nil {
		return fmt.Errorf("hash the staged image: %w", res.err)
	}
	if want, ok := meta.ExtraString(ExtraSHA256); ok && want != res.sum {
		return fmt.Errorf("image %s has sha256 %s but the metadata says %s; it changed or is the wrong file", src.Image, res.sum, want)
	}
	if err := meta.SetExtraString(ExtraSHA256, res.sum); err != nil {
		return err
	}
	data, err := MarshalMetadata(*meta)
	if err != nil {
		return err
	}
	if err := w.writeFile(MetadataFile, data); err != nil {
		return fmt.Errorf("write metadata: %w", err)
	}
	hook(stepMetadataWritten)

	// Every entry of the directory exists now: its fsync may start.
	if err := w.syncDir(); err != nil {
		return err
	}
	return w.finish()
}

// writeKtestFiles creates the staging directory's KtestDir, lets fill
// write into it, and makes the result durable. fill may write thousands of
// files (a kernel's modules); one syncfs(2) of the filesystem makes them
// durable at once, where an fsync each would cost a journal commit each.
func writeKtestFiles(staging string, fill func(dir string) error) error {
	dir := filepath.Join(staging, KtestDir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := fill(dir); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s for syncfs: %w", dir, err)
	}
	defer d.Close()
	if err := controlFd(d, unix.Syncfs); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

// stagingWriter creates the files of a staging directory and overlaps
// their fsyncs (and the image hash) in goroutines. It owns the files it
// creates; finish waits for the goroutines, closes the files and reports
// the first error. Every method but finish is called from one goroutine.
type stagingWriter struct {
	dir   string
	dirFD *os.File // the staging directory, opened without following a symlink
	wg    sync.WaitGroup
	mu    sync.Mutex
	err   error      // first error of a goroutine, under mu
	files []*os.File // closed by finish, after the goroutines using them
}

func (w *stagingWriter) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// newStagingWriter opens the staging directory this process has just
// created. Its files are created relative to that descriptor, so even in a
// cache root others can write, a directory swapped in under the staging
// name (or a symlink) cannot make Store write anywhere else.
func newStagingWriter(dir string) (*stagingWriter, error) {
	fd, err := openNoFollowDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open staging directory: %w", err)
	}
	d := os.NewFile(uintptr(fd), dir)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		d.Close()
		return nil, fmt.Errorf("stat staging directory %s: %w", dir, err)
	}
	if int(st.Uid) != os.Geteuid() {
		d.Close()
		return nil, fmt.Errorf("staging directory %s belongs to uid %d, not to this process: someone replaced it; retry", dir, st.Uid)
	}
	return &stagingWriter{dir: dir, dirFD: d, files: []*os.File{d}}, nil
}

// create makes a new file in the staging directory (O_EXCL, not through a
// symlink).
func (w *stagingWriter) create(name string) (*os.File, error) {
	var fd int
	err := controlFd(w.dirFD, func(dirFD int) error {
		var err error
		fd, err = openatRetry(dirFD, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		return err
	})
	if err != nil {
		return nil, &fs.PathError{Op: "create", Path: filepath.Join(w.dir, name), Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(w.dir, name))
	w.files = append(w.files, f)
	return f, nil
}

// goSync fsyncs f in a goroutine.
func (w *stagingWriter) goSync(f *os.File) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		if err := f.Sync(); err != nil {
			w.fail(fmt.Errorf("fsync %s: %w", f.Name(), err))
		}
	}()
}

// copyChunk is how much copyFile copies before it starts that part's
// writeback and lets the hash goroutine read it.
const copyChunk = 1 << 20

// copyFile copies src (expected to be size bytes) into a new file name and
// starts its fsync. It copies in copyChunk pieces with copy_file_range
// (io.CopyN between two files) and, after each piece, asks the kernel to
// start writing it back (sync_file_range SYNC_FILE_RANGE_WRITE: a hint that
// shortens the final fsync; durability still comes from the fsync). With
// hash set, a goroutine hashes each piece from the staged copy (so the sum
// describes the cached bytes) as soon as it is written, and the returned
// channel receives exactly one result; without, the channel is nil.
func (w *stagingWriter) copyFile(name string, src *os.File, size int64, hash bool) (<-chan hashResult, error) {
	out, err := w.create(name)
	if err != nil {
		return nil, err
	}
	var copied chan int64 // end offset of what is copied so far; closed when copying ends
	var sumc <-chan hashResult
	if hash {
		copied = make(chan int64, size/copyChunk+2)
		sumc = w.hashAsync(out, copied)
		defer close(copied)
	}
	rc, rcErr := out.SyscallConn()
	var n int64
	for {
		m, err := io.CopyN(out, src, copyChunk)
		if m > 0 && rcErr == nil {
			_ = rc.Control(func(fd uintptr) {
				_ = unix.SyncFileRange(int(fd), n, m, unix.SYNC_FILE_RANGE_WRITE)
			})
		}
		n += m
		if hash && m > 0 {
			copied <- n
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if n != size {
		return nil, fmt.Errorf("copied %d bytes but the file had %d: it changed while being copied", n, size)
	}
	w.goSync(out)
	return sumc, nil
}

type hashResult struct {
	sum string
	err error
}

// hashAsync hashes f in a goroutine, reading each newly copied range as its
// end offset arrives on copied, until copied is closed. The returned channel
// receives exactly one result.
func (w *stagingWriter) hashAsync(f *os.File, copied <-chan int64) <-chan hashResult {
	c := make(chan hashResult, 1)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		h := sha256.New()
		var done int64
		var err error
		for end := range copied {
			if err == nil {
				_, err = io.Copy(h, io.NewSectionReader(f, done, end-done))
				done = end
			}
		}
		if err != nil {
			c <- hashResult{err: fmt.Errorf("read %s: %w", f.Name(), err)}
			return
		}
		c <- hashResult{sum: hex.EncodeToString(h.Sum(nil))}
	}()
	return c
}

// writeFile writes data to a new file name and starts its fsync.
func (w *stagingWriter) writeFile(name string, data []byte) error {
	f, err := w.create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	w.goSync(f)
	return nil
}

// syncDir starts the fsync of the staging directory itself, so that the
// names of the files in it are durable.
func (w *stagingWriter) syncDir() error {
	w.goSync(w.dirFD)
	return nil
}

// finish waits for every fsync and hash, closes the files and returns the
// first error. It may be called more than once; later calls only report.
func (w *stagingWriter) finish() error {
	w.wg.Wait()
	for _, f := range w.files {
		if err := f.Close(); err != nil {
			w.fail(fmt.Errorf("close %s: %w", f.Name(), err))
		}
	}
	w.files = nil
	return w.err
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
		return "", fmt.Errorf("entry path %s is a %s, not a directory; remove it and retry", final, filekind.Of(st.Mode()))
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
