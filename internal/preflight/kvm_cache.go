package preflight

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/atomicfile"
	"github.com/ktest-dev/ktest/internal/cache"
)

// The per-boot probe cache: one small JSON file holding, for the current
// boot, the probe verdict of each KVM device path. A verdict is reused only
// when the boot_id, the device path and the device number (st_rdev of the
// open fd) all match, so a reboot, or a path now naming another node, costs
// one new probe. Only successful probes are cached: a failure may be
// transient and must be seen again.
//
// Concurrent ktest runs may race to write the file; each write is atomic
// (temp file, fsync, rename, fsync dir), so readers see one whole version
// and the loser's entry is merely probed again next time.

const (
	probeCacheFileName = "kvm-probe.json"
	probeCacheSchema   = "ktest.kvm-probe/v1"
	bootIDPath         = "/proc/sys/kernel/random/boot_id"
)

type probeCacheFile struct {
	Schema  string                     `json:"schema"`
	BootID  string                     `json:"boot_id"`
	Entries map[string]probeCacheEntry `json:"entries"` // by device path
}

type probeCacheEntry struct {
	Rdev    uint64       `json:"rdev"`
	Verdict probeVerdict `json:"verdict"`
}

// probeCache is the cache file as seen by one CheckKVM call, with the key of
// that call's device.
type probeCache struct {
	path   string
	bootID string
	device string
	rdev   uint64
}

// openProbeCache resolves the cache file and the key for the device open on
// fd. It returns nil and a note saying why when caching is impossible.
func openProbeCache(opts KVMOptions, fd int, device string) (*probeCache, string) {
	dir := opts.CacheDir
	if dir == "" {
		// The same XDG rules as the kernel cache root: a relative
		// XDG_CACHE_HOME falls back to HOME instead of turning the
		// cache off.
		base, err := cache.UserCacheHome(os.LookupEnv)
		if err != nil {
			return nil, fmt.Sprintf("probe cache off: %v", err)
		}
		dir = filepath.Join(base, "ktest")
	}
	bootID := opts.BootID
	if bootID == "" {
		data, err := os.ReadFile(bootIDPath)
		if err != nil {
			return nil, fmt.Sprintf("probe cache off: read boot id: %v", err)
		}
		bootID = strings.TrimSpace(string(data))
		if bootID == "" {
			return nil, "probe cache off: " + bootIDPath + " is empty"
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Sprintf("probe cache off: fstat %s: %v", device, err)
	}
	return &probeCache{
		path:   filepath.Join(dir, probeCacheFileName),
		bootID: bootID,
		device: device,
		rdev:   st.Rdev,
	}, ""
}

// read returns the cache file's content; a missing file is an empty cache.
// A file of another boot or schema reads as empty too.
func (c *probeCache) read() (probeCacheFile, error) {
	empty := probeCacheFile{Schema: probeCacheSchema, BootID: c.bootID, Entries: map[string]probeCacheEntry{}}
	if err := checkProbeCacheDir(filepath.Dir(c.path)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return empty, nil
		}
		return empty, err
	}
	data, err := readOwnFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return empty, nil
	}
	if err != nil {
		return empty, fmt.Errorf("read probe cache %s: %w", c.path, err)
	}
	var f probeCacheFile
	if err := json.Unmarshal(data, &f); err != nil {
		return empty, fmt.Errorf("parse probe cache %s: %w", c.path, err)
	}
	if f.Schema != probeCacheSchema || f.BootID != c.bootID || f.Entries == nil {
		return empty, nil
	}
	return f, nil
}

// load returns the cached verdict for this boot and device, if any. A
// problem with the file is a note, not an error: the probe just runs.
func (c *probeCache) load() (probeVerdict, bool, string) {
	f, err := c.read()
	if err != nil {
		return probeVerdict{}, false, err.Error()
	}
	e, ok := f.Entries[c.device]
	if !ok || e.Rdev != c.rdev || !e.Verdict.HLTPassed || e.Verdict.Accel == "" {
		return probeVerdict{}, false, ""
	}
	return e.Verdict, true, ""
}

// store records v for this boot and device, keeping the other devices'
// entries of the same boot, and replaces the file atomically.
func (c *probeCache) store(v probeVerdict) error {
	f, err := c.read()
	if err != nil {
		// Unreadable or corrupt: start afresh rather than never caching.
		f = probeCacheFile{Schema: probeCacheSchema, BootID: c.bootID, Entries: map[string]probeCacheEntry{}}
	}
	f.Entries[c.device] = probeCacheEntry{Rdev: c.rdev, Verdict: v}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode probe cache: %w", err)
	}
	return writeFileAtomic(c.path, append(data, '\n'))
}

// writeFileAtomic replaces path with data, creating its directory:
// atomicfile writes a temp file, fsyncs it, renames it and fsyncs the
// directory, so a crash leaves the old or the new file, never a torn one.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create probe cache dir: %w", err)
	}
	if err := checkProbeCacheDir(filepath.Dir(path)); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write probe cache: %w", err)
	}
	return nil
}

// The probe cache lives in XDG_CACHE_HOME/ktest, and XDG_CACHE_HOME is
// sometimes a shared directory (/tmp on CI). A verdict read from a file
// another user controls could be forged, and a file they planted (a
// symlink, a FIFO) could redirect the write or hang the read. So the
// directory must be this user's own, not a symlink, and not writable by
// others; the file is opened without following symlinks, typed with fstat
// after an O_NONBLOCK open, and must be ours. Anything else turns the cache
// off (a note, and one more probe), never the check.

// maxProbeCacheSize bounds what read accepts: the real file is a few
// hundred bytes.
const maxProbeCacheSize = 1 << 20

// checkProbeCacheDir refuses a cache directory that is not this user's own.
// A missing directory is fs.ErrNotExist.
func checkProbeCacheDir(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return &fs.PathError{Op: "stat", Path: dir, Err: err}
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return fmt.Errorf("probe cache directory %s is a symbolic link: not used; remove it, or set XDG_CACHE_HOME to a directory of your own", dir)
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("probe cache directory %s is not a directory: not used; remove it", dir)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("probe cache directory %s belongs to uid %d, not to you: not used (is XDG_CACHE_HOME shared?); set XDG_CACHE_HOME to a directory of your own", dir, st.Uid)
	case st.Mode&0o022 != 0:
		return fmt.Errorf("probe cache directory %s is writable by others (mode %04o): not used; chmod go-w it", dir, st.Mode&0o7777)
	}
	return nil
}

// readOwnFile reads a small regular file of this user's without following
// a symlink and without blocking on a FIFO.
func readOwnFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link: not read; remove it", path)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	switch {
	case err != nil:
		err = &fs.PathError{Op: "stat", Path: path, Err: err}
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		err = fmt.Errorf("%s is not a regular file: not read; remove it", path)
	case int(st.Uid) != os.Geteuid():
		err = fmt.Errorf("%s belongs to uid %d, not to you: not read", path, st.Uid)
	case st.Size > maxProbeCacheSize:
		err = fmt.Errorf("%s is %d bytes, more than a probe cache holds: not read", path, st.Size)
	default:
		err = unix.SetNonblock(fd, false)
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxProbeCacheSize+1))
}
