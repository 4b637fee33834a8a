package testproto

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a protocol version, MAJOR.MINOR. A minor release only adds
// (variables, JSON fields) and never changes what an existing one means, so
// a reader understands every version of its own major. A new major changes
// a meaning: a reader of an older major cannot trust what it would read,
// and says so instead of misreading it.
type Version struct {
	Major, Minor int
}

// Current is the protocol this build speaks: ktest exports it as
// KTEST_PROTOCOL, and the test-side library compares what it receives with
// it. Version 1.0 is the first versioned one; a ktest that exports no
// KTEST_PROTOCOL speaks the unversioned protocol before it (only the text
// form of KTEST_UNAVAILABLE, no kernel release or cache key).
var Current = Version{Major: 1, Minor: 0}

// String is "MAJOR.MINOR".
func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// IsZero reports whether v is the zero Version: no KTEST_PROTOCOL.
func (v Version) IsZero() bool { return v == Version{} }

// maxVersionDigits bounds each number: no real version needs more, and
// the bound keeps the value in an int on every platform.
const maxVersionDigits = 6

// ParseVersion parses "MAJOR.MINOR" (decimal, no sign, no spaces inside;
// surrounding white space is ignored). Majors start at 1.
func ParseVersion(s string) (Version, error) {
	s = strings.TrimSpace(s)
	majorText, minorText, ok := strings.Cut(s, ".")
	if !ok {
		return Version{}, fmt.Errorf("protocol version %q: want MAJOR.MINOR, e.g. %q", s, Current.String())
	}
	major, err := versionNumber(majorText)
	if err != nil {
		return Version{}, fmt.Errorf("protocol version %q: major %w", s, err)
	}
	minor, err := versionNumber(minorText)
	if err != nil {
		return Version{}, fmt.Errorf("protocol version %q: minor %w", s, err)
	}
	if major == 0 {
		return Version{}, fmt.Errorf("protocol version %q: majors start at 1", s)
	}
	return Version{Major: major, Minor: minor}, nil
}

// versionNumber parses one part of a version: 1 to maxVersionDigits ASCII
// digits.
func versionNumber(s string) (int, error) {
	if s == "" || len(s) > maxVersionDigits {
		return 0, fmt.Errorf("%q is not a number of 1 to %d digits", s, maxVersionDigits)
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
	}
	return strconv.Atoi(s)
}
