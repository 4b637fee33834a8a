package kerneltest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ktest-dev/ktest/internal/kernelimage"
	"github.com/ktest-dev/ktest/internal/testproto"
)

// KernelImage describes the kernel a test runs on.
type KernelImage struct {
	// Path is the image's path, $KTSTR_TEST_KERNEL: absolute under ktest.
	Path string
	// Release is the kernel release, what `uname -r` prints in a guest
	// booted from the image, e.g. "6.1.0-50-cloud-amd64": the one ktest
	// exported, else the version string in the image's header. It is ""
	// for an image whose header has none (an arm64 Image outside ktest).
	Release string
	// CacheKey is the key of the kernel cache entry holding the image
	// (`ktest kernel list` shows it), "" for an image outside the cache.
	CacheKey string
	// EntryDir is that entry's directory, where a fetched kernel keeps
	// ktest/modules and ktest/config; "" for an image outside the cache.
	EntryDir string
}

// Kernel returns the path of the kernel image the test should boot:
// $KTSTR_TEST_KERNEL, which ktest sets to the absolute path of the kernel
// it resolved and locked (and which a user may set by hand to run kernel
// tests with plain go test). It skips and fails as KernelInfo does.
func Kernel(t testing.TB) string {
	t.Helper()
	return KernelInfo(t).Path
}

// KernelInfo describes the kernel the test should boot: its path (as
// Kernel), its release and, for a kernel from the cache, the entry's key
// and directory. Under ktest these are what ktest exported; under plain go
// test with KTSTR_TEST_KERNEL set, the release comes from the image header
// and an image lying in a cache entry (a directory with metadata.json, as
// ktest and ktstr store them) gets that entry's key and directory.
//
// It skips the test, with the SKIP banner as the message and a skip
// sidecar under ktest, when ktest said the tests get no kernel
// (KTEST_UNAVAILABLE: the banner carries ktest's category, reason and
// hints), or when the test runs outside ktest and KTSTR_TEST_KERNEL is
// unset (category no-kernel). It fails the test when KTSTR_TEST_KERNEL is
// set but does not name a kernel image (a wrong path is a mistake to fix,
// never a reason to skip), and when the ktest running the test speaks a
// newer major version of the protocol than this package (the message says
// which versions, and how to update).
func KernelInfo(t testing.TB) KernelImage {
	t.Helper()
	r, err := received()
	var pe *testproto.ProtocolError
	switch {
	case errors.As(err, &pe) && r.Unavailable != nil:
		// ktest said there is no kernel: every version says it in the
		// text form, so the skip stands, with what could not be read.
		u := *r.Unavailable
		skipTest(t, skipSite{category: u.Category, reason: u.Reason,
			hints: append(slices.Clip(unavailableHints(u)), "kerneltest could not read all of ktest's message: "+err.Error())})
	case err != nil:
		t.Fatalf("kerneltest: %v", err)
	case r.Unavailable != nil:
		u := *r.Unavailable
		skipTest(t, skipSite{category: u.Category, reason: u.Reason, errno: u.Errno, hints: unavailableHints(u)})
	case r.Kernel == nil && !r.UnderKtest:
		skipTest(t, skipSite{
			category: testproto.NoKernel,
			reason:   "not run under ktest and " + testproto.EnvTestKernel + " is unset",
			hints: []string{
				"run the tests with ktest, which finds a kernel and exports it: ktest ./...",
				"or name a kernel image for go test: " + testproto.EnvTestKernel + "=/path/to/bzImage go test ./...",
			},
		})
	case r.Kernel == nil:
		skipTest(t, skipSite{
			category: testproto.NoKernel,
			reason:   "ktest exported neither " + testproto.EnvTestKernel + " nor " + testproto.EnvUnavailable,
			hints:    []string{"this ktest and this kerneltest package disagree on the protocol; use matching versions"},
		})
	}
	path := r.Kernel.Path
	info, err := kernelimage.Inspect(path)
	if err != nil {
		hint := ""
		if !filepath.IsAbs(path) && errors.Is(err, fs.ErrNotExist) {
			// go test runs each package's tests in the package directory.
			hint = " (a relative path is resolved against the package directory go test runs in; use an absolute path)"
		}
		t.Fatalf("kernel from $%s: %v%s", testproto.EnvTestKernel, err, hint)
	}
	return describe(path, r, info.Release)
}

// describe says what is known about the kernel image at path: what ktest
// exported when path is the kernel it offered, else what the image and
// its directory show. headerRelease is the release in the image's header
// when the caller has read it; "" makes describe read it.
func describe(path string, r testproto.Received, headerRelease string) KernelImage {
	k := KernelImage{Path: path}
	offered := r.Kernel != nil && r.Kernel.Path == path
	if offered {
		k.Release = r.Kernel.Release
	}
	if k.Release == "" {
		k.Release = headerRelease
	}
	if k.Release == "" {
		if info, err := kernelimage.Inspect(path); err == nil {
			k.Release = info.Release
		}
	}
	dir := filepath.Dir(path)
	switch {
	case offered && !r.Protocol.IsZero():
		// ktest exports the key, and removes it for a kernel outside
		// the cache.
		k.CacheKey = r.Kernel.CacheKey
		if k.CacheKey != "" {
			k.EntryDir = r.Kernel.Dir
		}
	case offered && r.UnderKtest && r.Kernel.Dir != "" && filepath.Clean(r.Kernel.Dir) != dir:
		// A ktest of the unversioned protocol exports the entry's
		// directory as KTSTR_KERNEL; a different one means the image is
		// not in an entry.
	case isCacheEntry(dir):
		k.CacheKey = filepath.Base(dir)
		k.EntryDir = dir
	}
	return k
}

// isCacheEntry reports whether dir looks like a kernel cache entry: a
// directory with metadata.json, named after its key (docs/spec.md §7).
func isCacheEntry(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "metadata.json"))
	return err == nil && st.Mode().IsRegular()
}

// unavailableHints are the hints of a skip ktest announced: ktest's own
// (the run-level banner's), or, from a ktest that sent none, short ones by
// category.
func unavailableHints(u testproto.Unavailable) []string {
	if len(u.Hints) > 0 {
		return u.Hints
	}
	switch u.Category {
	case testproto.NoKernel:
		return []string{"add a kernel to the cache (ktest kernel add <image>), set KTSTR_TEST_KERNEL=/path/to/bzImage, or pass --kernel"}
	case testproto.NoKVM:
		return []string{"KVM is absent or not permitted here; ktest doctor shows what it needs"}
	case testproto.Contention:
		return []string{"the host was short of a resource at the time; it is transient, so retry the run"}
	}
	return nil
}

// String is the image path with its release and cache key, for logs.
func (k KernelImage) String() string {
	s := k.Path
	if k.Release != "" {
		s += " (release " + k.Release
		if k.CacheKey != "" {
			s += ", cache entry " + k.CacheKey
		}
		s += ")"
	} else if k.CacheKey != "" {
		s += fmt.Sprintf(" (cache entry %s)", k.CacheKey)
	}
	return s
}
