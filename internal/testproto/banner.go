package testproto

import (
	"fmt"
	"strings"

	"github.com/ktest-dev/ktest/internal/termtext"
)

// Category says why something was skipped (docs/spec.md §6).
type Category string

// The SKIP categories.
const (
	// Contention is transient host pressure: a KVM errno such as EBUSY or
	// ENOMEM, or a cache lock held too long by another process.
	Contention Category = "contention"
	// NoKernel means no kernel image was found.
	NoKernel Category = "no-kernel"
	// NoKVM means KVM is absent or not permitted and the policy
	// (--on-no-kvm skip) turns that into a skip.
	NoKVM Category = "no-kvm"
	// NoQEMU means the test-side VM helper found no QEMU binary.
	NoQEMU Category = "no-qemu"
	// Guest is a kerneltest.Run body's own skip inside the guest.
	Guest Category = "guest"
)

// Categories lists every category, in a stable order for reports.
var Categories = []Category{Contention, NoKernel, NoKVM, NoQEMU, Guest}

// Banner renders the SKIP banner: one left-anchored line
// `ktest: SKIP: <category>: <reason>`, then one `  hint: ...` line per
// hint. The first line is also what tests pass to t.Skip, so the same text
// appears in test2json, JUnit and on the console.
func Banner(category Category, reason string, hints ...string) string {
	var b strings.Builder
	b.WriteString(BannerLine(category, reason))
	for _, h := range hints {
		b.WriteString("\n  hint: ")
		b.WriteString(termtext.Line(oneLine(h)))
	}
	return b.String()
}

// BannerLine is the first line of the banner alone. The reason (and the
// hints) may quote command lines of lock holders, paths and versions read
// from files: control characters in them are escaped (termtext.Line), so
// that the banner stays one line of plain text on a terminal. Sidecars
// keep the exact reason.
func BannerLine(category Category, reason string) string {
	return fmt.Sprintf("ktest: SKIP: %s: %s", termtext.Line(string(category)), termtext.Line(oneLine(reason)))
}

// ParseBannerLine recovers the category and reason from a banner line, or
// from any text containing one (such as a t.Skip message with a file:line
// prefix). ok is false when there is none.
func ParseBannerLine(text string) (category Category, reason string, ok bool) {
	const marker = "ktest: SKIP: "
	i := strings.Index(text, marker)
	if i < 0 {
		return "", "", false
	}
	rest := text[i+len(marker):]
	if j := strings.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	cat, reason, found := strings.Cut(rest, ": ")
	if !found || cat == "" {
		return "", "", false
	}
	return Category(cat), strings.TrimSpace(reason), true
}

// oneLine folds newlines so a banner stays one line.
func oneLine(s string) string {
	return strings.TrimSpace(strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s))
}
