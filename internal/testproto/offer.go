package testproto

import (
	"fmt"
	"strings"
)

// Offer is what ktest tells the test binaries of one run: the kernel they
// get, or why they get none, and where the run's records go. Env turns it
// into environment variables; Receive reads them back on the test's side.
type Offer struct {
	// Kernel is the kernel the tests get; nil when they get none.
	Kernel *Kernel
	// Unavailable says why they get none. When it is set, Kernel is not
	// exported even if it is set (a resolved kernel that could not be
	// locked is not the tests' to use).
	Unavailable *Unavailable
	// Accel is "kvm" or "tcg".
	Accel string
	// SidecarDir is the run's sidecar directory and RunID its id; both ""
	// when the run has none.
	SidecarDir, RunID string
}

// Kernel is a kernel image as the protocol describes it.
type Kernel struct {
	// Path is the image's absolute path (KTSTR_TEST_KERNEL).
	Path string
	// Dir is the cache entry's directory, or the image's directory for a
	// kernel outside the cache (KTSTR_KERNEL).
	Dir string
	// Release is the kernel release, "" when unknown
	// (KTEST_KERNEL_RELEASE).
	Release string
	// CacheKey is the cache entry's key, "" for a kernel outside the cache
	// (KTEST_KERNEL_CACHE_KEY).
	CacheKey string
}

// Env returns what ktest adds to go test's environment, as KEY=VALUE, and
// the keys it removes: a variable the run does not set is removed, so that
// a test never reads one inherited from ktest's own environment (a kernel
// ktest did not lock, another run's sidecar directory).
func (o Offer) Env() (set, unset []string) {
	add := func(key, value string) { set = append(set, key+"="+value) }
	addOrUnset := func(key, value string) {
		if value == "" {
			unset = append(unset, key)
		} else {
			add(key, value)
		}
	}
	add(EnvProtocol, Current.String())
	if o.Unavailable == nil && o.Kernel != nil && o.Kernel.Path != "" {
		k := o.Kernel
		add(EnvTestKernel, k.Path)
		add(EnvKernel, k.Dir)
		addOrUnset(EnvKernelRelease, k.Release)
		addOrUnset(EnvKernelCacheKey, k.CacheKey)
		unset = append(unset, EnvUnavailable, EnvUnavailableJSON)
	} else {
		u := Unavailable{Category: NoKernel, Reason: "ktest resolved no kernel"}
		if o.Unavailable != nil {
			u = *o.Unavailable
		}
		add(EnvUnavailable, u.Text())
		add(EnvUnavailableJSON, u.JSON())
		unset = append(unset, EnvTestKernel, EnvKernel, EnvKernelRelease, EnvKernelCacheKey)
	}
	add(EnvAccel, o.Accel)
	if o.SidecarDir != "" {
		add(EnvSidecarDir, o.SidecarDir)
		add(EnvRunID, o.RunID)
	} else {
		unset = append(unset, EnvSidecarDir, EnvRunID)
	}
	return set, unset
}

// Received is what a test binary finds in its environment.
type Received struct {
	// Protocol is KTEST_PROTOCOL; zero when there is none.
	Protocol Version
	// UnderKtest is true when ktest runs this binary (it exported
	// KTEST_PROTOCOL or KTEST_RUN_ID), false under plain go test.
	UnderKtest bool
	// Kernel is the kernel the test gets: from ktest, or from
	// KTSTR_TEST_KERNEL set by hand. nil when there is none, and when
	// Unavailable is set. Outside ktest only Path is filled in; under a
	// ktest of the unversioned protocol, Path and Dir.
	Kernel *Kernel
	// Unavailable is why there is no kernel, when ktest said so.
	Unavailable *Unavailable
	// Accel, SidecarDir and RunID are KTEST_ACCEL, KTEST_SIDECAR_DIR and
	// KTEST_RUN_ID ("" when unset).
	Accel, SidecarDir, RunID string
}

// ProtocolError reports an environment this build cannot read: a
// KTEST_PROTOCOL of a newer major version, or a malformed protocol value.
// Receive still returns what it could read safely with it: the text form
// of KTEST_UNAVAILABLE, which every version keeps.
type ProtocolError struct {
	// Var is the variable at fault and Value its value.
	Var, Value string
	// Newer is true when Value is a valid version of a newer major.
	Newer bool
	// Problem says what is wrong with it.
	Problem string
}

// Error names the variable, the versions on both sides when they differ,
// and what to do.
func (e *ProtocolError) Error() string {
	if e.Newer {
		return fmt.Sprintf("ktest speaks test protocol %s (%s), this kerneltest speaks %s and cannot read it; update the module the tests import (go get github.com/ktest-dev/ktest@latest), or run them with a ktest of protocol %d.x",
			e.Value, e.Var, Current, Current.Major)
	}
	return fmt.Sprintf("%s=%q: %s; it is ktest's to set (this kerneltest speaks protocol %s): run the tests with a matching ktest, or unset it", e.Var, truncateValue(e.Value), e.Problem, Current)
}

// Receive reads the protocol from getenv (os.Getenv in a test binary).
// Under a KTEST_PROTOCOL of this major version (or none) it reads
// everything; KTEST_UNAVAILABLE_JSON wins over the text form, and text
// alone (an unversioned ktest, or a value set by hand) gives category and
// reason without errno or hints. A newer major, a malformed KTEST_PROTOCOL
// or a malformed KTEST_UNAVAILABLE_JSON is a *ProtocolError; the Received
// returned with it has the text form of KTEST_UNAVAILABLE only (and the
// variables outside the versioned protocol: accelerator, sidecar directory
// and run id).
func Receive(getenv func(string) string) (Received, error) {
	r := Received{
		Accel:      strings.TrimSpace(getenv(EnvAccel)),
		SidecarDir: getenv(EnvSidecarDir),
		RunID:      getenv(EnvRunID),
	}
	protocolText := getenv(EnvProtocol)
	r.UnderKtest = protocolText != "" || r.RunID != ""
	if text := getenv(EnvUnavailable); text != "" {
		u := ParseUnavailableText(text)
		r.Unavailable = &u
	}

	if protocolText != "" {
		v, err := ParseVersion(protocolText)
		if err != nil {
			return r, &ProtocolError{Var: EnvProtocol, Value: protocolText, Problem: err.Error()}
		}
		if v.Major > Current.Major {
			return r, &ProtocolError{Var: EnvProtocol, Value: v.String(), Newer: true}
		}
		r.Protocol = v
	}
	if text := getenv(EnvUnavailableJSON); text != "" {
		u, err := ParseUnavailableJSON(text)
		if err != nil {
			return r, &ProtocolError{Var: EnvUnavailableJSON, Value: text, Problem: err.Error()}
		}
		r.Unavailable = &u
	}
	if r.Unavailable != nil {
		return r, nil
	}
	path := getenv(EnvTestKernel)
	if path == "" {
		return r, nil
	}
	r.Kernel = &Kernel{Path: path}
	if r.UnderKtest {
		// Set by a user, KTSTR_KERNEL is a kernel ID (a version, a key),
		// not a directory: only ktest's is read.
		r.Kernel.Dir = getenv(EnvKernel)
	}
	if !r.Protocol.IsZero() {
		r.Kernel.Release = getenv(EnvKernelRelease)
		r.Kernel.CacheKey = getenv(EnvKernelCacheKey)
	}
	return r, nil
}

// truncateValue shortens a value quoted in an error message.
func truncateValue(s string) string {
	const maxLen = 200
	if len(s) > maxLen {
		return s[:maxLen] + "..."
	}
	return s
}
