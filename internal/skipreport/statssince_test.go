package skipreport

import (
	"strings"
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)
	good := map[string]time.Time{
		"7d":                        now.Add(-7 * 24 * time.Hour),
		"24h":                       now.Add(-24 * time.Hour),
		"30m":                       now.Add(-30 * time.Minute),
		"1d12h":                     now.Add(-36 * time.Hour),
		"1.5d":                      now.Add(-36 * time.Hour),
		"90s":                       now.Add(-90 * time.Second),
		"0d1h":                      now.Add(-time.Hour),
		"2026-11-01":                time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		"2026-11-01T12:00:00Z":      time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC),
		"2026-11-01T14:00:00+02:00": time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC),
	}
	for in, want := range good {
		got, err := ParseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "7", "d", "7days", "-7d", "+7d", "7d-1h", "0s", "0d", "1e3d", "NaNd", "1..5d",
		"7d7d", "1w", "yesterday", "2026-13-01", "99999999999d", "9999999999999h", " 7d"} {
		if got, err := ParseSince(in, now); err == nil {
			t.Errorf("ParseSince(%q) = %v, want an error", in, got)
		} else if !strings.Contains(err.Error(), "7d, 24h, 30m") || !strings.Contains(err.Error(), "--since") {
			t.Errorf("ParseSince(%q) error %q does not name the accepted forms", in, err)
		}
	}
}

func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"7d", "24h", "30m", "1d12h", "1.5d", "2026-11-01", "2026-11-01T12:00:00Z", "-1h", "1e9d", "0"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseSince(s, now)
		if err != nil {
			if !strings.Contains(err.Error(), SinceForms) {
				t.Fatalf("error %q does not name the accepted forms", err)
			}
			return
		}
		if d, derr := parseSinceDuration(s); derr == nil {
			// A duration reaches back from now, never forward.
			if d <= 0 || !got.Before(now) || !got.Equal(now.Add(-d)) {
				t.Fatalf("ParseSince(%q) = %v (duration %v) from %v", s, got, d, now)
			}
		}
	})
}
