// Package debian is ktest's kernel source for Debian's archive: it resolves
// a SPEC against the kernel packages of a few suites and downloads them
// with apt-get under a private apt configuration, which verifies the
// archive's signatures (signed-by the Debian archive keyring) and every
// file's hash as apt always does.
package debian

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/dpkgversion"
	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/kernelfetch"
)

// Defaults of Config.
const (
	DefaultMirror  = "http://deb.debian.org/debian"
	DefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
	// DefaultTTL is how long the kernel package index answers without a
	// new apt-get update. Debian's archive changes a few times a day; a
	// fetch of a version the index does not know updates it at once.
	DefaultTTL = 24 * time.Hour
)

// DefaultSuites are the suites a fetch looks in, oldest first: the Debian
// mirror serves 6.1.x in bookworm, 6.12.x in bookworm-backports and trixie,
// the newest release in sid and release candidates in experimental.
var DefaultSuites = []string{"bookworm", "bookworm-backports", "trixie", "sid", "experimental"}

// Environment variables read by ConfigFromEnv.
const (
	// EnvMirror replaces DefaultMirror (tests serve a signed archive on
	// loopback; a user may name a closer mirror).
	EnvMirror = "KTEST_DEBIAN_MIRROR"
	// EnvKeyring replaces DefaultKeyring: the keyring the archive must be
	// signed with.
	EnvKeyring = "KTEST_DEBIAN_KEYRING"
	// EnvMinValid is a duration (e.g. 60d, 720h): accept Release files up
	// to that age even after their Valid-Until, for a frozen mirror or a
	// snapshot you trust (apt's Acquire::Min-ValidTime). Unset, apt's rule
	// holds and an expired Release is an error.
	EnvMinValid = "KTEST_APT_MIN_VALID_TIME"
)

// Config configures the Debian source.
type Config struct {
	Mirror  string
	Keyring string
	Suites  []string
	// Arch is the Debian architecture (amd64) and Flavour the kernel
	// flavour (cloud-amd64: small, virtio drivers built in or as modules).
	Arch, Flavour string
	// Dir is the private apt directory; its parents below CacheBase are
	// checked too (see ensurePrivateDirs).
	Dir, CacheBase string
	TTL            time.Duration
	MinValidTime   time.Duration
	// AptGet and DpkgDeb are the binaries (found in PATH by New).
	AptGet, DpkgDeb string
	// Live, when set, is the terminal apt draws its progress on.
	Live io.Writer
	// Notes receives one-line notes (what is being updated or downloaded).
	Notes io.Writer
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// ConfigFromEnv returns the default configuration with the environment's
// overrides: the mirror, keyring and minimum Release validity, and the
// private apt directory cache.UserCacheHome()/ktest/apt (lookupenv is
// usually os.LookupEnv).
func ConfigFromEnv(lookupenv func(string) (string, bool)) (*Config, error) {
	getenv := func(k string) string { v, _ := lookupenv(k); return v }
	cfg := &Config{
		Mirror:  DefaultMirror,
		Keyring: DefaultKeyring,
		Suites:  slices.Clone(DefaultSuites),
		TTL:     DefaultTTL,
	}
	if v := getenv(EnvMirror); v != "" {
		if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "file:/") {
			return nil, fmt.Errorf("%s=%q: want an http://, https:// or file:/ URL of a Debian archive", EnvMirror, v)
		}
		cfg.Mirror = strings.TrimRight(v, "/")
	}
	if v := getenv(EnvKeyring); v != "" {
		abs, err := filepath.Abs(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKeyring, err)
		}
		cfg.Keyring = abs
	}
	if v := getenv(EnvMinValid); v != "" {
		d, err := parseDays(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s=%q: want a positive duration such as 60d or 720h", EnvMinValid, v)
		}
		cfg.MinValidTime = d
	}
	base, err := cache.UserCacheHome(lookupenv)
	if err != nil {
		return nil, fmt.Errorf("find the cache directory for ktest's apt state: %w", err)
	}
	cfg.CacheBase = base
	cfg.Dir = filepath.Join(base, "ktest", "apt")
	return cfg, nil
}

// parseDays is time.ParseDuration plus a "d" (24h) unit.
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := time.ParseDuration(n + "h")
		return d * 24, err
	}
	return time.ParseDuration(s)
}

// UnsupportedError says this host cannot use the Debian source, and how to
// get a kernel into the cache by hand instead.
type UnsupportedError struct{ Reason string }

func (e *UnsupportedError) Error() string {
	return "kernel fetch: " + e.Reason + "; ktest kernel fetch downloads Debian kernel packages with apt-get and dpkg-deb, so it works on Debian and Ubuntu (and derivatives) with the debian-archive-keyring package installed, on x86-64"
}

// Hints say how to add a kernel without fetch.
func (e *UnsupportedError) Hints() []string {
	return []string{
		"add a kernel by hand: ktest kernel add /boot/vmlinuz-$(uname -r), or one you built: ktest kernel add linux/arch/x86/boot/bzImage",
		"or point a run at an image without caching it: KTSTR_TEST_KERNEL=/path/to/bzImage ktest ./...",
	}
}

// Source is the Debian archive as a kernelfetch.Source.
type Source struct{ cfg *Config }

// New checks that this host can use the Debian source (x86-64, apt-get,
// dpkg-deb, the archive keyring) and returns it; otherwise an
// *UnsupportedError.
func New(cfg *Config) (*Source, error) {
	if runtime.GOARCH != "amd64" {
		return nil, &UnsupportedError{Reason: fmt.Sprintf("this host is %s, and only x86-64 (amd64) kernels are fetched for now", runtime.GOARCH)}
	}
	if cfg.Arch == "" {
		cfg.Arch = "amd64"
	}
	if cfg.Flavour == "" {
		cfg.Flavour = "cloud-" + cfg.Arch
	}
	for _, tool := range []struct {
		dst  *string
		name string
	}{{&cfg.AptGet, "apt-get"}, {&cfg.DpkgDeb, "dpkg-deb"}} {
		if *tool.dst != "" {
			continue
		}
		p, err := exec.LookPath(tool.name)
		if err != nil {
			return nil, &UnsupportedError{Reason: tool.name + " is not installed (not found in PATH)"}
		}
		*tool.dst = p
	}
	st, err := os.Stat(cfg.Keyring)
	if err != nil || !st.Mode().IsRegular() {
		return nil, hint.Wrap(&UnsupportedError{Reason: fmt.Sprintf("the Debian archive keyring %s is missing", cfg.Keyring)},
			"install it: sudo apt-get install debian-archive-keyring (or set "+EnvKeyring+" to a keyring file)")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Notes == nil {
		cfg.Notes = io.Discard
	}
	return &Source{cfg: cfg}, nil
}

// Name is "debian".
func (s *Source) Name() string { return "debian" }

// Metadata keys the source writes (ktstr ignores them).
const (
	MetaPackages = "deb_packages" // [{"package","version","sha256","size"}]
	MetaVersion  = "deb_version"  // the image package's version
	MetaSuite    = "deb_suite"
	MetaMirror   = "deb_mirror"
)

// Cached finds the entry of an exact package version in the cache by its
// metadata alone (or by the key form, for entries scripts/fetch-kernel.sh
// made, which carry no deb_version).
func (s *Source) Cached(entries []cache.Entry, spec kernelfetch.Spec) string {
	if spec.Kind != kernelfetch.SpecPackageVersion {
		return ""
	}
	suffix := kernelfetch.DebianKey("", spec.Raw)
	for _, e := range entries {
		if !e.Valid() || e.Metadata.Arch != cache.HostArch() {
			continue
		}
		if v, ok := e.Metadata.ExtraString(MetaVersion); ok && v == spec.Raw {
			return e.Key
		}
		if strings.HasSuffix(e.Key, suffix) && strings.HasSuffix(e.Key, "-"+s.cfg.Flavour+suffix) {
			return e.Key
		}
	}
	return ""
}

// Resolve returns the candidates for spec, newest first.
func (s *Source) Resolve(ctx context.Context, spec kernelfetch.Spec, refresh bool) ([]kernelfetch.Candidate, error) {
	if spec.Kind == kernelfetch.SpecSuite && !slices.Contains(s.cfg.Suites, spec.Raw) {
		msg := fmt.Errorf("unknown suite %q: ktest fetches from %s", spec.Raw, strings.Join(s.cfg.Suites, ", "))
		return nil, hint.Wrap(msg, "give one of those suites, a kernel version (6.1, 6.12, 7.3-rc) or a package version (6.1.176-1); ktest kernel fetch --list 6 shows what exists")
	}
	ix := loadIndex(filepath.Join(s.cfg.Dir, indexName))
	updated := false
	if refresh || !ix.fresh(s.cfg, s.cfg.Now()) {
		var err error
		if ix, err = s.update(ctx); err != nil {
			return nil, err
		}
		updated = true
	}
	cands := s.candidates(ix, spec)
	if len(cands) == 0 && !updated {
		// The index may predate the version asked for.
		var err error
		if ix, err = s.update(ctx); err != nil {
			return nil, err
		}
		cands = s.candidates(ix, spec)
	}
	if len(cands) == 0 {
		return nil, s.notFound(ix, spec)
	}
	return cands, nil
}

// notFound explains a spec nothing matched: what exists, and which suites
// could not be read.
func (s *Source) notFound(ix *Index, spec kernelfetch.Spec) error {
	var have []string
	for _, c := range s.candidates(ix, kernelfetch.Spec{Raw: "", Kind: 0}) {
		have = append(have, c.Upstream+" ("+c.Version+", "+c.Suite+")")
	}
	msg := fmt.Sprintf("no %s kernel package matches %s %q in %s", s.cfg.Flavour, spec.Kind, spec.Raw, s.cfg.Mirror)
	if spec.Kind == kernelfetch.SpecSuite {
		msg = fmt.Sprintf("suite %s of %s has no %s kernel package", spec.Raw, s.cfg.Mirror, s.cfg.Flavour)
	}
	var bad []string
	for _, name := range s.cfg.Suites {
		if si := ix.Suites[name]; si != nil && si.Error != "" {
			bad = append(bad, name+": "+si.Error)
		}
	}
	if len(bad) > 0 {
		msg += "; suites that could not be read: " + strings.Join(bad, "; ")
	}
	hints := []string{"ktest kernel fetch --list 6 (or 7) lists every kernel the archive has"}
	if len(have) > 0 {
		hints = append([]string{"available: " + strings.Join(have, ", ")}, hints...)
	}
	if len(bad) > 0 {
		hints = append(hints, badSuiteHints(bad)...)
	}
	return hint.Wrap(errors.New(msg), hints...)
}

// badSuiteHints turns apt's complaints into what to do about them, one
// hint per kind of problem found.
func badSuiteHints(bad []string) []string {
	all := strings.Join(bad, " ")
	has := func(subs ...string) bool {
		for _, sub := range subs {
			if strings.Contains(all, sub) {
				return true
			}
		}
		return false
	}
	var hints []string
	if has("is expired") {
		hints = append(hints, "the archive's Release file is past its Valid-Until; if this is a frozen mirror or snapshot you trust, set "+EnvMinValid+"=60d")
	}
	if has("NO_PUBKEY", "BADSIG", "is not signed", "signatures were invalid", "signature verification") {
		hints = append(hints, "the archive's signature did not verify against the keyring: check the mirror (KTEST_DEBIAN_MIRROR), the keyring (KTEST_DEBIAN_KEYRING) and the clock")
	}
	if has("does not have a Release file", " 404 ", "404  Not Found") {
		hints = append(hints, "the mirror does not have that suite (an old or partial mirror?); choose another suite or mirror")
	}
	if has("Could not connect", "Unable to connect", "Could not resolve", "Temporary failure resolving", "Connection refused", "Connection timed out", "timed out") {
		hints = append(hints, aptTimeoutHint)
	}
	return hints
}

// isImagePackage returns the release of a versioned image package of the
// flavour (linux-image-6.1.0-50-cloud-amd64 → 6.1.0-50-cloud-amd64); metas
// (linux-image-cloud-amd64), debug and unsigned packages are not.
func (s *Source) isImagePackage(name string) (string, bool) {
	rel, ok := strings.CutPrefix(name, "linux-image-")
	if !ok || !strings.HasSuffix(rel, "-"+s.cfg.Flavour) || rel == "" || rel[0] < '0' || rel[0] > '9' {
		return "", false
	}
	return rel, true
}

// candidates matches spec against the index. A zero spec (Kind 0) matches
// every kernel, for listings.
func (s *Source) candidates(ix *Index, spec kernelfetch.Spec) []kernelfetch.Candidate {
	var out []kernelfetch.Candidate
	seen := map[string]bool{}
	for _, suite := range ix.usable(s.cfg) {
		si := ix.Suites[suite]
		metaPick := ""
		if spec.Kind == kernelfetch.SpecSuite {
			if suite != spec.Raw {
				continue
			}
			metaPick = s.metaChoice(si)
		}
		for _, p := range si.Packages {
			rel, ok := s.isImagePackage(p.Name)
			if !ok {
				continue
			}
			up := dpkgversion.Upstream(p.Version)
			switch spec.Kind {
			case kernelfetch.SpecLine:
				ok = spec.MatchesUpstream(up)
			case kernelfetch.SpecSuite:
				ok = metaPick == "" || metaPick == p.Name+"="+p.Version
			case kernelfetch.SpecPackageVersion:
				ok = p.Version == spec.Raw
			case kernelfetch.SpecRelease:
				ok = rel == spec.Raw
			}
			if !ok {
				continue
			}
			c, ok := s.candidate(si, suite, rel, p)
			if !ok || seen[c.Key] {
				continue
			}
			seen[c.Key] = true
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b kernelfetch.Candidate) int { return dpkgversion.Compare(b.Version, a.Version) })
	return out
}

// metaChoice returns "name=version" of the image package the suite's meta
// package (linux-image-FLAVOUR) depends on, or "".
func (s *Source) metaChoice(si *SuiteIndex) string {
	best := ""
	bestVer := ""
	for _, p := range si.Packages {
		if p.Name != "linux-image-"+s.cfg.Flavour || (bestVer != "" && dpkgversion.Compare(p.Version, bestVer) <= 0) {
			continue
		}
		for _, alts := range ParseDepends(p.Depends) {
			for _, r := range alts {
				if _, ok := s.isImagePackage(r.Name); ok && r.Op == "=" {
					best, bestVer = r.Name+"="+r.Version, p.Version
				}
			}
		}
	}
	return best
}

// candidate builds the candidate of image package p: the image package
// alone, or (from 7.x) the linux-binary, linux-modules and linux-base
// packages it depends on.
func (s *Source) candidate(si *SuiteIndex, suite, rel string, p Package) (kernelfetch.Candidate, bool) {
	c := kernelfetch.Candidate{
		Release: rel, Version: p.Version, Upstream: dpkgversion.Upstream(p.Version), Suite: suite,
		Key: kernelfetch.DebianKey(rel, p.Version), Layout: "image",
	}
	split := false
	for _, alts := range ParseDepends(p.Depends) {
		for _, r := range alts {
			split = split || r.Name == "linux-binary-"+rel
		}
	}
	if !split {
		c.Packages = []kernelfetch.PackageRef{ref(p)}
		return c, true
	}
	c.Layout = "split"
	for _, prefix := range []string{"linux-binary-", "linux-modules-", "linux-base-"} {
		dp, ok := si.find(prefix+rel, p.Version)
		if !ok {
			if prefix == "linux-binary-" {
				return c, false // the image itself is missing: not fetchable
			}
			continue
		}
		c.Packages = append(c.Packages, ref(dp))
	}
	return c, true
}

func ref(p Package) kernelfetch.PackageRef {
	return kernelfetch.PackageRef{Name: p.Name, Version: p.Version, Size: p.Size, SHA256: p.SHA256}
}

// List returns every kernel of the index matching spec (all of them for a
// zero spec), updating the index when it is stale or refresh is set.
func (s *Source) List(ctx context.Context, spec kernelfetch.Spec, refresh bool) ([]kernelfetch.Candidate, error) {
	return s.Resolve(ctx, spec, refresh)
}

// Download fetches c's packages into work with apt-get download, checks
// each file's SHA-256 against the index (apt has checked it against the
// signed Packages index already) and unpacks the image and config.
func (s *Source) Download(ctx context.Context, c kernelfetch.Candidate, work string) (*kernelfetch.Unpacked, error) {
	if err := s.prepare(); err != nil {
		return nil, err
	}
	lock, err := cache.AcquireLock(ctx, filepath.Join(s.cfg.Dir, aptLockName), cache.Shared, 10*time.Minute, "ktest's apt state")
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", c.Key, err)
	}
	defer lock.Unlock()
	args := []string{"download"}
	var total int64
	for _, p := range c.Packages {
		args = append(args, p.Name+"="+p.Version)
		total += p.Size
	}
	fmt.Fprintf(s.cfg.Notes, "ktest: downloading %s %s from %s %s (%s)\n", c.Release, c.Version, s.cfg.Mirror, c.Suite, kernelfetch.HumanBytes(total))
	run := &aptRunner{aptGet: s.cfg.AptGet, dir: s.cfg.Dir, live: s.cfg.Live}
	if _, err := run.run(ctx, work, args...); err != nil {
		return nil, downloadError(err)
	}
	files, err := matchDownloads(work, c.Packages)
	if err != nil {
		return nil, err
	}
	u := &kernelfetch.Unpacked{Downloaded: total, Metadata: map[string]any{
		MetaPackages: c.Packages, MetaVersion: c.Version, MetaSuite: c.Suite, MetaMirror: s.cfg.Mirror,
	}}
	// The image and config come first in the image and binary packages'
	// archives, so the walk stops early; the modules are read later, once,
	// straight into the cache entry.
	u.Image = filepath.Join(work, "vmlinuz")
	u.Config = filepath.Join(work, "config")
	var moduleDebs []string
	for _, p := range c.Packages {
		deb := files[p.Name]
		if !strings.HasPrefix(p.Name, "linux-binary-") {
			moduleDebs = append(moduleDebs, deb)
		}
		if err := s.extractBoot(ctx, deb, c.Release, u); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(u.Image); err != nil {
		return nil, fmt.Errorf("%s %s has no kernel image (looked for boot/vmlinuz-%s and usr/lib/modules/%s/vmlinuz)", c.Packages[0].Name, c.Version, c.Release, c.Release)
	}
	if _, err := os.Stat(u.Config); err != nil {
		u.Config = ""
	}
	u.Modules = func(ctx context.Context, fn func(rel string, mode fs.FileMode, r io.Reader) error) error {
		for _, deb := range moduleDebs {
			err := walkDeb(ctx, s.cfg.DpkgDeb, deb, func(name string, e tarEntry, r io.Reader) error {
				rel := moduleRel(name, c.Release)
				if rel == "" || notModuleFile(rel) {
					return nil
				}
				return fn(rel, fs.FileMode(e.Mode).Perm(), r)
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
	return u, nil
}

// extractBoot writes the image and config of release found in deb into
// u.Image and u.Config, stopping at the first module file (in the image
// layout they precede the modules).
func (s *Source) extractBoot(ctx context.Context, deb, release string, u *kernelfetch.Unpacked) error {
	return walkDeb(ctx, s.cfg.DpkgDeb, deb, func(name string, _ tarEntry, r io.Reader) error {
		var dst string
		switch {
		case isImagePath(name, release):
			dst = u.Image
		case isConfigPath(name, release):
			dst = u.Config
		case strings.Contains(name, "/kernel/"):
			return errStop
		default:
			return nil
		}
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("unpack %s: %w", name, err)
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return fmt.Errorf("unpack %s: %w", name, err)
		}
		return f.Close()
	})
}

// matchDownloads finds the .deb apt-get download wrote for each package
// and checks its SHA-256.
func matchDownloads(work string, pkgs []kernelfetch.PackageRef) (map[string]string, error) {
	debs, _ := filepath.Glob(filepath.Join(work, "*.deb"))
	bySum := map[string]string{}
	for _, d := range debs {
		sum, err := fileSHA256(d)
		if err != nil {
			return nil, err
		}
		bySum[sum] = d
	}
	files := map[string]string{}
	for _, p := range pkgs {
		d, ok := bySum[p.SHA256]
		if !ok {
			return nil, fmt.Errorf("apt-get download left no file with the SHA-256 the signed index gives for %s %s (%s)", p.Name, p.Version, p.SHA256)
		}
		files[p.Name] = d
	}
	return files, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// downloadError adds what to do to a failed apt-get download.
func downloadError(err error) error {
	var ae *AptError
	if !errors.As(err, &ae) {
		return err
	}
	all := strings.Join(ae.Lines, " ")
	h := []string{}
	switch {
	case strings.Contains(all, "Remote end closed"), strings.Contains(all, "closed prematurely"), strings.Contains(all, "unexpected size"), strings.Contains(all, "Size mismatch"):
		h = append(h, "the download was cut off (a flaky network or mirror): retry; nothing was stored")
	case strings.Contains(all, "Hash Sum mismatch"):
		h = append(h, "the downloaded file does not match the signed index (a broken mirror or proxy, or a mirror sync in progress): retry later, or with --refresh")
	case strings.Contains(all, "Unable to locate"), strings.Contains(all, "Can't select"), strings.Contains(all, "not found"):
		h = append(h, "the package lists changed since the index was written: retry with --refresh")
	default:
		h = append(h, aptTimeoutHint)
	}
	return hint.Wrap(fmt.Errorf("download kernel packages: %w", err), h...)
}

// prepare creates the private apt directory and writes its configuration.
func (s *Source) prepare() error {
	rel, err := filepath.Rel(s.cfg.CacheBase, s.cfg.Dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("the apt directory %s is not under %s", s.cfg.Dir, s.cfg.CacheBase)
	}
	subdirs := []string{rel}
	for _, d := range privateSubdirs {
		subdirs = append(subdirs, filepath.Join(rel, d))
	}
	if err := ensurePrivateDirs(s.cfg.CacheBase, subdirs...); err != nil {
		return fmt.Errorf("prepare ktest's apt directory: %w", err)
	}
	conf, err := aptConfig(s.cfg.Dir, s.cfg.Arch, s.cfg.MinValidTime)
	if err != nil {
		return err
	}
	var sources strings.Builder
	for _, suite := range s.cfg.Suites {
		fmt.Fprintf(&sources, "deb [signed-by=%s] %s %s main\n", s.cfg.Keyring, s.cfg.Mirror, suite)
	}
	for name, data := range map[string]string{aptConfName: conf, sourcesName: sources.String(), statusName: ""} {
		if err := writeIfChanged(filepath.Join(s.cfg.Dir, name), []byte(data)); err != nil {
			return fmt.Errorf("write ktest's apt configuration: %w", err)
		}
	}
	return nil
}

// update runs apt-get update under the private configuration and writes
// the index. Suites apt could not read are recorded with the reason; only
// when none could be read is it an error.
func (s *Source) update(ctx context.Context) (*Index, error) {
	if err := s.prepare(); err != nil {
		return nil, err
	}
	lock, err := cache.AcquireLock(ctx, filepath.Join(s.cfg.Dir, aptLockName), cache.Exclusive, 10*time.Minute, "ktest's apt state")
	if err != nil {
		return nil, fmt.Errorf("update package lists: %w", err)
	}
	defer lock.Unlock()
	fmt.Fprintf(s.cfg.Notes, "ktest: updating the package lists of %s from %s\n", strings.Join(s.cfg.Suites, ", "), s.cfg.Mirror)
	run := &aptRunner{aptGet: s.cfg.AptGet, dir: s.cfg.Dir, live: s.cfg.Live}
	out, updErr := run.run(ctx, s.cfg.Dir, "update")
	if ctx.Err() != nil {
		return nil, updErr
	}
	problems := problemLines(out)
	var ae *AptError
	if updErr != nil && !errors.As(updErr, &ae) {
		return nil, fmt.Errorf("update package lists: %w", updErr)
	}
	quiet := &aptRunner{aptGet: s.cfg.AptGet, dir: s.cfg.Dir}
	targetsOut, err := quiet.run(ctx, s.cfg.Dir, "indextargets", "Identifier: Packages")
	if err != nil {
		return nil, fmt.Errorf("list apt's index files: %w", err)
	}
	targets, err := indexTargets(targetsOut)
	if err != nil {
		return nil, fmt.Errorf("parse apt-get indextargets: %w", err)
	}
	ix := buildIndex(s.cfg, targets, problems, s.cfg.Now())
	if len(ix.usable(s.cfg)) == 0 {
		var bad []string
		for _, name := range s.cfg.Suites {
			bad = append(bad, name+": "+ix.Suites[name].Error)
		}
		err := fmt.Errorf("update package lists from %s: no suite could be read: %s", s.cfg.Mirror, strings.Join(bad, "; "))
		return nil, hint.Wrap(err, badSuiteHints(bad)...)
	}
	for _, name := range s.cfg.Suites {
		if e := ix.Suites[name].Error; e != "" {
			fmt.Fprintf(s.cfg.Notes, "ktest: note: suite %s is not usable: %s\n", name, e)
			for _, h := range badSuiteHints([]string{e}) {
				fmt.Fprintf(s.cfg.Notes, "  hint: %s\n", h)
			}
		}
	}
	if err := saveIndex(filepath.Join(s.cfg.Dir, indexName), ix); err != nil {
		return nil, fmt.Errorf("write the kernel package index: %w", err)
	}
	return ix, nil
}
