package preflight

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/atomicfile"
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
		base, err := os.UserCacheDir()
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
	data, err := os.ReadFile(c.path)
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
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write probe cache: %w", err)
	}
	return nil
}
