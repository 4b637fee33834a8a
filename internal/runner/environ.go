package runner

import "strings"

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

// Variables ktest exports to go test (docs/spec.md §9).
const (
	EnvTestKernel  = "KTSTR_TEST_KERNEL"
	EnvKernel      = "KTSTR_KERNEL"
	EnvUnavailable = "KTEST_UNAVAILABLE"
	EnvAccel       = "KTEST_ACCEL"
	EnvSidecarDir  = "KTEST_SIDECAR_DIR"
	EnvRunID       = "KTEST_RUN_ID"
)

// exportedEnv is what ktest adds to go test's environment, as KEY=VALUE,
// and the keys it removes. With a kernel, KTSTR_TEST_KERNEL is its absolute
// path and KTSTR_KERNEL its entry (or image) directory. Without one, both are
// removed, so that tests cannot pick up a kernel ktest did not lock, and
// KTEST_UNAVAILABLE says why.
func exportedEnv(kernelPath, kernelDir, unavailable, accel, sidecarDir, runID string) (set, unset []string) {
	if unavailable == "" && kernelPath != "" {
		set = append(set, EnvTestKernel+"="+kernelPath, EnvKernel+"="+kernelDir)
		unset = append(unset, EnvUnavailable)
	} else {
		set = append(set, EnvUnavailable+"="+unavailable)
		unset = append(unset, EnvTestKernel, EnvKernel)
	}
	set = append(set, EnvAccel+"="+accel)
	if sidecarDir != "" {
		set = append(set, EnvSidecarDir+"="+sidecarDir, EnvRunID+"="+runID)
	} else {
		// no run directory: tests must not write into an inherited one
		unset = append(unset, EnvSidecarDir, EnvRunID)
	}
	return set, unset
}
