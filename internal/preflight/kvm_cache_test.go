package preflight

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The cache file logic on its own, without a KVM device.

func testVerdict() probeVerdict {
	return probeVerdict{HLTPassed: true, IOPort: 0x10, IOValue: 0x42, Iterations: 90000,
		ElapsedNs: 100e6, NsPerIteration: 1111.1, BudgetHit: true, Accel: AccelTCG,
		ProbedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func TestProbeCacheRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c := &probeCache{path: filepath.Join(dir, "sub", probeCacheFileName), bootID: "b1", device: "/dev/kvm", rdev: 0xa08e8}
	if _, ok, note := c.load(); ok || note != "" {
		t.Fatalf("missing file: ok=%v note=%q, want a silent miss", ok, note)
	}
	if err := c.store(testVerdict()); err != nil {
		t.Fatal(err)
	}
	got, ok, note := c.load()
	if !ok || note != "" || got != testVerdict() {
		t.Fatalf("load after store: ok=%v note=%q got %+v", ok, note, got)
	}
	// Only the cache file is left: the temp file was renamed.
	entries, _ := os.ReadDir(filepath.Dir(c.path))
	if len(entries) != 1 || entries[0].Name() != probeCacheFileName {
		t.Errorf("cache dir holds %v, want only %s", entries, probeCacheFileName)
	}

	for name, other := range map[string]*probeCache{
		"other boot":   {path: c.path, bootID: "b2", device: c.device, rdev: c.rdev},
		"other device": {path: c.path, bootID: c.bootID, device: "/tmp/kvm", rdev: c.rdev},
		"other rdev":   {path: c.path, bootID: c.bootID, device: c.device, rdev: 1},
	} {
		if _, ok, _ := other.load(); ok {
			t.Errorf("%s: cache hit, want a miss", name)
		}
	}

	// A second device of the same boot keeps the first's entry; a new boot
	// drops both.
	second := &probeCache{path: c.path, bootID: "b1", device: "/tmp/kvm", rdev: 1}
	if err := second.store(testVerdict()); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.load(); !ok {
		t.Error("storing a second device dropped the first")
	}
	rebooted := &probeCache{path: c.path, bootID: "b2", device: "/tmp/kvm", rdev: 1}
	if err := rebooted.store(testVerdict()); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.load(); ok {
		t.Error("an entry of the previous boot survived")
	}
}

// A failed or incomplete verdict is never served from the cache.
func TestProbeCacheRejectsIncompleteVerdict(t *testing.T) {
	c := &probeCache{path: filepath.Join(t.TempDir(), probeCacheFileName), bootID: "b", device: "/dev/kvm"}
	for name, mutate := range map[string]func(*probeVerdict){
		"HLT failed":     func(v *probeVerdict) { v.HLTPassed = false },
		"no measurement": func(v *probeVerdict) { v.Accel = "" },
	} {
		v := testVerdict()
		mutate(&v)
		if err := c.store(v); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := c.load(); ok {
			t.Errorf("%s: served from cache", name)
		}
	}
}

func TestProbeCacheCorruptFile(t *testing.T) {
	c := &probeCache{path: filepath.Join(t.TempDir(), probeCacheFileName), bootID: "b", device: "/dev/kvm"}
	for _, content := range []string{"{not json", `{"schema":"ktest.kvm-probe/v0","boot_id":"b","entries":{}}`, `null`} {
		if err := os.WriteFile(c.path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, ok, note := c.load()
		if ok {
			t.Errorf("%q: cache hit", content)
		}
		if strings.HasPrefix(content, "{not") && !strings.Contains(note, "parse probe cache") {
			t.Errorf("%q: note %q does not explain", content, note)
		}
		// store repairs the file.
		if err := c.store(testVerdict()); err != nil {
			t.Fatalf("%q: store: %v", content, err)
		}
		if _, ok, _ := c.load(); !ok {
			t.Errorf("%q: store did not repair the cache", content)
		}
	}
}

// An unwritable cache directory costs a probe, never the check: store
// reports it, and CheckKVM turns that into a CacheNote (see kvm.go).
func TestProbeCacheUnwritable(t *testing.T) {
	parent := t.TempDir()
	blocker := filepath.Join(parent, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := &probeCache{path: filepath.Join(blocker, "ktest", probeCacheFileName), bootID: "b", device: "/dev/kvm"}
	if err := c.store(testVerdict()); err == nil {
		t.Fatal("store under a regular file succeeded")
	}
}

// The probe cache trusts only a directory and file of this user's own: a
// FIFO must not hang the read, a symlink must not redirect it, and a
// directory others can write (a shared XDG_CACHE_HOME) is not used at all.
func TestProbeCacheRefusesHostileFiles(t *testing.T) {
	t.Run("fifo", func(t *testing.T) {
		dir := t.TempDir()
		c := &probeCache{path: filepath.Join(dir, probeCacheFileName), bootID: "b", device: "/dev/kvm"}
		if err := unix.Mkfifo(c.path, 0o600); err != nil {
			t.Fatal(err)
		}
		done := make(chan string, 1)
		go func() { _, _, note := c.load(); done <- note }()
		select {
		case note := <-done:
			if !strings.Contains(note, "not a regular file") {
				t.Errorf("note %q", note)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("load hung on a FIFO")
		}
	})
	t.Run("symlink", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(t.TempDir(), "elsewhere.json")
		c := &probeCache{path: filepath.Join(dir, probeCacheFileName), bootID: "b", device: "/dev/kvm"}
		if err := os.Symlink(target, c.path); err != nil {
			t.Fatal(err)
		}
		if _, ok, note := c.load(); ok || !strings.Contains(note, "symbolic link") {
			t.Errorf("load through a symlink: ok=%v note=%q", ok, note)
		}
	})
	t.Run("shared directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "ktest")
		if err := os.Mkdir(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777); err != nil { // past the umask
			t.Fatal(err)
		}
		c := &probeCache{path: filepath.Join(dir, probeCacheFileName), bootID: "b", device: "/dev/kvm"}
		if err := c.store(testVerdict()); err == nil || !strings.Contains(err.Error(), "writable by others") {
			t.Errorf("store into a world-writable dir: %v", err)
		}
		if des, _ := os.ReadDir(dir); len(des) != 0 {
			t.Errorf("files written into it: %v", des)
		}
	})
	t.Run("symlinked directory", func(t *testing.T) {
		real := t.TempDir()
		link := filepath.Join(t.TempDir(), "ktest")
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		c := &probeCache{path: filepath.Join(link, probeCacheFileName), bootID: "b", device: "/dev/kvm"}
		if err := c.store(testVerdict()); err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("store through a symlinked dir: %v", err)
		}
		if des, _ := os.ReadDir(real); len(des) != 0 {
			t.Errorf("files written through the link: %v", des)
		}
	})
}

// The default probe cache follows the kernel cache's XDG rules: under an
// absolute XDG_CACHE_HOME, and under HOME/.cache when XDG_CACHE_HOME is
// relative (which the XDG spec says to ignore) instead of turning off.
func TestProbeCacheDefaultDirFollowsXDG(t *testing.T) {
	dev, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, tc := range []struct{ xdg, want string }{
		{filepath.Join(home, "xdg"), filepath.Join(home, "xdg", "ktest", probeCacheFileName)},
		{"relative/xdg", filepath.Join(home, ".cache", "ktest", probeCacheFileName)},
		{"", filepath.Join(home, ".cache", "ktest", probeCacheFileName)},
	} {
		t.Setenv("XDG_CACHE_HOME", tc.xdg)
		c, note := openProbeCache(KVMOptions{BootID: "b"}, int(dev.Fd()), "/dev/null")
		if c == nil || c.path != tc.want {
			t.Errorf("XDG_CACHE_HOME=%q: cache %+v (%s), want path %s", tc.xdg, c, note, tc.want)
		}
	}
}
