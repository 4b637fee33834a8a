package kerneltest

import (
	"os"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/skipreport"
)

// Variables ktest exports to the tests it runs (docs/spec.md §9). They are
// repeated here, not imported from package runner, because the test-side
// library must stay small: runner pulls in go test orchestration.
const (
	envTestKernel  = "KTSTR_TEST_KERNEL"
	envKernel      = "KTSTR_KERNEL"
	envUnavailable = "KTEST_UNAVAILABLE"
	envSidecarDir  = "KTEST_SIDECAR_DIR"
	envRunID       = "KTEST_RUN_ID"
	envKtstrCI     = "KTSTR_CI"
	envCI          = "CI"
)

// parseUnavailable splits KTEST_UNAVAILABLE, "<category>: <reason>", into
// its parts. ktest always writes both; text without a category (someone
// set the variable by hand) is taken as a no-kernel reason, since the
// variable's one meaning is "there is no kernel for you".
func parseUnavailable(text string) (skipreport.Category, string) {
	text = strings.TrimSpace(text)
	cat, reason, ok := strings.Cut(text, ":")
	if !ok || cat == "" || strings.ContainsAny(cat, " \t\n\r") ||
		(reason != "" && !strings.ContainsAny(reason[:1], " \t\n\r")) {
		return skipreport.NoKernel, text
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		reason = "ktest reported the kernel unavailable without a reason"
	}
	return skipreport.Category(cat), reason
}

// errnoIn returns the first symbolic errno name (such as "EBUSY") that
// appears as a word in text, or "". ktest's reasons name the errno that
// caused them ("open /dev/kvm: EBUSY ..."), and the sidecar has a field
// for it, but KTEST_UNAVAILABLE carries only the text.
func errnoIn(text string) string {
	for _, word := range strings.FieldsFunc(text, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		if len(word) > 1 && word[0] == 'E' && errnoNames()[word] {
			return word
		}
	}
	return ""
}

// errnoNames is the set of the system's errno names ("EAGAIN", "EBUSY",
// ...), built once from unix.ErrnoName (errno values are below 256).
var errnoNames = sync.OnceValue(func() map[string]bool {
	names := map[string]bool{}
	for e := syscall.Errno(1); e < 256; e++ {
		if name := unix.ErrnoName(e); name != "" {
			names[name] = true
		}
	}
	return names
})

// runSource is the sidecar's run_source: "ci" when KTSTR_CI or CI is
// non-empty, else "local" (as in run.json).
func runSource() string {
	if os.Getenv(envKtstrCI) != "" || os.Getenv(envCI) != "" {
		return "ci"
	}
	return "local"
}
