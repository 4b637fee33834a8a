// Package kernelfetch puts prebuilt kernels into the ktstr-compatible
// cache: `ktest kernel fetch SPEC`. A Source (Debian's archive today; OCI
// images or kernel.org builds later, see docs/spec.md §13) resolves a SPEC
// to candidates and downloads one; the Fetcher stores it as a cache entry
// with its vmlinux, modules (with generated modules.dep and modules.alias)
// and config, under the entry's exclusive lock, so that concurrent fetches
// of one kernel download it once.
package kernelfetch

import (
	"fmt"
	"regexp"
	"strings"
)

// SpecKind says what a SPEC names.
type SpecKind int

// Kinds of SPEC.
const (
	// SpecLine is a kernel line or version: 6.1, 6.12, 6.12.117, 7.3-rc,
	// 7.3-rc7. It matches upstream versions at a component boundary.
	SpecLine SpecKind = iota + 1
	// SpecSuite is a distribution suite: bookworm, sid, ...
	SpecSuite
	// SpecPackageVersion is an exact package version: 6.1.176-1,
	// 6.12.95-1~bpo12+1, 7.3~rc7-1~exp1.
	SpecPackageVersion
	// SpecRelease is a kernel release as uname -r prints it:
	// 6.1.0-50-cloud-amd64, 6.12.117+deb13-cloud-amd64.
	SpecRelease
)

func (k SpecKind) String() string {
	switch k {
	case SpecLine:
		return "kernel version"
	case SpecSuite:
		return "suite"
	case SpecPackageVersion:
		return "package version"
	case SpecRelease:
		return "kernel release"
	}
	return fmt.Sprintf("SpecKind(%d)", int(k))
}

// Spec is one parsed SPEC argument.
type Spec struct {
	Raw  string
	Kind SpecKind
}

var (
	lineRe    = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?(-rc[0-9]*)?$`)
	suiteRe   = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	pkgVerRe  = regexp.MustCompile(`^([0-9]+:)?[0-9][0-9A-Za-z.+~]*-[0-9][0-9A-Za-z.+~]*$`)
	releaseRe = regexp.MustCompile(`^[0-9]+\.[0-9]+[0-9A-Za-z.+~_-]*$`)
)

// ParseSpec classifies a SPEC. Anything that is none of the four forms is
// an error with examples.
func ParseSpec(s string) (Spec, error) {
	switch {
	case s == "":
		return Spec{}, fmt.Errorf("empty SPEC: give a kernel version (6.1, 6.12, 7.3-rc), a suite (bookworm, sid) or a package version (6.1.176-1)")
	case lineRe.MatchString(s):
		return Spec{s, SpecLine}, nil
	case suiteRe.MatchString(s):
		return Spec{s, SpecSuite}, nil
	case pkgVerRe.MatchString(s):
		return Spec{s, SpecPackageVersion}, nil
	case releaseRe.MatchString(s) && len(s) <= 200:
		return Spec{s, SpecRelease}, nil
	}
	return Spec{}, fmt.Errorf("SPEC %q is not a kernel version (6.1, 6.12, 7.3-rc), a suite (bookworm, trixie, sid), a package version (6.1.176-1) or a kernel release (6.1.0-50-cloud-amd64)", s)
}

// MatchesUpstream reports whether a SpecLine matches the upstream version
// v (as the kernel spells it: 7.3-rc7, not 7.3~rc7): exactly, or as a
// prefix ending at a component boundary, so 6.1 matches 6.1.176 but not
// 6.12.3, 7.3 matches 7.3-rc7, and 7.3-rc matches every 7.3 release
// candidate.
func (s Spec) MatchesUpstream(v string) bool {
	want := s.Raw
	if !strings.HasPrefix(v, want) {
		return false
	}
	rest := v[len(want):]
	if strings.HasSuffix(want, "-rc") {
		return rest == "" || isDigits(rest)
	}
	return rest == "" || rest[0] == '.' || rest[0] == '-' || rest[0] == '+'
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// keyUnsafe is every byte a cache key may not hold.
var keyUnsafe = regexp.MustCompile(`[^A-Za-z0-9._+-]`)

// DebianKey is the cache key of a Debian kernel package: the form
// scripts/fetch-kernel.sh used, {release}-deb-{version}, with every byte a
// key may not hold (an epoch's ':', '~') made '_', so caches filled by the
// script stay valid.
func DebianKey(release, version string) string {
	return release + "-deb-" + keyUnsafe.ReplaceAllString(version, "_")
}
