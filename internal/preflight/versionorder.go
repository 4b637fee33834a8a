package preflight

import (
	"strings"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/dpkgversion"
)

// CompareReleases orders two kernel releases (metadata versions such as
// 6.12.117+deb13-cloud-amd64 or 6.15-rc3) by version: as dpkg compares a
// version part (runs of digits as numbers, the rest character by
// character), with a release candidate before its release (6.15-rc3 <
// 6.15). It returns -1, 0 or 1.
func CompareReleases(a, b string) int {
	return dpkgversion.CompareFragment(rcFirst(a), rcFirst(b))
}

// rcFirst spells "-rcN" as "~rcN", which sorts before the end of a string.
func rcFirst(s string) string { return strings.ReplaceAll(s, "-rc", "~rc") }

// NewestWithVersion returns the valid entry for this host's architecture
// whose version matches want (VersionMatches) with the highest version
// (CompareReleases; ties keep the entries' order), or nil. seen lists the
// versions of the valid entries for this architecture, for a message that
// says what is cached. One function so that --kernel, ktest kernel path
// and --fetch agree on which entry a version means.
func NewestWithVersion(entries []cache.Entry, want string) (best *cache.Entry, seen []string) {
	arch := cache.HostArch()
	for i := range entries {
		e := &entries[i]
		if !e.Valid() || e.Metadata.Version == nil || e.Metadata.Arch != arch {
			continue
		}
		v := *e.Metadata.Version
		seen = append(seen, v)
		if VersionMatches(v, want) && (best == nil || CompareReleases(v, *best.Metadata.Version) > 0) {
			best = e
		}
	}
	return best, seen
}
