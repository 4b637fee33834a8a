package preflight

import "testing"

func TestCompareReleases(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"6.12.117+deb13-cloud-amd64", "6.12.95+deb12-cloud-amd64", 1},
		{"6.1.0-50-cloud-amd64", "6.1.0-48-cloud-amd64", 1},
		{"6.15-rc3", "6.15", -1},
		{"6.15-rc10", "6.15-rc9", 1},
		{"6.16.1", "6.16.1", 0},
		{"6.9.0", "6.10.0", -1},
		{"7.3-cloud-amd64", "7.2.13+deb14-cloud-amd64", 1},
	} {
		if got := CompareReleases(c.a, c.b); got != c.want {
			t.Errorf("CompareReleases(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := CompareReleases(c.b, c.a); got != -c.want {
			t.Errorf("CompareReleases(%q, %q) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}

func FuzzCompareReleases(f *testing.F) {
	f.Add("6.15-rc3", "6.15")
	f.Fuzz(func(t *testing.T, a, b string) {
		if CompareReleases(a, b) != -CompareReleases(b, a) || CompareReleases(a, a) != 0 {
			t.Fatalf("not an order: %q %q", a, b)
		}
	})
}
