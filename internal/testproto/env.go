package testproto

// Environment variables of the protocol (docs/spec.md §9). ktest sets them
// for go test and the test binaries; KTSTR_TEST_KERNEL is also what a user
// sets to run kernel tests under plain go test. The KTSTR_ names are
// ktstr's and keep its meaning.
const (
	// EnvProtocol is the protocol version ktest speaks, "MAJOR.MINOR"
	// (Current). Always exported by ktest; unset outside ktest and under a
	// ktest older than the versioned protocol.
	EnvProtocol = "KTEST_PROTOCOL"

	// EnvTestKernel is the absolute path of the kernel image the tests
	// get; removed when they get none.
	EnvTestKernel = "KTSTR_TEST_KERNEL"
	// EnvKernel is the kernel's cache entry directory, or the image's
	// directory for a kernel outside the cache; removed with EnvTestKernel.
	// Set by a user, it is a kernel ID for ktest (docs/spec.md §5), so the
	// test side reads it only under ktest.
	EnvKernel = "KTSTR_KERNEL"
	// EnvKernelRelease is the kernel's release (what uname -r says in the
	// guest), when ktest knows it.
	EnvKernelRelease = "KTEST_KERNEL_RELEASE"
	// EnvKernelCacheKey is the key of the cache entry holding the kernel;
	// removed for a kernel outside the cache.
	EnvKernelCacheKey = "KTEST_KERNEL_CACHE_KEY"

	// EnvUnavailable says why tests get no kernel, as "<category>:
	// <reason>": the form every version of ktest exports, for older
	// readers and for people.
	EnvUnavailable = "KTEST_UNAVAILABLE"
	// EnvUnavailableJSON is the same as a JSON object (Unavailable), with
	// the errno and hints that the text form has no place for.
	EnvUnavailableJSON = "KTEST_UNAVAILABLE_JSON"

	// EnvAccel is the accelerator guests should use: "kvm" or "tcg",
	// from ktest's KVM probe.
	EnvAccel = "KTEST_ACCEL"
	// EnvVMCacheDir, when set, is where kerneltest.Run keeps what its
	// boots share (the initramfs per test binary and kernel), instead of
	// $XDG_CACHE_HOME or $HOME/.cache, then ktest/vm. A user sets it; ktest
	// does not.
	EnvVMCacheDir = "KTEST_VM_CACHE_DIR"
	// EnvSidecarDir is this run's sidecar directory, where tests write
	// skip sidecars (skips/*.json); removed when the run has none. Read by
	// ktest itself, it is the base directory of all runs' sidecars.
	EnvSidecarDir = "KTEST_SIDECAR_DIR"
	// EnvRunID is the run's id; removed with EnvSidecarDir.
	EnvRunID = "KTEST_RUN_ID"

	// EnvKtstrCI and EnvCI, when non-empty, mark a CI run (a sidecar's
	// run_source "ci").
	EnvKtstrCI = "KTSTR_CI"
	EnvCI      = "CI"
)

// RunSource is a sidecar's run_source: "ci" when KTSTR_CI or CI is
// non-empty in getenv's environment, else "local".
func RunSource(getenv func(string) string) string {
	if getenv(EnvKtstrCI) != "" || getenv(EnvCI) != "" {
		return "ci"
	}
	return "local"
}
