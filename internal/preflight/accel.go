package preflight

import (
	"fmt"
	"math"
	"time"
)

// The two acceleration verdicts; exported to tests as KTEST_ACCEL.
const (
	// AccelKVM means guest code runs at hardware-virtualisation speed.
	AccelKVM = "kvm"
	// AccelTCG means /dev/kvm is absent, unusable or not accelerated, so
	// QEMU must use its TCG emulator.
	AccelTCG = "tcg"
)

// AccelMaxNsPerIteration is the throughput-probe threshold: a guest loop
// iteration (dec ecx; jnz) costs about 1 ns under hardware virtualisation and
// 800-1,700 ns on the emulated /dev/kvm of the machines this project is built
// on. 20 ns leaves a wide margin on both sides, so first-entry overhead and a
// noisy host do not flip the verdict.
const AccelMaxNsPerIteration = 20

// ClassifyAccel turns a measured ns/iteration figure into AccelKVM or
// AccelTCG. NaN and non-positive figures (nothing measured) are AccelTCG.
func ClassifyAccel(nsPerIteration float64) string {
	if nsPerIteration > 0 && nsPerIteration < AccelMaxNsPerIteration {
		return AccelKVM
	}
	return AccelTCG
}

// AccelStatus is the human status line for a verdict, e.g.
// "KVM present but not accelerated (1203 ns/iteration; hardware ≈1 ns)".
func AccelStatus(accel string, nsPerIteration float64) string {
	if accel == AccelKVM {
		return "KVM accelerated"
	}
	return fmt.Sprintf("KVM present but not accelerated (%s ns/iteration; hardware ≈1 ns)", formatNs(nsPerIteration))
}

// nsPerIteration divides a run's elapsed time by the iterations it
// completed. With no iteration completed the whole elapsed time counts as one
// iteration: an upper bound that is finite, so it survives JSON encoding.
func nsPerIteration(elapsed time.Duration, iterations int64) float64 {
	if iterations < 1 {
		iterations = 1
	}
	return float64(elapsed.Nanoseconds()) / float64(iterations)
}

// formatNs prints whole nanoseconds above 10 and one decimal below, so the
// status stays short but a fast figure is not rounded to 0.
func formatNs(ns float64) string {
	switch {
	case math.IsNaN(ns) || math.IsInf(ns, 0):
		return "?"
	case ns >= 10:
		return fmt.Sprintf("%.0f", ns)
	default:
		return fmt.Sprintf("%.1f", ns)
	}
}
