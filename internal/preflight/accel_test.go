package preflight

import (
	"math"
	"testing"
	"time"
)

func TestClassifyAccel(t *testing.T) {
	cases := []struct {
		ns   float64
		want string
	}{
		{0.9, AccelKVM},
		{1.5, AccelKVM},
		{19.9, AccelKVM},
		{20, AccelTCG},
		{830, AccelTCG},
		{1640, AccelTCG},
		{0, AccelTCG},
		{-1, AccelTCG},
		{math.NaN(), AccelTCG},
		{math.Inf(1), AccelTCG},
	}
	for _, c := range cases {
		if got := ClassifyAccel(c.ns); got != c.want {
			t.Errorf("ClassifyAccel(%v) = %q, want %q", c.ns, got, c.want)
		}
	}
}

func TestAccelStatus(t *testing.T) {
	cases := []struct {
		accel string
		ns    float64
		want  string
	}{
		{AccelKVM, 1.2, "KVM accelerated"},
		{AccelTCG, 1036.3, "KVM present but not accelerated (1036 ns/iteration; hardware ≈1 ns)"},
		{AccelTCG, 25.55, "KVM present but not accelerated (26 ns/iteration; hardware ≈1 ns)"},
		{AccelTCG, 3.25, "KVM present but not accelerated (3.2 ns/iteration; hardware ≈1 ns)"},
		{AccelTCG, math.NaN(), "KVM present but not accelerated (? ns/iteration; hardware ≈1 ns)"},
	}
	for _, c := range cases {
		if got := AccelStatus(c.accel, c.ns); got != c.want {
			t.Errorf("AccelStatus(%q, %v) = %q, want %q", c.accel, c.ns, got, c.want)
		}
	}
}

func TestNsPerIteration(t *testing.T) {
	if got := nsPerIteration(100*time.Millisecond, 100_000); got != 1000 {
		t.Errorf("100ms/100k = %v, want 1000", got)
	}
	// No iteration done: the whole time counts as one, finite for JSON.
	if got := nsPerIteration(5*time.Millisecond, 0); got != 5e6 {
		t.Errorf("5ms/0 = %v, want 5e6", got)
	}
}
