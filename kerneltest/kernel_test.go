package kerneltest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktest-dev/ktest/internal/skipreport"
)

func init() {
	childRoles["kernel"] = func(t *testing.T) {
		t.Logf("kernel is %s", Kernel(t))
	}
}

func TestKernelOutsideKtestSkips(t *testing.T) {
	t.Parallel()
	res := runChild(t, "kernel")
	want := "ktest: SKIP: no-kernel: not run under ktest and KTSTR_TEST_KERNEL is unset"
	if res.verdict() != "SKIP" || !strings.Contains(res.output, want) ||
		!strings.Contains(res.output, "hint: run the tests with ktest") || !strings.Contains(res.output, "hint: or name a kernel image") {
		t.Errorf("Kernel outside ktest: want SKIP with banner %q and hints; exit %d, output:\n%s", want, res.exit, res.output)
	}
}

func TestKernelUnderKtestWithoutKernelSkips(t *testing.T) {
	t.Parallel()
	runDir := t.TempDir()
	res := runChild(t, "kernel", "KTEST_RUN_ID=run-1", "KTEST_SIDECAR_DIR="+runDir)
	want := "ktest: SKIP: no-kernel: ktest exported neither KTSTR_TEST_KERNEL nor KTEST_UNAVAILABLE"
	if res.verdict() != "SKIP" || !strings.Contains(res.output, want) {
		t.Errorf("want SKIP with %q; output:\n%s", want, res.output)
	}
	if rec, _ := readOneSidecar(t, runDir); rec.Category != skipreport.NoKernel || rec.Kernel != nil {
		t.Errorf("sidecar %+v: want category no-kernel and no kernel", rec)
	}
}

func TestKernelUnavailableSkipsWithSidecar(t *testing.T) {
	t.Parallel()
	runDir := t.TempDir()
	const reason = "open /dev/kvm: EBUSY (device or resource busy); host: mem_available=1.0GiB load=9.00/9.00/9.00"
	res := runChild(t, "kernel",
		"KTEST_UNAVAILABLE=contention: "+reason,
		"KTEST_SIDECAR_DIR="+runDir, "KTEST_RUN_ID=run-2", "CI=true")

	// The banner is ktest's, verbatim: no second host summary appended.
	banner := "ktest: SKIP: contention: " + reason + "\n"
	if res.verdict() != "SKIP" || !strings.Contains(res.output, banner) {
		t.Errorf("want SKIP with banner %q; exit %d, output:\n%s", banner, res.exit, res.output)
	}
	rec, raw := readOneSidecar(t, runDir)
	ok := rec.Schema == skipreport.SkipSchema &&
		rec.Category == skipreport.Contention &&
		rec.Reason == reason &&
		rec.Errno == "EBUSY" &&
		rec.Test == "TestChildRole" &&
		rec.Package == "github.com/ktest-dev/ktest/kerneltest" &&
		rec.RunID == "run-2" &&
		rec.RunSource == "ci" &&
		rec.Kernel == nil &&
		rec.Host.OnlineCPUs > 0 && !rec.Time.IsZero()
	if !ok {
		t.Errorf("skip sidecar does not record the skip:\n%s", raw)
	}
}

func TestKernelBadPathFails(t *testing.T) {
	t.Parallel()
	notKernel := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notKernel, []byte("not a kernel\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ path, want string }{
		"not an image": {notKernel, "invalid kernel image " + notKernel},
		"missing":      {notKernel + ".missing", "does not exist"},
		"relative":     {"no/such/bzImage", "use an absolute path"},
	} {
		res := runChild(t, "kernel", "KTSTR_TEST_KERNEL="+c.path)
		if res.verdict() != "FAIL" || !strings.Contains(res.output, c.want) || strings.Contains(res.output, "ktest: SKIP") {
			t.Errorf("%s: KTSTR_TEST_KERNEL=%s: want FAIL (never a skip) mentioning %q; output:\n%s", name, c.path, c.want, res.output)
		}
	}
}

func TestKernelReturnsEnvPath(t *testing.T) {
	img := writeFakeBzImage(t, "9.9.9-fake")
	t.Setenv(envUnavailable, "")
	t.Setenv(envTestKernel, img)
	if got := Kernel(t); got != img {
		t.Errorf("Kernel() = %q, want $KTSTR_TEST_KERNEL %q", got, img)
	}
}
