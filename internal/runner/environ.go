package runner

import (
	"strings"

	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/testproto"
)

// envValue returns the value of key in env (KEY=VALUE entries), the last
// occurrence winning as it does for exec.
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// mergeEnv returns base with every KEY=VALUE of extra set, replacing earlier
// values of the same key, and every key in unset removed.
func mergeEnv(base []string, extra []string, unset []string) []string {
	drop := map[string]bool{}
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		drop[k] = true
	}
	for _, k := range unset {
		drop[k] = true
	}
	out := make([]string, 0, len(base)+len(extra))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// Variables ktest reads and exports (docs/spec.md §9), named in package
// testproto, which owns the protocol between ktest and the tests.
const (
	EnvTestKernel  = testproto.EnvTestKernel
	EnvKernel      = testproto.EnvKernel
	EnvUnavailable = testproto.EnvUnavailable
	EnvAccel       = testproto.EnvAccel
	EnvSidecarDir  = testproto.EnvSidecarDir
	EnvRunID       = testproto.EnvRunID
)

// exportedEnv is what ktest adds to go test's environment, as KEY=VALUE,
// and the keys it removes (testproto.Offer.Env): the kernel the preflight
// resolved and locked, or why the tests get none, the accelerator, and the
// run's sidecar directory and id ("" when the run has none).
func exportedEnv(pre *preflight.Report, sidecarDir, runID string) (set, unset []string) {
	offer := testproto.Offer{Accel: pre.KVM.Accel, SidecarDir: sidecarDir, RunID: runID}
	if u := pre.Unavailable; u != nil {
		offer.Unavailable = &testproto.Unavailable{Category: u.Category, Reason: u.Reason, Errno: u.Errno, Hints: u.Hints}
	} else if k := pre.Kernel(); k != nil {
		offer.Kernel = &testproto.Kernel{Path: k.Path, Dir: k.Dir, Release: k.Image.Release}
		if k.Entry != nil {
			offer.Kernel.CacheKey = k.Entry.Key
			if offer.Kernel.Release == "" && k.Entry.Metadata != nil && k.Entry.Metadata.Version != nil {
				// An image without a version string (arm64): the
				// release the cache recorded when it stored it.
				offer.Kernel.Release = *k.Entry.Metadata.Version
			}
		}
	}
	return offer.Env()
}
