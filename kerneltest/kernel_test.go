package kerneltest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktest-dev/ktest/internal/kernelimage"
	"github.com/ktest-dev/ktest/internal/testkernel"
	"github.com/ktest-dev/ktest/internal/testproto"
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
	if rec, _ := readOneSidecar(t, runDir); rec.Category != testproto.NoKernel || rec.Kernel != nil {
		t.Errorf("sidecar %+v: want category no-kernel and no kernel", rec)
	}
}

func TestKernelUnavailableSkipsWithSidecar(t *testing.T) {
	t.Parallel()
	runDir := t.TempDir()
	const reason = "open /dev/kvm: EBUSY (device or resource busy); host: mem_available=1.0GiB load=9.00/9.00/9.00"
	u := testproto.Unavailable{Category: testproto.Contention, Reason: reason, Errno: "EBUSY",
		Hints: []string{"KVM is busy: retry the run", "ktest doctor shows what it needs"}}
	res := runChild(t, "kernel",
		"KTEST_PROTOCOL=1.0", "KTEST_UNAVAILABLE="+u.Text(), "KTEST_UNAVAILABLE_JSON="+u.JSON(),
		"KTEST_SIDECAR_DIR="+runDir, "KTEST_RUN_ID=run-2", "CI=true")

	// The banner is ktest's, verbatim: no second host summary appended,
	// and ktest's hints under it.
	banner := "ktest: SKIP: contention: " + reason + "\n"
	if res.verdict() != "SKIP" || !strings.Contains(res.output, banner) ||
		!strings.Contains(res.output, "hint: KVM is busy: retry the run\n") || !strings.Contains(res.output, "hint: ktest doctor shows what it needs\n") {
		t.Errorf("want SKIP with banner %q; exit %d, output:\n%s", banner, res.exit, res.output)
	}
	rec, raw := readOneSidecar(t, runDir)
	ok := rec.Schema == testproto.SkipSchema &&
		rec.Category == testproto.Contention &&
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

// A ktest of the unversioned protocol sends only the text form: category
// and reason are used, no errno is guessed from the text, and the hints
// are kerneltest's own.
func TestKernelUnavailableTextOnly(t *testing.T) {
	t.Parallel()
	runDir := t.TempDir()
	const reason = "open /dev/kvm: EBUSY (device or resource busy); host: load=9.00"
	res := runChild(t, "kernel", "KTEST_UNAVAILABLE=contention: "+reason, "KTEST_SIDECAR_DIR="+runDir, "KTEST_RUN_ID=old-run")
	if res.verdict() != "SKIP" || !strings.Contains(res.output, "ktest: SKIP: contention: "+reason+"\n") ||
		!strings.Contains(res.output, "hint: the host was short of a resource at the time") {
		t.Errorf("want SKIP with the text's category and reason and the fallback hint; output:\n%s", res.output)
	}
	if rec, raw := readOneSidecar(t, runDir); rec.Category != testproto.Contention || rec.Reason != reason || rec.Errno != "" {
		t.Errorf("sidecar: want contention, the reason, and no errno scanned from the text:\n%s", raw)
	}
}

// A ktest of a newer major version: this kerneltest says so. Without a
// kernel it still skips (the text form is read by every version), and the
// hint names both versions; with one it fails rather than misread it.
func TestKernelNewerProtocol(t *testing.T) {
	t.Parallel()
	img := writeFakeBzImage(t, "9.9.9-fake")
	versions := "ktest speaks test protocol 2.0 (KTEST_PROTOCOL), this kerneltest speaks " + testproto.Current.String()

	res := runChild(t, "kernel", "KTEST_PROTOCOL=2.0", "KTEST_UNAVAILABLE=no-kernel: none found",
		`KTEST_UNAVAILABLE_JSON={"kind":"v2"}`, "KTEST_RUN_ID=r")
	if res.verdict() != "SKIP" || !strings.Contains(res.output, "ktest: SKIP: no-kernel: none found\n") ||
		!strings.Contains(res.output, "hint: kerneltest could not read all of ktest's message: "+versions) {
		t.Errorf("newer major without a kernel: want SKIP naming the versions; output:\n%s", res.output)
	}

	res = runChild(t, "kernel", "KTEST_PROTOCOL=2.0", "KTSTR_TEST_KERNEL="+img, "KTEST_RUN_ID=r")
	if res.verdict() != "FAIL" || !strings.Contains(res.output, "kerneltest: "+versions) ||
		!strings.Contains(res.output, "go get github.com/ktest-dev/ktest@latest") || strings.Contains(res.output, "kernel is ") {
		t.Errorf("newer major with a kernel: want FAIL naming the versions and the update; output:\n%s", res.output)
	}

	// A newer minor version is read as this one.
	res = runChild(t, "kernel", "KTEST_PROTOCOL=1.9", "KTSTR_TEST_KERNEL="+img, "KTEST_RUN_ID=r")
	if res.verdict() != "PASS" || !strings.Contains(res.output, "kernel is "+img) {
		t.Errorf("newer minor: want PASS; output:\n%s", res.output)
	}
}

// Malformed protocol values are clear failures, or, where ktest's text says
// there is no kernel, a skip with the problem as a hint.
func TestKernelMalformedProtocol(t *testing.T) {
	t.Parallel()
	img := writeFakeBzImage(t, "9.9.9-fake")
	res := runChild(t, "kernel", "KTEST_PROTOCOL=v1", "KTSTR_TEST_KERNEL="+img)
	if res.verdict() != "FAIL" || !strings.Contains(res.output, `kerneltest: KTEST_PROTOCOL="v1": protocol version "v1": want MAJOR.MINOR, e.g. "1.0"; it is ktest's to set`) {
		t.Errorf("malformed KTEST_PROTOCOL: want FAIL saying what is wrong; output:\n%s", res.output)
	}
	res = runChild(t, "kernel", "KTEST_PROTOCOL=1.0", "KTEST_UNAVAILABLE=no-kvm: /dev/kvm is absent", "KTEST_UNAVAILABLE_JSON={truncated")
	if res.verdict() != "SKIP" || !strings.Contains(res.output, "ktest: SKIP: no-kvm: /dev/kvm is absent\n") ||
		!strings.Contains(res.output, `KTEST_UNAVAILABLE_JSON="{truncated": not the JSON object of docs/spec.md §9`) {
		t.Errorf("malformed KTEST_UNAVAILABLE_JSON beside the text: want SKIP with the problem as a hint; output:\n%s", res.output)
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
	setProtocolEnv(t, map[string]string{testproto.EnvTestKernel: img})
	if got := Kernel(t); got != img {
		t.Errorf("Kernel() = %q, want $KTSTR_TEST_KERNEL %q", got, img)
	}
}

// setProtocolEnv makes the environment hold exactly the protocol variables
// in env, whatever this test binary was started with (it may run under
// ktest itself). Not for parallel tests.
func setProtocolEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range []string{testproto.EnvProtocol, testproto.EnvTestKernel, testproto.EnvKernel, testproto.EnvKernelRelease,
		testproto.EnvKernelCacheKey, testproto.EnvUnavailable, testproto.EnvUnavailableJSON, testproto.EnvSidecarDir, testproto.EnvRunID} {
		t.Setenv(k, env[k])
	}
}

// Outside ktest, KTSTR_TEST_KERNEL alone: the release from the image's
// header; a cache key only for an image in a cache entry, whatever
// KTSTR_KERNEL says (a user's KTSTR_KERNEL is a kernel ID, not a path).
func TestKernelInfoOutsideKtest(t *testing.T) {
	img := writeFakeBzImage(t, "9.9.9-fake")
	setProtocolEnv(t, map[string]string{testproto.EnvTestKernel: img, testproto.EnvKernel: filepath.Dir(img)})
	if got, want := KernelInfo(t), (KernelImage{Path: img, Release: "9.9.9-fake"}); got != want {
		t.Errorf("KernelInfo = %+v, want %+v", got, want)
	}

	// The same image in a cache entry: a directory with metadata.json,
	// named after its key.
	entry := filepath.Join(t.TempDir(), "9.9.9-fake-tarball-x86_64-kc0123")
	if err := os.Mkdir(entry, 0o755); err != nil {
		t.Fatal(err)
	}
	inEntry := filepath.Join(entry, "bzImage")
	copyFile(t, img, inEntry)
	if err := os.WriteFile(filepath.Join(entry, "metadata.json"), []byte(`{"version":"9.9.9-fake"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	setProtocolEnv(t, map[string]string{testproto.EnvTestKernel: inEntry, testproto.EnvKernel: "6.1"})
	want := KernelImage{Path: inEntry, Release: "9.9.9-fake", CacheKey: filepath.Base(entry), EntryDir: entry}
	if got := KernelInfo(t); got != want {
		t.Errorf("KernelInfo in a cache entry = %+v, want %+v", got, want)
	}
	if got := Kernel(t); got != inEntry {
		t.Errorf("Kernel = %q, want %q", got, inEntry)
	}
}

// Under ktest, KernelInfo reports what ktest exported: the release and key
// are ktest's (here different from what the header and directory would
// say, to tell them apart), and no key is made up for a kernel ktest says
// is outside the cache.
func TestKernelInfoFromKtest(t *testing.T) {
	img := writeFakeBzImage(t, "9.9.9-fake")
	dir := filepath.Dir(img)
	if err := os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	setProtocolEnv(t, map[string]string{
		testproto.EnvProtocol: "1.0", testproto.EnvRunID: "r1",
		testproto.EnvTestKernel: img, testproto.EnvKernel: dir,
		testproto.EnvKernelRelease: "6.1.0-exported", testproto.EnvKernelCacheKey: "k1",
	})
	if got, want := KernelInfo(t), (KernelImage{Path: img, Release: "6.1.0-exported", CacheKey: "k1", EntryDir: dir}); got != want {
		t.Errorf("KernelInfo = %+v, want %+v", got, want)
	}

	setProtocolEnv(t, map[string]string{testproto.EnvProtocol: "1.0", testproto.EnvRunID: "r1", testproto.EnvTestKernel: img, testproto.EnvKernel: dir})
	if got, want := KernelInfo(t), (KernelImage{Path: img, Release: "9.9.9-fake"}); got != want {
		t.Errorf("KernelInfo of a kernel outside the cache = %+v, want %+v", got, want)
	}

	// A ktest of the unversioned protocol: KTSTR_KERNEL is the entry's
	// directory when the image lies in a cache entry.
	setProtocolEnv(t, map[string]string{testproto.EnvRunID: "old", testproto.EnvTestKernel: img, testproto.EnvKernel: dir})
	if got, want := KernelInfo(t), (KernelImage{Path: img, Release: "9.9.9-fake", CacheKey: filepath.Base(dir), EntryDir: dir}); got != want {
		t.Errorf("KernelInfo under an unversioned ktest = %+v, want %+v", got, want)
	}
}

// The real test kernel: KernelInfo agrees with the image header, and with
// the cache entry's metadata.json when the kernel lies in one.
func TestKernelInfoRealKernel(t *testing.T) {
	kernel, err := testkernel.Lookup()
	if err != nil {
		t.Skip(err)
	}
	setProtocolEnv(t, map[string]string{testproto.EnvTestKernel: kernel})
	info := KernelInfo(t)
	header, err := kernelimage.Inspect(kernel)
	if err != nil {
		t.Fatal(err)
	}
	if info.Path != kernel || info.Release == "" || info.Release != header.Release {
		t.Errorf("KernelInfo = %+v; header release %q", info, header.Release)
	}
	data, err := os.ReadFile(filepath.Join(filepath.Dir(kernel), "metadata.json"))
	if err != nil {
		if info.CacheKey != "" {
			t.Errorf("KernelInfo = %+v: a cache key for an image outside the cache", info)
		}
		return
	}
	var meta struct{ Version *string }
	if err := json.Unmarshal(data, &meta); err != nil {
		t.Fatal(err)
	}
	if info.CacheKey != filepath.Base(filepath.Dir(kernel)) || meta.Version != nil && *meta.Version != info.Release {
		t.Errorf("KernelInfo = %+v; the cache entry is %s with version %v", info, filepath.Dir(kernel), meta.Version)
	}
	t.Logf("%v", info)
}

// copyFile copies the file at from to to.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
