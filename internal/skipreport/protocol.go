package skipreport

import "github.com/ktest-dev/ktest/internal/testproto"

// The names ktest's side shares with the test binaries, defined in package
// testproto (which the test-side library links instead of this package) and
// re-exported here, so that run.json's types and their users keep one name
// for each.

// Category says why something was skipped (docs/spec.md §6).
type Category = testproto.Category

// The SKIP categories; see testproto.
const (
	Contention = testproto.Contention
	NoKernel   = testproto.NoKernel
	NoKVM      = testproto.NoKVM
	NoQEMU     = testproto.NoQEMU
)

// Categories lists every category, in a stable order for reports.
var Categories = testproto.Categories

// SkipSchema identifies a skip sidecar.
const SkipSchema = testproto.SkipSchema

// Sidecar records shared by run.json and the skip sidecars.
type (
	SkipRecord   = testproto.SkipRecord
	KernelRecord = testproto.KernelRecord
	HolderRecord = testproto.HolderRecord
	HostSnapshot = testproto.HostSnapshot
)

// Banner renders the SKIP banner (testproto.Banner).
func Banner(category Category, reason string, hints ...string) string {
	return testproto.Banner(category, reason, hints...)
}

// BannerLine is the banner's first line (testproto.BannerLine).
func BannerLine(category Category, reason string) string {
	return testproto.BannerLine(category, reason)
}

// ParseBannerLine recovers category and reason from text holding a banner
// line (testproto.ParseBannerLine).
func ParseBannerLine(text string) (category Category, reason string, ok bool) {
	return testproto.ParseBannerLine(text)
}

// TakeHostSnapshot reads the host's resource state (testproto.TakeHostSnapshot).
func TakeHostSnapshot() HostSnapshot { return testproto.TakeHostSnapshot() }

// WriteSkip writes one skip sidecar into runDir/skips (testproto.WriteSkip).
func WriteSkip(runDir string, rec SkipRecord) (string, error) {
	return testproto.WriteSkip(runDir, rec)
}
