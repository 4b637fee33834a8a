package cache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRemove(t *testing.T) {
	c := openCache(t)
	img, _ := makeImage(t, t.TempDir(), "img", 4096, 30)
	if _, err := c.Store(t.Context(), "k", StoreSource{Image: img, Metadata: testMetadata()}); err != nil {
		t.Fatal(err)
	}
	reader := startHolder(t, c.LockPath("k"), Shared)
	err := c.Remove("k")
	var iu *InUseError
	if !errors.As(err, &iu) {
		t.Fatalf("Remove under a reader: got %v, want *InUseError", err)
	}
	if iu.Key != "k" || len(iu.Holders) != 1 || iu.Holders[0].PID != reader.pid() || iu.Holders[0].Mode != "READ" {
		t.Errorf("InUseError %+v, want reader pid %d", iu, reader.pid())
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("pid=%d", reader.pid())) || !strings.Contains(err.Error(), "in use") {
		t.Errorf("message: %v", err)
	}
	if _, err := c.Lookup("k"); err != nil {
		t.Fatalf("entry damaged by a refused Remove: %v", err)
	}
	reader.wait(t)

	if err := c.Remove("k"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup("k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after Remove: %v", err)
	}
	if _, err := os.Stat(c.LockPath("k")); err != nil {
		t.Errorf("lockfile must survive Remove: %v", err)
	}
	if d := debrisNames(t, c.Root); len(d) != 0 {
		t.Errorf("debris: %v", d)
	}
	if err := c.Remove("k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: %v", err)
	}
	if err := c.Remove("never-stored"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove of an unknown key: %v", err)
	}
	if _, err := os.Stat(c.LockPath("never-stored")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Remove of an unknown key left a lockfile: %v", err)
	}
	for _, bad := range []string{"", ".locks", "a/b", "x\x00"} {
		if err := c.Remove(bad); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Remove(%q) = %v, want a validation error", bad, err)
		}
	}
	// Names List shows but ValidateKey refuses can still be removed.
	writeEntry(t, c.Root, "odd name", "", false)
	if err := c.Remove("odd name"); err != nil {
		t.Errorf("Remove(odd name): %v", err)
	}
}

func TestClean(t *testing.T) {
	c := openCache(t)
	for i, key := range []string{"e1", "e2", "e3", "e4", "e5"} {
		writeEntry(t, c.Root, key, metaJSON(fmt.Sprintf("2025-01-0%dT00:00:00Z", i+1)), true)
	}
	writeEntry(t, c.Root, "broken", "{", true)
	dead := deadPID(t)
	writeEntry(t, c.Root, fmt.Sprintf(".tmp-e9-%d", dead), "", true)

	dry, err := c.Clean(CleanOptions{Keep: 2, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"e3", "e2", "e1", "broken"}; !reflect.DeepEqual(dry.Removed, want) {
		t.Errorf("dry run would remove %v, want %v", dry.Removed, want)
	}
	if es, _ := c.List(); len(es) != 6 {
		t.Fatalf("dry run removed entries")
	}

	holder := startHolder(t, c.LockPath("e2"), Shared)
	rep, err := c.Clean(CleanOptions{Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"e3", "e1", "broken"}; !reflect.DeepEqual(rep.Removed, want) {
		t.Errorf("removed %v, want %v", rep.Removed, want)
	}
	if want := []string{"e5", "e4"}; !reflect.DeepEqual(rep.Kept, want) {
		t.Errorf("kept %v, want %v", rep.Kept, want)
	}
	if len(rep.InUse) != 1 || rep.InUse[0].Key != "e2" || len(rep.InUse[0].Holders) != 1 || rep.InUse[0].Holders[0].PID != holder.pid() {
		t.Errorf("in use %+v, want e2 held by pid %d", rep.InUse, holder.pid())
	}
	if len(rep.Debris) != 1 || !strings.Contains(rep.Debris[0], ".tmp-e9-") {
		t.Errorf("debris %v", rep.Debris)
	}
	var left []string
	es, _ := c.List()
	for _, e := range es {
		left = append(left, e.Key)
	}
	if want := []string{"e5", "e4", "e2"}; !reflect.DeepEqual(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}

	writeEntry(t, c.Root, "broken2", metaJSON("2025-01-01T00:00:00Z"), false)
	rep, err = c.Clean(CleanOptions{CorruptOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep.Removed, []string{"broken2"}) || len(rep.Kept) != 3 {
		t.Errorf("corrupt-only: %+v", rep)
	}
	if _, err := c.Clean(CleanOptions{Keep: -1}); err == nil {
		t.Error("negative keep accepted")
	}
}

func TestLocks(t *testing.T) {
	c := openCache(t)
	if ls, err := c.Locks(); err != nil || len(ls) != 0 {
		t.Fatalf("no .locks dir: %v %v", ls, err)
	}
	a := startHolder(t, c.LockPath("alpha"), Shared)
	b := startHolder(t, c.LockPath("alpha"), Shared)
	w := startHolder(t, c.LockPath("beta"), Exclusive)
	l, err := c.LockEntry(t.Context(), "gamma", Shared, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock() // gamma: a lockfile nobody holds
	locks := filepath.Join(c.Root, locksDirName)
	if err := os.WriteFile(filepath.Join(locks, "not-a-lock.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Odd entries are listed, not skipped: a symlink, a FIFO, a directory.
	if err := os.Symlink("/etc/passwd", filepath.Join(locks, "planted.lock")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(locks, "pipe.lock"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(locks, "dir.lock"), 0o755); err != nil {
		t.Fatal(err)
	}
	ls, err := c.Locks()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]LockInfo{}
	var names []string
	for _, li := range ls {
		byName[li.Name] = li
		names = append(names, li.Name)
	}
	want := []string{"alpha.gate", "alpha.lock", "beta.gate", "beta.lock", "dir.lock", "gamma.gate", "gamma.lock", "not-a-lock.txt", "pipe.lock", "planted.lock"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	alpha := byName["alpha.lock"]
	pids := holderPIDs(alpha.Holders)
	slices.Sort(pids)
	wantPIDs := []int{a.pid(), b.pid()}
	slices.Sort(wantPIDs)
	if !reflect.DeepEqual(pids, wantPIDs) || alpha.Key != "alpha" || alpha.Kind != LockKindLockfile || alpha.Odd() {
		t.Errorf("alpha: %+v, want holders %v", alpha, wantPIDs)
	}
	beta := byName["beta.lock"]
	if len(beta.Holders) != 1 || beta.Holders[0].PID != w.pid() || beta.Holders[0].Mode != "WRITE" || beta.Path != c.LockPath("beta") {
		t.Errorf("beta: %+v", beta)
	}
	if g := byName["gamma.lock"]; len(g.Holders) != 0 || g.Err != "" || g.Odd() || g.Mode != "0666" || g.Type != "regular file" {
		t.Errorf("gamma: %+v", g)
	}
	if g := byName["gamma.gate"]; g.Kind != LockKindGate || g.Key != "gamma" || g.Odd() {
		t.Errorf("gamma's gate: %+v", g)
	}
	for name, what := range map[string]string{
		"not-a-lock.txt": "not a lockfile name",
		"planted.lock":   `a symbolic link to "/etc/passwd"`,
		"pipe.lock":      "a named pipe, not a regular file",
		"dir.lock":       "a directory, not a regular file",
	} {
		li := byName[name]
		if !li.Odd() || !strings.Contains(strings.Join(li.Problems, "; "), what) {
			t.Errorf("%s: problems %q, want one saying %q", name, li.Problems, what)
		}
	}
	if byName["planted.lock"].Target != "/etc/passwd" {
		t.Errorf("symlink target %q", byName["planted.lock"].Target)
	}
	if _, err := c.LockEntry(t.Context(), "../x", Shared, 0); err == nil {
		t.Error("LockEntry accepted an invalid key")
	}
}
