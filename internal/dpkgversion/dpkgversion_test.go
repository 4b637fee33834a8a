package dpkgversion

import "testing"

func TestCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"7.3~rc7-1~exp1", "7.2.13-1", 1},
		{"7.3~rc7-1~exp1", "7.3-1", -1},
		{"6.12.117-1", "6.12.95-1~bpo12+1", 1},
		{"6.12.95-1~bpo12+1", "6.12.95-1", -1},
		{"6.1.176-1", "6.1.176-1", 0},
		{"1:1.0-1", "2.0-1", 1},
		{"1.0", "1.0-0", 0},
		{"1.0~", "1.0", -1},
		{"1.0a", "1.0", 1},
		{"1.01", "1.1", 0},
		{"6.1.99-1", "6.1.100-1", -1},
		{"1.0+b1", "1.0", 1},
	} {
		if got := Compare(c.a, c.b); got != c.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := Compare(c.b, c.a); got != -c.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
	if u := Upstream("7.3~rc7-1~exp1"); u != "7.3-rc7" {
		t.Errorf("Upstream = %q", u)
	}
}

func FuzzCompare(f *testing.F) {
	f.Add("7.3~rc7-1~exp1", "7.2.13-1")
	f.Add("1:0", "0~")
	f.Fuzz(func(t *testing.T, a, b string) {
		if Compare(a, b) != -Compare(b, a) {
			t.Fatalf("not antisymmetric: %q %q", a, b)
		}
		if Compare(a, a) != 0 {
			t.Fatalf("%q != itself", a)
		}
	})
}
