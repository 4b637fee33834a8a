package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStoreFilesArePublishedWithTheEntry(t *testing.T) {
	c := openCache(t)
	img, sum := makeImage(t, t.TempDir(), "bzImage", 4096, 1)
	var sawDir string
	e, err := c.Store(context.Background(), "k1", StoreSource{Image: img, Metadata: testMetadata(), Files: func(dir string) error {
		sawDir = dir
		if err := os.MkdirAll(filepath.Join(dir, "modules", "kernel"), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "modules", "modules.dep"), []byte("kernel/a.ko:\n"), 0o644)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(sawDir) != KtestDir || filepath.Dir(sawDir) == e.Dir {
		t.Errorf("Files got %s, want the staging directory's %s", sawDir, KtestDir)
	}
	data, err := os.ReadFile(filepath.Join(e.Dir, KtestDir, "modules", "modules.dep"))
	if err != nil || string(data) != "kernel/a.ko:\n" {
		t.Fatalf("published modules.dep: %q, %v", data, err)
	}
	// ktstr's rules still see a whole, valid entry.
	got, err := c.Lookup("k1")
	if err != nil {
		t.Fatal(err)
	}
	checkEntry(t, got, sum)
}

func TestStoreFilesFailureLeavesNothing(t *testing.T) {
	c := openCache(t)
	img, _ := makeImage(t, t.TempDir(), "bzImage", 4096, 2)
	boom := errors.New("disk full (simulated)")
	_, err := c.Store(context.Background(), "k2", StoreSource{Image: img, Metadata: testMetadata(), Files: func(dir string) error {
		if err := os.WriteFile(filepath.Join(dir, "half"), []byte("x"), 0o644); err != nil {
			return err
		}
		return boom
	}})
	if !errors.Is(err, boom) {
		t.Fatalf("Store: %v, want the Files error", err)
	}
	if _, err := os.Stat(c.EntryDir("k2")); !os.IsNotExist(err) {
		t.Errorf("entry exists after a failed Files: %v", err)
	}
	if d := debrisNames(t, c.Root); len(d) != 0 {
		t.Errorf("debris left: %v", d)
	}
}

func TestStoreLockedUsesTheCallersLock(t *testing.T) {
	c := openCache(t)
	img, sum := makeImage(t, t.TempDir(), "bzImage", 4096, 3)
	ctx := context.Background()
	lock, err := c.LockEntry(ctx, "k3", Exclusive, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	e, err := c.StoreLocked(ctx, lock, "k3", StoreSource{Image: img, Metadata: testMetadata()})
	if err != nil {
		t.Fatal(err)
	}
	checkEntry(t, e, sum)
	// Still held: a second writer cannot get in.
	if l2, err := c.LockEntry(ctx, "k3", Exclusive, 0); err == nil {
		l2.Unlock()
		t.Fatal("StoreLocked released the caller's lock")
	}
	if _, err := c.StoreLocked(ctx, lock, "other", StoreSource{Image: img, Metadata: testMetadata()}); err == nil {
		t.Error("StoreLocked accepted the lock of another key")
	}
	shared, err := c.LockEntry(ctx, "k4", Shared, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Unlock()
	if _, err := c.StoreLocked(ctx, shared, "k4", StoreSource{Image: img, Metadata: testMetadata()}); err == nil {
		t.Error("StoreLocked accepted a shared lock")
	}
}
