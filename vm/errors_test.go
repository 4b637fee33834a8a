package vm

import (
	"strings"
	"testing"
	"time"
)

// A timeout under KVM says how to fall back to TCG, because a KVM that
// does not accelerate makes guests crawl into the timeout instead of
// failing; under TCG there is nothing to fall back to.
func TestTimeoutErrorSuggestsTCGOnlyUnderKVM(t *testing.T) {
	for _, tc := range []struct {
		accel string
		want  bool
	}{{AccelKVM, true}, {AccelTCG, false}, {"", false}} {
		msg := (&TimeoutError{Timeout: 20 * time.Second, Accel: tc.accel, Phase: PhaseKernel}).Error()
		if got := strings.Contains(msg, `use Accel "tcg"`); got != tc.want {
			t.Errorf("Accel %q: message %q: suggests tcg = %v, want %v", tc.accel, msg, got, tc.want)
		}
		if !strings.Contains(msg, "never started /init") {
			t.Errorf("Accel %q: message %q does not name the phase", tc.accel, msg)
		}
	}
}
