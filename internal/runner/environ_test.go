package runner

import (
	"slices"
	"strings"
	"testing"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/kernelimage"
	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/testproto"
)

// The preflight's outcome reaches the tests through the protocol: the
// kernel with its release and cache key, or the structured reason there is
// none.
func TestExportedEnv(t *testing.T) {
	version := "6.1.0-arm64"
	pre := &preflight.Report{KVM: preflight.KVMReport{Accel: "tcg"}}
	pre.Resolution.Kernel = &preflight.Kernel{
		Path: "/c/k1/Image", Dir: "/c/k1", Source: "cache",
		Entry: &cache.Entry{Key: "k1", Dir: "/c/k1", Metadata: &cache.Metadata{Version: &version}},
		// An arm64 Image has no version string: the cache's is used.
		Image: kernelimage.Info{Format: kernelimage.FormatArm64Image},
	}
	set, unset := exportedEnv(pre, "/runs/r1", "r1")
	for _, kv := range []string{"KTEST_PROTOCOL=1.0", "KTSTR_TEST_KERNEL=/c/k1/Image", "KTSTR_KERNEL=/c/k1",
		"KTEST_KERNEL_RELEASE=6.1.0-arm64", "KTEST_KERNEL_CACHE_KEY=k1", "KTEST_ACCEL=tcg", "KTEST_SIDECAR_DIR=/runs/r1", "KTEST_RUN_ID=r1"} {
		if !slices.Contains(set, kv) {
			t.Errorf("set %q lacks %s", set, kv)
		}
	}
	if !slices.Contains(unset, "KTEST_UNAVAILABLE") || !slices.Contains(unset, "KTEST_UNAVAILABLE_JSON") {
		t.Errorf("unset %q lacks the unavailability", unset)
	}

	pre.Unavailable = &preflight.Unavailable{Category: testproto.Contention, Reason: "open /dev/kvm: EBUSY", Errno: "EBUSY", Hints: []string{"retry"}}
	set, unset = exportedEnv(pre, "", "")
	got, err := testproto.Receive(func(k string) string {
		for _, kv := range set {
			if key, v, _ := strings.Cut(kv, "="); key == k {
				return v
			}
		}
		return ""
	})
	if err != nil || got.Kernel != nil || got.Unavailable == nil || got.Unavailable.Errno != "EBUSY" || !slices.Equal(got.Unavailable.Hints, []string{"retry"}) {
		t.Errorf("tests receive %+v (%v); want the contention with errno and hints, no kernel", got, err)
	}
	for _, k := range []string{"KTSTR_TEST_KERNEL", "KTEST_KERNEL_CACHE_KEY", "KTEST_SIDECAR_DIR"} {
		if !slices.Contains(unset, k) {
			t.Errorf("unset %q lacks %s", unset, k)
		}
	}
}
