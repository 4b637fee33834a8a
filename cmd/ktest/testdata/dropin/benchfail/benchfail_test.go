// Package benchfail has a benchmark that passes its first run (N=1) and
// fails in the measured one, where it reports under its name with the
// GOMAXPROCS suffix; and one that passes.
package benchfail

import "testing"

func BenchmarkFailsLater(b *testing.B) {
	b.Log("a benchmark log")
	if b.N > 1 {
		b.Fatal("fails when measured")
	}
}

func BenchmarkPasses(b *testing.B) {
	for i := 0; i < b.N; i++ {
	}
}
