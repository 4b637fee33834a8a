// Package bench has benchmarks with logs, sub-benchmarks and a custom
// metric.
package bench

import (
	"fmt"
	"testing"
)

func TestInBenchPackage(t *testing.T) { fmt.Println("a print from a test") }

func BenchmarkSum(b *testing.B) {
	b.Log("a benchmark log")
	s := 0
	for i := 0; i < b.N; i++ {
		s += i
	}
	b.ReportMetric(42, "widgets/op")
}

func BenchmarkAlloc(b *testing.B) {
	b.Run("small", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			sink = make([]byte, 16)
		}
	})
	b.Run("large", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			sink = make([]byte, 4096)
		}
	})
}

func BenchmarkSkipped(b *testing.B) { b.Skip("benchmark skip") }

var sink []byte
