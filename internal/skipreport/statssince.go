package skipreport

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ktest-dev/ktest/internal/termtext"
)

// SinceForms lists what ParseSince accepts, for error messages and help.
const SinceForms = "a positive duration such as 7d, 24h, 30m or 1d12h (units d, h, m, s; d is 24h), " +
	"or a UTC date or time such as 2026-11-28 or 2026-11-28T18:00:00Z"

// ParseSince turns a --since value into the cutoff time: a duration back
// from now (Go's time.ParseDuration forms, plus a leading whole or decimal
// number of days with the suffix d, as in 7d or 1d12h), or an absolute date
// (YYYY-MM-DD, midnight UTC) or RFC 3339 time. The error names the accepted
// forms.
func ParseSince(s string, now time.Time) (time.Time, error) {
	d, err := parseSinceDuration(s)
	if err == nil {
		return now.Add(-d), nil
	}
	if t, terr := time.Parse(time.DateOnly, s); terr == nil {
		return t, nil
	}
	if t, terr := time.Parse(time.RFC3339, s); terr == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("invalid --since %s: %v; want %s", termtext.Quote(s), err, SinceForms)
}

// maxSinceDays keeps a day count from overflowing time.Duration (about
// 292 years).
const maxSinceDays = 100 * 365

func parseSinceDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty value")
	}
	if strings.ContainsAny(s, "+-") {
		return 0, fmt.Errorf("signs are not allowed")
	}
	var total time.Duration
	rest := s
	if dayCount, after, found := strings.Cut(s, "d"); found {
		if !isDecimal(dayCount) {
			return 0, fmt.Errorf("bad day count %s", termtext.Quote(dayCount+"d"))
		}
		days, err := strconv.ParseFloat(dayCount, 64)
		if err != nil || days > maxSinceDays {
			return 0, fmt.Errorf("day count %s out of range (at most %d days)", termtext.Quote(dayCount+"d"), maxSinceDays)
		}
		total = time.Duration(math.Round(days * float64(24*time.Hour)))
		rest = after
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("bad duration %s", termtext.Quote(rest))
		}
		if d > math.MaxInt64-total {
			return 0, fmt.Errorf("duration too large")
		}
		total += d
	}
	if total <= 0 {
		return 0, fmt.Errorf("duration must be positive")
	}
	return total, nil
}

// isDecimal reports whether s is digits with at most one inner or trailing
// decimal point: 7, 1.5, 2. (no signs, exponents, hex or words like NaN).
func isDecimal(s string) bool {
	digits, dots := 0, 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}
