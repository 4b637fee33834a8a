package testkernel

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func writeEntry(t *testing.T, root, key, version string) string {
	t.Helper()
	dir := filepath.Join(root, key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A small image with a valid header (it boots nothing).
	img, err := os.ReadFile("../kernelimage/testdata/images/bzImage-6.9.0")
	if err != nil {
		t.Fatal(err)
	}
	image := filepath.Join(dir, "bzImage")
	if err := os.WriteFile(image, img, 0o644); err != nil {
		t.Fatal(err)
	}
	meta := `{"version": "` + version + `", "source": {"type": "tarball"}, "arch": "x86_64", "image_name": "bzImage",
  "config_hash": null, "built_at": "2026-01-01T00:00:00Z", "ktstr_kconfig_hash": null, "has_vmlinux": false, "vmlinux_stripped": false}`
	if err := os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	return image
}

// TestAllListsTheTestKernelsCache: KTSTR_TEST_KERNEL naming one entry's
// image lists every entry of that cache; a file outside a cache lists none.
func TestAllListsTheTestKernelsCache(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the synthetic entries are x86_64")
	}
	root := t.TempDir()
	image := writeEntry(t, root, "6.1.0-a", "6.1.0-a")
	writeEntry(t, root, "6.12.0-b", "6.12.0-b")
	t.Setenv("KTSTR_CACHE_DIR", filepath.Join(t.TempDir(), "elsewhere"))
	t.Setenv(EnvTestKernel, image)
	c, err := All()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range c.Entries {
		keys = append(keys, e.Key)
	}
	if c.Root != root || len(keys) != 2 {
		t.Fatalf("All() = root %s, keys %q; want root %s and both entries", c.Root, keys, root)
	}

	lone := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(lone, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvTestKernel, lone)
	if _, err := All(); !errors.Is(err, ErrNone) {
		t.Fatalf("All() with a kernel outside any cache: %v, want ErrNone", err)
	}
}
