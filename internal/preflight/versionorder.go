package preflight

import (
	"strings"

	"github.com/ktest-dev/ktest/internal/cache"
)

// CompareReleases orders two kernel releases (metadata versions such as
// 6.12.117+deb13-cloud-amd64 or 6.15-rc3) by version: runs of digits
// compare as numbers and the rest character by character, as dpkg compares
// versions, with a release candidate before its release (6.15-rc3 <
// 6.15). It returns -1, 0 or 1.
func CompareReleases(a, b string) int {
	a, b = rcFirst(a), rcFirst(b)
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			oa, ob := charOrder(a, i), charOrder(b, j)
			if oa != ob {
				if oa < ob {
					return -1
				}
				return 1
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		si, sj := i, j
		for i < len(a) && isDigit(a[i]) {
			i++
		}
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if n, m := i-si, j-sj; n != m {
			if n < m {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a[si:i], b[sj:j]); c != 0 {
			return c
		}
	}
	return 0
}

// rcFirst spells "-rcN" as "~rcN", which sorts before the end of a string.
func rcFirst(s string) string { return strings.ReplaceAll(s, "-rc", "~rc") }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// charOrder is dpkg's character weight: the end of the string and digits 0,
// "~" lowest, letters by value, everything else after letters.
func charOrder(s string, i int) int {
	if i >= len(s) || isDigit(s[i]) {
		return 0
	}
	c := s[i]
	switch {
	case c == '~':
		return -1
	case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
		return int(c)
	}
	return int(c) + 256
}

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
