// Package protocol is the contract between the host side (package vm) and
// the guest side (package vm/guest): where the guest finds its run
// configuration, and the console lines that frame the guest's output and
// carry its verdict.
//
// The host writes a Config as JSON into the initramfs at ConfigPath. The
// guest prints BeginLine once it has taken over the console, then the user
// program's output, then a newline and ResultLine. Both lines carry a
// per-boot random nonce so neither kernel messages nor guest output that
// happens to contain the marker words can be mistaken for them.
package protocol

import (
	"encoding/json"
	"fmt"
)

const (
	// ConfigPath is the guest path of the run configuration file.
	ConfigPath = "/ktest/guest.json"
	// ConfigEnv, when set in the guest program's environment, overrides
	// ConfigPath (used to run a guest program as an ordinary process).
	ConfigEnv = "KTEST_GUEST_CONFIG"
	// BeginMarker starts the line printed before the user program runs.
	BeginMarker = "KTEST-GUEST-BEGIN"
	// ResultMarker starts the line that carries the verdict.
	ResultMarker = "KTEST-GUEST-RESULT"
)

// Exit codes the guest uses for verdicts it makes itself.
const (
	ExitFailure = 1   // the user function returned an error
	ExitPanic   = 2   // the user function panicked (Go's own panic status)
	ExitTimeout = 124 // the user function outlived the guard (as timeout(1))
	ExitSetup   = 125 // the guest could not prepare the VM (mounts, console, config)
)

// Config is the host's instructions to the guest.
type Config struct {
	Nonce string   `json:"nonce"`
	Args  []string `json:"args"`
	// TimeoutMS is the host's whole-boot timeout; the guest derives its
	// own guard from it so it can report a hung function before the host
	// kills the VM. Zero means no guard.
	TimeoutMS int64 `json:"timeout_ms"`
}

// Verdict is the guest's report, printed as JSON on the result line.
type Verdict struct {
	Exit     int    `json:"exit"`
	Error    string `json:"error"`
	Panic    bool   `json:"panic,omitempty"`
	TimedOut bool   `json:"timed_out,omitempty"`
}

// BeginLine is the line (without newline) that precedes the guest output.
func BeginLine(nonce string) string {
	return fmt.Sprintf("%s nonce=%s", BeginMarker, nonce)
}

// ResultPrefix is what a result line starts with, up to the JSON verdict.
func ResultPrefix(nonce string) string {
	return fmt.Sprintf("%s nonce=%s ", ResultMarker, nonce)
}

// ResultLine is the verdict line (without newline). json.Marshal escapes
// control characters, so the line never contains a raw newline.
func ResultLine(nonce string, v Verdict) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Verdict has only plain fields; Marshal cannot fail on it.
		b = []byte(`{"exit":1,"error":"marshal verdict failed"}`)
	}
	return ResultPrefix(nonce) + string(b)
}
