package cache

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/hint"
)

// The roots a cache must never be: /, $HOME, a VCS checkout.
func TestCheckRootRefusesNonCaches(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	repo := t.TempDir()
	if err := os.Mkdir(filepath.Join(repo, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	worktree := t.TempDir()
	if err := os.WriteFile(filepath.Join(worktree, ".git"), []byte("gitdir: /x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	homeLink := filepath.Join(t.TempDir(), "home-link")
	if err := os.Symlink(home, homeLink); err != nil {
		t.Fatal(err)
	}
	for root, what := range map[string]string{
		"/": "the root of the filesystem", home: "your home directory", homeLink: "your home directory",
		home + "/": "your home directory", repo: "a version-control checkout (it has .git)", worktree: "(it has .git)",
	} {
		err := CheckRoot(root)
		if err == nil || !strings.Contains(err.Error(), what) {
			t.Errorf("CheckRoot(%s) = %v, want a refusal saying %q", root, err, what)
			continue
		}
		if hs := hint.Of(err); len(hs) == 0 || !strings.Contains(hs[0], "KTSTR_CACHE_DIR") {
			t.Errorf("CheckRoot(%s): hints %q", root, hs)
		}
		if _, err := Open(root); err == nil {
			t.Errorf("Open(%s) accepted it", root)
		}
	}
	if err := CheckRoot(filepath.Join(home, ".cache", "ktstr", "kernels")); err != nil {
		t.Errorf("the default cache under HOME refused: %v", err)
	}
}

// A directory with no .locks and no entry that has a trace is not a kernel
// cache: Clean refuses it whole, dry run included, and removes nothing.
func TestCleanRefusesDirectoryThatIsNoCache(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"bin", "boot", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := &Cache{Root: root}
	for _, dry := range []bool{true, false} {
		rep, err := c.Clean(CleanOptions{DryRun: dry})
		var nc *NotACacheError
		if !errors.As(err, &nc) || !strings.Contains(err.Error(), "does not look like a kernel cache") || len(rep.Removed) != 0 {
			t.Errorf("dry=%v: %+v, %v; want *NotACacheError", dry, rep, err)
		}
	}
	for _, d := range []string{"bin", "boot", "etc"} {
		if _, err := os.Stat(filepath.Join(root, d, "sub")); err != nil {
			t.Errorf("%s damaged: %v", d, err)
		}
	}
}

// In a real cache, a directory without ktest or ktstr traces is reported,
// never removed by Clean; removing it takes an explicit per-entry request.
func TestCleanLeavesUntracedDirectories(t *testing.T) {
	c := openCache(t)
	writeEntry(t, c.Root, "old", metaJSON("2024-01-01T00:00:00Z"), true)
	writeEntry(t, c.Root, "new", metaJSON("2025-01-01T00:00:00Z"), true)
	// Damaged metadata that still has ktstr's keys is a trace; a stranger's
	// metadata.json is not.
	writeEntry(t, c.Root, "half", metaJSON("2025-01-01T00:00:00Z")[:120], false)
	writeEntry(t, c.Root, "photos", `{"camera": "x", "album": "y"}`, false)
	if err := os.WriteFile(filepath.Join(c.Root, "photos", "img.jpg"), []byte("jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeEntry(t, c.Root, "empty", "", false)
	if tr := c.Traces(mustLookupAny(t, c, "half")); !slices.Equal(tr, []string{MetadataFile}) {
		t.Errorf("traces of damaged ktstr metadata: %v", tr)
	}
	rep, err := c.Clean(CleanOptions{Keep: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Removed, []string{"old", "half"}) || !slices.Equal(rep.Kept, []string{"new"}) || !slices.Equal(rep.Untraced, []string{"empty", "photos"}) {
		t.Errorf("clean: removed %v kept %v untraced %v", rep.Removed, rep.Kept, rep.Untraced)
	}
	if _, err := os.Stat(filepath.Join(c.Root, "photos", "img.jpg")); err != nil {
		t.Errorf("an untraced directory was touched: %v", err)
	}
	// The explicit per-entry path (a confirmed key, or kernel rm) removes it.
	if rep, err := c.RemoveEntries([]string{"photos"}); err != nil || !slices.Equal(rep.Removed, []string{"photos"}) {
		t.Errorf("RemoveEntries(photos) = %+v, %v", rep, err)
	}
}

func mustLookupAny(t *testing.T, c *Cache, key string) Entry {
	t.Helper()
	es, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Key == key {
			return e
		}
	}
	t.Fatalf("no entry %s", key)
	return Entry{}
}

// Debris of every kind is reported; Clean removes exactly what is provably
// ktest's and unused: staging dirs of dead pids or of pids now running
// another program, probes of dead pids or old ones; not live ktest's,
// locked keys', symlinks, or fresh probes.
func TestDebrisReportedAndRemovedSafely(t *testing.T) {
	c := openCache(t)
	writeEntry(t, c.Root, "k", metaJSON("2025-01-01T00:00:00Z"), true)
	dead := deadPID(t)
	other := exec.Command("sleep", "600") // a live process that is no ktest
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	mkdir := func(name string) string {
		if err := os.MkdirAll(filepath.Join(c.Root, name, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		return name
	}
	touch := func(name string, age time.Duration) string {
		p := filepath.Join(c.Root, name)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-age)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		return name
	}
	want := map[string]bool{ // name → removable
		mkdir(fmt.Sprintf(".tmp-a-%d", dead)):               true,
		mkdir(fmt.Sprintf(".rm-b-%d", dead)):                true,
		mkdir(fmt.Sprintf(".tmp-c-%d", other.Process.Pid)):  true,
		mkdir(fmt.Sprintf(".tmp-live-%d", os.Getpid())):     false, // a running ktest (this binary)
		mkdir(fmt.Sprintf(".tmp-busy-%d", dead)):            false, // its key is locked
		touch(fmt.Sprintf(".probe-%d-123", dead), 0):        true,
		touch(fmt.Sprintf(".probe-%d-124", os.Getpid()), 0): false,
		touch(".probe-987654", time.Hour):                   true,
		touch(".probe-987655", 0):                           false,
		touch(fmt.Sprintf(".tmp-file-%d", dead), time.Hour): false, // not a directory
	}
	if err := os.Symlink("/etc", filepath.Join(c.Root, fmt.Sprintf(".tmp-link-%d", dead))); err != nil {
		t.Fatal(err)
	}
	want[fmt.Sprintf(".tmp-link-%d", dead)] = false
	startHolder(t, c.LockPath("busy"), Exclusive)

	ds, err := c.Debris()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, d := range ds {
		got[d.Name] = d.Removable
		if d.Reason == "" {
			t.Errorf("%s: no reason", d.Name)
		}
	}
	for name, removable := range want {
		if r, ok := got[name]; !ok || r != removable {
			t.Errorf("%s: reported=%v removable=%v, want removable=%v", name, ok, r, removable)
		}
	}
	if len(got) != len(want) {
		t.Errorf("reported %v, want exactly %v", got, want)
	}

	rep, err := c.Clean(CleanOptions{Keep: 5})
	if err != nil {
		t.Fatal(err)
	}
	var removed []string
	for _, p := range rep.Debris {
		removed = append(removed, filepath.Base(p))
	}
	for name, removable := range want {
		_, err := os.Lstat(filepath.Join(c.Root, name))
		if gone := err != nil; gone != removable {
			t.Errorf("%s: removed=%v, want %v", name, gone, removable)
		}
		if slices.Contains(removed, name) != removable {
			t.Errorf("%s: reported removed=%v, want %v", name, !removable, removable)
		}
	}
	if len(rep.DebrisLeft) != len(want)-len(removed) {
		t.Errorf("debris left %+v", rep.DebrisLeft)
	}
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Fatalf("the symlinked debris' target was touched: %v", err)
	}
}

// The write probe Open makes is recognised as debris when a crash leaves it.
func TestWriteProbeNameIsDebris(t *testing.T) {
	dir := t.TempDir()
	for range 20 {
		f, err := os.CreateTemp(dir, probePrefix+"4242-*")
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if pid, ok := parseProbeName(filepath.Base(f.Name())); !ok || pid != 4242 {
			t.Errorf("probe %s parsed as %d, %v", f.Name(), pid, ok)
		}
	}
}
