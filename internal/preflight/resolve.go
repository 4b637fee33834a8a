package preflight

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/kernelimage"
	"github.com/ktest-dev/ktest/internal/termtext"
)

// Where a kernel was found (Kernel.Source).
const (
	SourceFlag       = "--kernel"
	SourceTestKernel = "KTSTR_TEST_KERNEL"
	SourceKernelID   = "KTSTR_KERNEL"
	SourceCache      = "cache"
	SourceBuildTree  = "build-tree"
	SourceHost       = "host"
)

// Kernel is a resolved, validated kernel image.
type Kernel struct {
	// Path is the image's absolute path.
	Path string `json:"path"`
	// Source is where it was found: --kernel, KTSTR_TEST_KERNEL,
	// KTSTR_KERNEL, cache, build-tree or host.
	Source string `json:"source"`
	// Entry is the cache entry holding the image, when it lies in one; the
	// run takes LOCK_SH on it.
	Entry *cache.Entry `json:"cache_entry,omitempty"`
	// Dir is exported as KTSTR_KERNEL: the cache entry's directory, or the
	// image's directory.
	Dir   string           `json:"dir"`
	Image kernelimage.Info `json:"image"`
}

// ResolveStep is one place resolution looked, for `ktest doctor`.
type ResolveStep struct {
	Source    string `json:"source"`
	Candidate string `json:"candidate"`
	// Outcome says what was found: "used", or why it was passed over.
	Outcome string `json:"outcome"`
}

// Resolution is the outcome of ResolveKernel: the kernel (nil when none was
// found) and every step tried, in order.
type Resolution struct {
	Kernel *Kernel       `json:"kernel"`
	Steps  []ResolveStep `json:"steps"`
	Cache  string        `json:"cache_root"`
	// Warnings are problems resolution stepped around, e.g. a newer cache
	// entry skipped because its image is corrupt; the run prints them.
	Warnings []string `json:"warnings,omitempty"`
}

// ResolveOptions are the inputs of kernel resolution.
type ResolveOptions struct {
	// ID is --kernel's value ("" when not given).
	ID string
	// Getenv reads KTSTR_TEST_KERNEL, KTSTR_KERNEL, HOME and the cache
	// variables; nil means os.Getenv.
	Getenv func(string) string
	// Dir is the directory build trees are looked for from ("" = cwd).
	Dir string
	// HostRoot relocates /boot and /lib/modules for tests ("" = /).
	HostRoot string
	// Release is `uname -r` ("" = this host's).
	Release string
}

// KernelUnavailableError reports that no kernel was found anywhere. The run
// pipeline turns it into a no-kernel SKIP; it is not a hard error.
type KernelUnavailableError struct {
	Reason string
	Hints  []string
}

func (e *KernelUnavailableError) Error() string { return e.Reason }

var versionID = regexp.MustCompile(`^\d+\.\d+(\.\d+)?(-rc\d+)?$`)

// IsVersionID reports whether a kernel ID has docs/spec.md §5's version form,
// MAJOR.MINOR[.PATCH][-rcN], and so selects cache entries by their
// metadata version.
func IsVersionID(id string) bool { return versionID.MatchString(id) }

// noKernelHints are the hints of a no-kernel SKIP (docs/spec.md §5).
var noKernelHints = []string{
	"add one to the cache: ktest kernel fetch 6.12 (a Debian kernel), or ktest kernel add <image>",
	"or point at an image: KTSTR_TEST_KERNEL=/path/to/bzImage",
	"or pass --kernel PATH|VERSION|KEY",
}

// ResolveKernel finds the kernel in the order of docs/spec.md §5: --kernel,
// KTSTR_TEST_KERNEL, KTSTR_KERNEL, the newest valid cache entry, build trees
// (./linux, ../linux), then host images. An explicit choice (the first three)
// that does not resolve is a hard error and never falls back. Finding
// nothing is *KernelUnavailableError. Every image is validated first.
func ResolveKernel(opts ResolveOptions) (Resolution, error) {
	r := &resolver{opts: opts, getenv: opts.Getenv}
	if r.getenv == nil {
		r.getenv = os.Getenv
	}
	k, err := r.resolve()
	res := Resolution{Kernel: k, Steps: r.steps, Warnings: r.warnings}
	if r.cache != nil {
		res.Cache = r.cache.Root
	}
	return res, err
}

type resolver struct {
	opts     ResolveOptions
	getenv   func(string) string
	steps    []ResolveStep
	warnings []string
	cache    *cache.Cache
	cacheErr error
	opened   bool
}

func (r *resolver) step(source, candidate, outcome string) {
	r.steps = append(r.steps, ResolveStep{Source: source, Candidate: candidate, Outcome: outcome})
}

func (r *resolver) resolve() (*Kernel, error) {
	if id := r.opts.ID; id != "" {
		return r.explicitID(SourceFlag, id)
	}
	if path, set := r.lookup(SourceTestKernel); set {
		k, err := r.imagePath(SourceTestKernel, path)
		if err != nil {
			return nil, hint.Wrap(fmt.Errorf("KTSTR_TEST_KERNEL=%s: %w", termtext.Quote(path), err),
				"set KTSTR_TEST_KERNEL to a kernel image (bzImage or arm64 Image), or unset it to let ktest find one")
		}
		return k, nil
	}
	if id, set := r.lookup(SourceKernelID); set {
		return r.explicitID(SourceKernelID, id)
	}
	if k, err := r.newestCacheEntry(); k != nil || err != nil {
		return k, err
	}
	if k, err := r.buildTrees(); k != nil || err != nil {
		return k, err
	}
	if k, err := r.hostImages(); k != nil || err != nil {
		return k, err
	}
	return nil, &KernelUnavailableError{Reason: r.nothingFoundReason(), Hints: noKernelHints}
}

// lookup reads an environment variable; set is false when it is empty.
func (r *resolver) lookup(name string) (string, bool) {
	v := r.getenv(name)
	return v, v != ""
}

// explicitID resolves an ID the user chose: a path, a version or a key.
func (r *resolver) explicitID(source, id string) (*Kernel, error) {
	what := fmt.Sprintf("%s %s", source, termtext.Quote(id))
	if source == SourceKernelID {
		what = fmt.Sprintf("KTSTR_KERNEL=%s", termtext.Quote(id))
	}
	switch {
	case isPathID(id):
		k, err := r.imagePath(source, expandHome(id, r.getenv("HOME")))
		if err != nil {
			return nil, hint.Wrap(fmt.Errorf("%s: %w", what, err), "give the path of a kernel image (bzImage or arm64 Image), a cache entry directory, or a kernel build tree")
		}
		return k, nil
	case IsVersionID(id):
		return r.cacheVersion(source, what, id)
	default:
		return r.cacheKey(source, what, id)
	}
}

// isPathID: an ID is a path if it contains / or starts with . or ~ (docs/spec.md §5).
func isPathID(id string) bool {
	return strings.Contains(id, "/") || strings.HasPrefix(id, ".") || strings.HasPrefix(id, "~")
}

func expandHome(p, home string) string {
	if home == "" {
		return p
	}
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}

// imagePath resolves a path the user named: an image file, a cache entry
// directory, or a build tree. The path is canonicalised (symlinks resolved)
// before it is compared with the cache root, so an image reached through a
// symlink into a cache entry is locked like the entry itself.
func (r *resolver) imagePath(source, path string) (*Kernel, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolve path %s: %w", path, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	if st, err := os.Stat(abs); err == nil && st.IsDir() {
		if _, err := os.Stat(filepath.Join(abs, cache.MetadataFile)); err == nil {
			if c := r.openCache(); c != nil && filepath.Dir(abs) == canonicalRoot(c) {
				e, err := c.Lookup(filepath.Base(abs))
				if err != nil {
					r.step(source, abs, err.Error())
					return nil, err
				}
				return r.validate(source, e.ImagePath(), &e)
			}
			e := cache.Entry{Key: filepath.Base(abs), Dir: abs}
			return r.validate(source, e.ImagePath(), nil)
		}
		for _, rel := range buildTreeImages {
			img := filepath.Join(abs, rel)
			if _, err := os.Stat(img); err == nil {
				return r.validate(source, img, nil)
			}
		}
		r.step(source, abs, "a directory with no kernel image in it")
		return nil, fmt.Errorf("%s is a directory with no kernel image (looked for metadata.json, %s)", abs, strings.Join(buildTreeImages, ", "))
	}
	return r.validate(source, abs, r.entryContaining(abs))
}

// validate inspects the image and builds the Kernel.
func (r *resolver) validate(source, path string, entry *cache.Entry) (*Kernel, error) {
	info, err := kernelimage.Inspect(path)
	if err != nil {
		r.step(source, path, err.Error())
		return nil, err
	}
	r.step(source, path, "used")
	k := &Kernel{Path: path, Source: source, Entry: entry, Dir: filepath.Dir(path), Image: info}
	if entry != nil {
		k.Dir = entry.Dir
	}
	return k, nil
}

// entryContaining returns the cache entry an image path lies in, if any, so
// that a kernel named by path is still locked while in use.
func (r *resolver) entryContaining(path string) *cache.Entry {
	c := r.openCache()
	if c == nil {
		return nil
	}
	rel, err := filepath.Rel(canonicalRoot(c), path)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil
	}
	key, _, _ := strings.Cut(rel, string(filepath.Separator))
	if strings.HasPrefix(key, ".") {
		return nil
	}
	e, err := c.Lookup(key)
	if err != nil {
		return nil
	}
	return &e
}

// canonicalRoot is the cache root with symlinks resolved, as image paths
// are before they are compared with it (the root itself when it does not
// exist yet).
func canonicalRoot(c *cache.Cache) string {
	if real, err := filepath.EvalSymlinks(c.Root); err == nil {
		return real
	}
	return c.Root
}

// openCache opens the cache read-only once. Its error is kept for the steps
// that need the cache.
func (r *resolver) openCache() *cache.Cache {
	if r.opened {
		return r.cache
	}
	r.opened = true
	root, err := cache.RootFromEnv(r.getenv)
	if err == nil {
		r.cache, err = cache.OpenReadOnly(root)
	}
	r.cacheErr = err
	return r.cache
}

func (r *resolver) cacheVersion(source, what, version string) (*Kernel, error) {
	c := r.openCache()
	if c == nil {
		return nil, fmt.Errorf("%s: %w", what, r.cacheErr)
	}
	entries, err := c.List()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// The newest matching version, not the newest built_at: a 6.12.95
	// fetched after 6.12.117 does not win; another architecture's entry
	// never does.
	best, seen := NewestWithVersion(entries, version)
	if best != nil {
		return r.validate(source, best.ImagePath(), best)
	}
	r.step(source, version, "no cache entry has this version")
	msg := fmt.Errorf("%s: no cache entry in %s has version %s", what, c.Root, version)
	if len(seen) > 0 {
		msg = fmt.Errorf("%w (cached versions: %s)", msg, strings.Join(seen, ", "))
	}
	return nil, hint.Wrap(msg, "ktest kernel list shows what is cached; ktest kernel add <image> adds one")
}

// VersionMatches reports whether a cache entry's version v matches the
// version ID want: exactly, or as a prefix ending at a version component,
// so 6.1 matches 6.1.0-56-cloud-amd64 but not 6.10.2.
func VersionMatches(v, want string) bool {
	if !strings.HasPrefix(v, want) {
		return false
	}
	rest := v[len(want):]
	return rest == "" || rest[0] == '.' || rest[0] == '-' || rest[0] == '+'
}

func (r *resolver) cacheKey(source, what, key string) (*Kernel, error) {
	if err := cache.ValidateKey(key); err != nil {
		return nil, hint.Wrap(fmt.Errorf("%s: not a path, a version (MAJOR.MINOR[.PATCH][-rcN]) or a valid cache key: %w", what, err),
			"paths must contain / or start with . or ~, e.g. ./bzImage")
	}
	c := r.openCache()
	if c == nil {
		return nil, fmt.Errorf("%s: %w", what, r.cacheErr)
	}
	e, err := c.Lookup(key)
	if err != nil {
		r.step(source, key, err.Error())
		if errors.Is(err, cache.ErrNotFound) {
			return nil, hint.Wrap(fmt.Errorf("%s: no such cache entry in %s", what, c.Root),
				"ktest kernel list shows the cached keys")
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return r.validate(source, e.ImagePath(), &e)
}

// newestCacheEntry picks the newest valid entry for this host's arch.
func (r *resolver) newestCacheEntry() (*Kernel, error) {
	c := r.openCache()
	if c == nil {
		return nil, hint.Wrap(fmt.Errorf("kernel cache: %w", r.cacheErr),
			"fix the cache location (KTSTR_CACHE_DIR, XDG_CACHE_HOME or HOME), or pass --kernel PATH")
	}
	entries, err := c.List()
	if err != nil {
		return nil, err
	}
	arch := cache.HostArch()
	var corrupt []cache.Entry // corrupt entries, which List sorts after the valid ones
	for _, e := range entries {
		if !e.Valid() {
			corrupt = append(corrupt, e)
		}
	}
	for _, e := range entries {
		switch {
		case !e.Valid():
			r.step(SourceCache, e.Dir, fmt.Sprintf("skipped: %s: %s", e.Problem.Kind, e.Problem.Reason))
			continue
		case e.Metadata.Arch != arch:
			r.step(SourceCache, e.Dir, fmt.Sprintf("skipped: arch %s, host is %s", e.Metadata.Arch, arch))
			continue
		}
		e := e
		k, err := r.validate(SourceCache, e.ImagePath(), &e)
		if err != nil {
			// The header check of List passed but the full inspection
			// did not: skip this entry too rather than fail every run.
			r.warnSkipped(e, err.Error())
			continue
		}
		// A corrupt entry built after the one chosen would have been
		// used: say why it was not.
		for _, ce := range corrupt {
			if ce.Metadata != nil && ce.Metadata.BuiltAt > e.Metadata.BuiltAt && ce.Metadata.Arch == arch {
				r.warnSkipped(ce, fmt.Sprintf("%s: %s", ce.Problem.Kind, ce.Problem.Reason))
			}
		}
		return k, nil
	}
	for _, ce := range corrupt {
		if ce.Metadata != nil && ce.Metadata.Arch == arch {
			r.warnSkipped(ce, fmt.Sprintf("%s: %s", ce.Problem.Kind, ce.Problem.Reason))
		}
	}
	if len(entries) == 0 {
		r.step(SourceCache, c.Root, "no entries")
	}
	return nil, nil
}

// warnSkipped records that a cache entry that would have been used was
// skipped, and why.
func (r *resolver) warnSkipped(e cache.Entry, why string) {
	r.warnings = append(r.warnings, fmt.Sprintf("skipped cache entry %q (built %s): %s; remove it with ktest kernel clean --corrupt-only (or ktest kernel rm %s)",
		e.Key, e.Metadata.BuiltAt, why, e.Key))
}

// buildTreeImages are where kernel builds leave their images.
var buildTreeImages = []string{"arch/x86/boot/bzImage", "arch/arm64/boot/Image"}

func (r *resolver) buildTrees() (*Kernel, error) {
	dir := r.opts.Dir
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return nil, fmt.Errorf("find build trees: %w", err)
		}
	}
	for _, tree := range []string{filepath.Join(dir, "linux"), filepath.Join(filepath.Dir(dir), "linux")} {
		for _, rel := range buildTreeImages {
			img := filepath.Join(tree, rel)
			if _, err := os.Stat(img); err != nil {
				r.step(SourceBuildTree, img, "not found")
				continue
			}
			return r.validate(SourceBuildTree, img, nil)
		}
	}
	return nil, nil
}

func (r *resolver) hostImages() (*Kernel, error) {
	release := r.opts.Release
	if release == "" {
		release = hostRelease()
	}
	root := r.opts.HostRoot
	if root == "" {
		root = "/"
	}
	for _, p := range []string{
		filepath.Join("/lib/modules", release, "vmlinuz"),
		filepath.Join("/boot", "vmlinuz-"+release),
		"/boot/vmlinuz",
	} {
		img := filepath.Join(root, p)
		f, err := os.Open(img)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			r.step(SourceHost, img, "not found")
			continue
		case errors.Is(err, fs.ErrPermission):
			// Distributions often make /boot images root-only; that is
			// a reason to look further, not to fail the run.
			r.step(SourceHost, img, "not readable (permission denied)")
			continue
		case err != nil:
			r.step(SourceHost, img, err.Error())
			continue
		}
		f.Close()
		return r.validate(SourceHost, img, nil)
	}
	return nil, nil
}

// nothingFoundReason names where resolution looked, and any image it found
// but could not read, which is the likeliest fix.
func (r *resolver) nothingFoundReason() string {
	where := "the kernel cache"
	if r.cache != nil {
		where += " (" + r.cache.Root + ")"
	}
	reason := "no kernel image found in " + where + ", ./linux, ../linux, /lib/modules or /boot"
	for _, s := range r.steps {
		if strings.HasPrefix(s.Outcome, "not readable") {
			reason += "; " + s.Candidate + " exists but is " + s.Outcome
		}
	}
	return reason
}
