// Package dpkgversion compares versions the way dpkg does (deb-version(7)):
// Debian package versions, and the fragments they are made of, which
// also order kernel releases. One implementation for the kernel fetcher
// (which package is newest) and for kernel resolution (which cached
// release is newest).
package dpkgversion

import (
	"strings"
)

// Compare compares two Debian package versions
// ([epoch:]upstream[-revision]) as dpkg does (deb-version(7)): -1, 0 or 1.
// "~" sorts before everything, even the end of a part, so 7.3~rc7-1 is
// older than 7.3-1.
func Compare(a, b string) int {
	ea, ua, ra := splitVersion(a)
	eb, ub, rb := splitVersion(b)
	if c := compareNumeric(ea, eb); c != 0 {
		return c
	}
	if c := CompareFragment(ua, ub); c != 0 {
		return c
	}
	return CompareFragment(ra, rb)
}

func splitVersion(v string) (epoch, upstream, revision string) {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		epoch, v = v[:i], v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

// Upstream returns the upstream part of a package version, with "~" made
// "-" as the kernel spells it: "7.3~rc7-1~exp1" → "7.3-rc7",
// "1:6.1.176-1" → "6.1.176".
func Upstream(v string) string {
	_, u, _ := splitVersion(v)
	return strings.ReplaceAll(u, "~", "-")
}

func compareNumeric(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// order is dpkg's weight of a non-digit character.
func order(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		return int(c)
	case c == '~':
		return -1
	case c == 0:
		return 0
	}
	return int(c) + 256
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// CompareFragment is dpkg's verrevcmp, the comparison of one part of a
// version (upstream or revision): alternating non-digit runs, compared
// character by character by dpkg's order ("~" before the end, which is
// before letters, which are before other characters), and digit runs,
// compared as numbers. It returns -1, 0 or 1.
func CompareFragment(a, b string) int {
	at := func(s string, i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			oa, ob := order(at(a, i)), order(at(b, j))
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
		firstDiff := 0
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		switch {
		case i < len(a) && isDigit(a[i]):
			return 1
		case j < len(b) && isDigit(b[j]):
			return -1
		case firstDiff < 0:
			return -1
		case firstDiff > 0:
			return 1
		}
	}
	return 0
}
