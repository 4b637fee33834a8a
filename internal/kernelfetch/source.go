package kernelfetch

import (
	"context"
	"io"
	"io/fs"

	"github.com/ktest-dev/ktest/internal/cache"
)

// A Source provides prebuilt kernels. The Debian archive is one (package
// debian); an OCI registry (ghcr.io/cilium/ci-kernels through
// go-containerregistry) or kernel.org tarballs built locally would be
// others: each resolves a Spec to candidates and downloads one into files
// the Fetcher stores.
type Source interface {
	// Name is the source's short name, e.g. "debian".
	Name() string
	// Cached returns the key of a cache entry that already answers spec
	// without asking the source (an exact package version whose entry
	// exists), or "".
	Cached(entries []cache.Entry, spec Spec) string
	// Resolve returns the candidates for spec, best (the one Fetch takes)
	// first. refresh forces the source to renew what it knows of the
	// archive; otherwise it may answer from its own index.
	Resolve(ctx context.Context, spec Spec, refresh bool) ([]Candidate, error)
	// Download fetches c and unpacks it under work, a new private
	// directory the Fetcher removes afterwards.
	Download(ctx context.Context, c Candidate, work string) (*Unpacked, error)
}

// Candidate is one kernel a Source can provide.
type Candidate struct {
	// Release is the kernel release (what uname -r prints in the guest).
	Release string `json:"release"`
	// Key is the cache key it is stored under.
	Key string `json:"key"`
	// Version is the source's version of it (a Debian package version).
	Version string `json:"version"`
	// Upstream is the kernel version, e.g. 6.12.117 or 7.3-rc7.
	Upstream string `json:"upstream"`
	// Suite is where it comes from (a Debian suite).
	Suite string `json:"suite"`
	// Layout says how it is packaged: "image" (one package with the image
	// and modules) or "split" (linux-binary + linux-modules + linux-base).
	Layout string `json:"layout"`
	// Packages are what Download fetches.
	Packages []PackageRef `json:"packages"`
}

// Size is the number of bytes Download fetches.
func (c Candidate) Size() int64 {
	var n int64
	for _, p := range c.Packages {
		n += p.Size
	}
	return n
}

// PackageRef is one downloadable file of a candidate.
type PackageRef struct {
	Name    string `json:"package"`
	Version string `json:"version"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
}

// Unpacked is a downloaded kernel, ready to store.
type Unpacked struct {
	// Image is the boot image (a bzImage) on disk.
	Image string
	// Config is the kernel's .config on disk, "" if the source has none.
	Config string
	// Modules calls fn for every file of the kernel's module directory
	// (/lib/modules/RELEASE: kernel/..., modules.order, modules.builtin,
	// ...), with its path relative to that directory, its mode bits and its
	// content. The image, config and System.map are not among them.
	Modules func(ctx context.Context, fn func(rel string, mode fs.FileMode, r io.Reader) error) error
	// Downloaded is how many bytes were transferred.
	Downloaded int64
	// Metadata are the source's extra metadata keys (package names and
	// versions, suite, ...), written into metadata.json.
	Metadata map[string]any
}
