package boot

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktest-dev/ktest/internal/kernelimage"
	"github.com/ktest-dev/ktest/kerneltest"
	"github.com/ktest-dev/ktest/vm"
)

// TestMain removes the guest program vm builds for the tests.
func TestMain(m *testing.M) { os.Exit(kerneltest.Main(m)) }

// TestGuestRunsTheKernel boots the kernel and checks that `uname -r` in the
// guest is the release the image says it carries.
func TestGuestRunsTheKernel(t *testing.T) {
	kernel := kerneltest.Kernel(t) // skips without a kernel

	image, err := kernelimage.Inspect(kernel)
	if err != nil {
		t.Fatal(err)
	}
	if image.Release == "" {
		t.Fatalf("%s has no version string in its header (is it an x86 bzImage?)", kernel)
	}

	res := kerneltest.Boot(t, vm.Config{Kernel: kernel, Guest: "./guest"})

	got := reported(t, res.Output, "uname -r")
	if got != image.Release {
		t.Errorf("guest runs kernel release %q, the image header of %s says %q", got, kernel, image.Release)
	}
	if version, ok := cacheVersion(t, kernel); ok {
		if got != version {
			t.Errorf("guest runs kernel release %q, the cache entry's metadata.json says version %q", got, version)
		} else {
			t.Logf("uname -r %q matches the cache entry's metadata.json version", got)
		}
	}
}

// reported returns the value of the guest's "<key>: <value>" output line.
func reported(t *testing.T, output, key string) string {
	t.Helper()
	for line := range strings.Lines(output) {
		if value, ok := strings.CutPrefix(line, key+": "); ok {
			return strings.TrimSpace(value)
		}
	}
	t.Fatalf("guest output has no %q line:\n%s", key+": ", output)
	return ""
}

// cacheVersion returns the "version" of the ktest cache entry holding the
// kernel, if it comes from the cache: ktest then exports the entry's
// directory as KTSTR_KERNEL, and the entry has a metadata.json. A kernel
// given by path (KTSTR_TEST_KERNEL) has no entry, and a null version means
// the cache does not know it.
func cacheVersion(t *testing.T, kernel string) (string, bool) {
	t.Helper()
	dir := os.Getenv("KTSTR_KERNEL")
	if dir == "" || filepath.Dir(kernel) != filepath.Clean(dir) {
		return "", false
	}
	data, err := os.ReadFile(filepath.Join(dir, "metadata.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Version *string `json:"version"`
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		t.Fatalf("parse %s: %v", filepath.Join(dir, "metadata.json"), err)
	}
	if meta.Version == nil {
		t.Logf("cache entry %s records no version; only the image header was compared", dir)
		return "", false
	}
	return *meta.Version, true
}
