package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotest.tools/gotestsum/testjson"

	"github.com/ktest-dev/ktest/internal/testkernel"
)

// The vmfixture module (testdata/vmfixture, see its README) asks questions
// only a kernel can answer. TestVMFixture runs its test binaries as root on
// this host, the baseline, then through `ktest --vm` on every kernel of the
// test kernel's cache, and checks that the guest answers them all, with the
// counts and exit codes of the baseline wherever this host could answer.
// The baseline acts on this host's kernel as the guest does on its own:
// `modprobe dummy` (the module stays loaded, as after any modprobe), a
// dummy link in a network namespace of its own, a child cgroup created
// and removed; nothing is written outside temp dirs.

// hostCannot starts a fixture skip that is the machine's fault
// (vmfixture/need.HostCannot).
const hostCannot = "vmfixture: host cannot: "

// vmFixtureWant are the fixture's results in a guest as root (README):
// every test that can pass passes; TestFails fails; TestSkips and TestHang
// (without VMFIXTURE_HANG) skip. go test exits 1.
var vmFixtureWant = struct {
	passed, failed, skipped int
	failedPkgs              []string
	exit                    int
}{8, 1, 2, []string{"example.com/vmfixture/exitcode", "example.com/vmfixture/verdicts"}, 1}

// fixtureTests are the outcomes the baseline must show on any host as
// root; the kernel package's tests may also skip there as hostCannot.
var fixtureTests = map[string]testjson.Action{
	"files TestTestdata":           testjson.ActionPass,
	"files TestWritable":           testjson.ActionPass,
	"verdicts TestPasses":          testjson.ActionPass,
	"verdicts TestFails":           testjson.ActionFail,
	"verdicts TestSkips":           testjson.ActionSkip,
	"exitcode TestPassesThenExits": testjson.ActionPass,
	"hang TestHang":                testjson.ActionSkip,
	"kernel TestRelease":           testjson.ActionPass,
	"kernel TestBPF":               testjson.ActionPass,
	"kernel TestCgroup2":           testjson.ActionPass,
	"kernel TestModuleDummyLink":   testjson.ActionPass,
}

// fixtureExits are the test binaries' exit statuses (all but the kernel
// package's, which is 0 wherever its tests pass or skip).
var fixtureExits = map[string]int{"files": 0, "verdicts": 1, "exitcode": 3, "hang": 0, "kernel": 0}

// fixtureRun is what one run of the fixture showed.
type fixtureRun struct {
	exit int
	// outcome of each test, keyed "pkg TestName" (pkg: the last element
	// of the import path), and the skip message of each skipped one.
	outcome map[string]testjson.Action
	skipMsg map[string]string
	// failedPkgs are the packages whose result was fail, sorted.
	failedPkgs []string
	// output is every Output of the events, in order.
	output                  string
	passed, failed, skipped int
}

func (r fixtureRun) String() string {
	return fmt.Sprintf("exit %d, %d passed, %d failed, %d skipped, failed packages %q", r.exit, r.passed, r.failed, r.skipped, r.failedPkgs)
}

// scanFixture reads a test2json stream with gotestsum's testjson, as CI
// tools would.
func scanFixture(t *testing.T, events []byte, exit int) fixtureRun {
	t.Helper()
	exec, err := testjson.ScanTestOutput(testjson.ScanConfig{Stdout: bytes.NewReader(events)})
	if err != nil {
		t.Fatalf("gotestsum cannot read the events: %v\n%s", err, events)
	}
	r := fixtureRun{exit: exit, outcome: map[string]testjson.Action{}, skipMsg: map[string]string{}}
	for _, name := range exec.Packages() {
		p := exec.Package(name)
		short := name[strings.LastIndex(name, "/")+1:]
		r.passed, r.failed, r.skipped = r.passed+len(p.Passed), r.failed+len(p.Failed), r.skipped+len(p.Skipped)
		for _, set := range []struct {
			tcs    []testjson.TestCase
			action testjson.Action
		}{{p.Passed, testjson.ActionPass}, {p.Failed, testjson.ActionFail}, {p.Skipped, testjson.ActionSkip}} {
			for _, tc := range set.tcs {
				key := short + " " + tc.Test.Name()
				if prev, ok := r.outcome[key]; ok {
					t.Errorf("%s reported twice (%s, then %s)", key, prev, set.action)
				}
				r.outcome[key] = set.action
				if set.action == testjson.ActionSkip {
					r.skipMsg[key] = strings.Join(p.OutputLines(tc), "")
				}
			}
		}
		if p.Result() == testjson.ActionFail {
			r.failedPkgs = append(r.failedPkgs, name)
		}
	}
	slices.Sort(r.failedPkgs)
	for _, line := range bytes.Split(events, []byte("\n")) {
		var ev struct{ Output string }
		if json.Unmarshal(line, &ev) == nil {
			r.output += ev.Output
		}
	}
	return r
}

// vmFixtureEnv is an environment for go and ktest over a copy of the
// fixture: go's caches of this machine (warm, so nothing is downloaded),
// no network, and every per-user directory, ktest's sidecars and its
// module-root history in temp dirs. No kernel is selected by the
// environment; a ktest run names one with --kernel. QEMU and virtiofsd are
// this host's (no KTEST_TEST_HOST_ROOT).
type vmFixtureEnv struct {
	dir  string   // the fixture copy, the module root
	env  []string // for the baseline
	home string
}

func newVMFixtureEnv(t *testing.T) *vmFixtureEnv {
	t.Helper()
	src, err := filepath.Abs("testdata/vmfixture")
	if err != nil {
		t.Fatal(err)
	}
	fx := newModuleEnv(t, "vmfixture")
	copyTree(t, src, fx.dir)
	return fx
}

// newModuleEnv is the environment for a module to be written at
// TEMP/name.
func newModuleEnv(t testing.TB, name string) *vmFixtureEnv {
	t.Helper()
	tmp := t.TempDir()
	fx := &vmFixtureEnv{dir: filepath.Join(tmp, name), home: filepath.Join(tmp, "home")}
	if err := os.Mkdir(fx.home, 0o755); err != nil {
		t.Fatal(err)
	}
	fx.env = withEnv(os.Environ(), map[string]string{
		"GOCACHE": goVar(t, "GOCACHE"), "GOMODCACHE": goVar(t, "GOMODCACHE"),
		"GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local", "GOWORK": "off",
		"HOME": fx.home, "XDG_CACHE_HOME": filepath.Join(fx.home, ".cache"),
		"KTSTR_TEST_KERNEL": "", "KTSTR_KERNEL": "", "KTSTR_CACHE_DIR": "",
		"KTEST_KERNEL_RELEASE": "", "KTEST_KERNEL_CACHE_KEY": "", "KTEST_SIDECAR_DIR": "",
		"KTEST_ON_NO_KVM": "", "KTEST_GO": "", "GITHUB_ACTIONS": "", "VMFIXTURE_HANG": "",
	})
	return fx
}

// goVar is `go env KEY`.
func goVar(t testing.TB, key string) string {
	t.Helper()
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", key, err)
	}
	return strings.TrimSpace(string(out))
}

// withEnv returns env with the keys of set replaced (an empty value
// removes the key).
func withEnv(env []string, set map[string]string) []string {
	out := slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		_, ok := set[k]
		return ok
	})
	for k, v := range set {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, 0o644)
		}
		return fmt.Errorf("%s: not a regular file or directory", path)
	})
	if err != nil {
		t.Fatalf("copy the fixture: %v", err)
	}
}

// command runs in dir with env, in a process group of its own that a
// cancelled ctx kills as a whole.
func command(ctx context.Context, dir string, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// exitOf is cmd's exit status after Run returned err; it fails t when the
// command did not run or did not exit by itself.
func exitOf(t *testing.T, cmd *exec.Cmd, err error) int {
	t.Helper()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("%s: killed by %v", strings.Join(cmd.Args, " "), ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

// hostBaseline builds the fixture's test binaries with go test -c and runs
// each in its package directory on this host, the way go test would,
// reading its -test.v=test2json output through go tool test2json. A
// package's result is its binary's exit status, which test2json alone
// does not see (exitcode's binary prints PASS and exits 3).
func hostBaseline(t *testing.T, fx *vmFixtureEnv) (fixtureRun, map[string]int) {
	t.Helper()
	ctx := t.Context()
	bins := t.TempDir()
	build := command(ctx, fx.dir, fx.env, "go", "test", "-c", "-o", bins+"/", "./...")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c ./...: %v\n%s", err, out)
	}
	list := command(ctx, fx.dir, fx.env, "go", "list", "-f", "{{.ImportPath}}\t{{.Dir}}", "./...")
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var events bytes.Buffer
	exits := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, dir, _ := strings.Cut(line, "\t")
		short := pkg[strings.LastIndex(pkg, "/")+1:]
		bin := filepath.Join(bins, short+".test")
		if _, err := os.Stat(bin); errors.Is(err, fs.ErrNotExist) {
			continue // no test files
		}
		// go test's own arguments for a local run of one package.
		run := command(ctx, dir, fx.env, bin, "-test.v=test2json", "-test.count=1", "-test.timeout=2m", "-test.paniconexit0")
		var raw bytes.Buffer
		run.Stdout, run.Stderr = &raw, &raw
		exits[short] = exitOf(t, run, run.Run())
		conv := command(ctx, dir, fx.env, "go", "tool", "test2json", "-p", pkg)
		conv.Stdin = &raw
		js, err := conv.Output()
		if err != nil {
			t.Fatalf("go tool test2json -p %s: %v", pkg, err)
		}
		// test2json ends with the package's result as the output reads;
		// go test's is the exit status.
		lines := bytes.Split(bytes.TrimSpace(js), []byte("\n"))
		last := lines[len(lines)-1]
		var ev struct{ Action, Test string }
		if err := json.Unmarshal(last, &ev); err != nil || ev.Test != "" || (ev.Action != "pass" && ev.Action != "fail") {
			t.Fatalf("test2json's last event for %s is not the package result: %s", pkg, last)
		}
		result := "pass"
		if exits[short] != 0 {
			result = "fail"
		}
		lines[len(lines)-1] = fmt.Appendf(nil, `{"Action":%q,"Package":%q}`, result, pkg)
		events.Write(bytes.Join(lines, []byte("\n")))
		events.WriteByte('\n')
	}
	exit := 0
	for _, code := range exits {
		if code != 0 {
			exit = 1 // go test's status when a package failed
		}
	}
	return scanFixture(t, events.Bytes(), exit), exits
}

// TestVMFixture: the baseline on this host as root, then `ktest --vm` on
// every kernel of the cache.
func TestVMFixture(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the vmfixture module and boots every cached kernel under ktest --vm")
	}
	if os.Geteuid() != 0 {
		t.Skip("the fixture's kernel questions need root: the baseline runs them as root on this host")
	}
	// Minutes of guests: alongside the other parallel tests. The
	// environment of every command is explicit (no t.Setenv).
	t.Parallel()
	fx := newVMFixtureEnv(t)
	host, exits := hostBaseline(t, fx)
	t.Logf("host baseline: %v", host)
	checkBaseline(t, host, exits)
	if t.Failed() {
		return
	}

	kernels, err := testkernel.All()
	if errors.Is(err, testkernel.ErrNone) {
		t.Skipf("ktest: SKIP: no-kernel: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ktest := buildStaticKtest(t)
	if reason := vmUnsupported(t, ktest, fx); reason != "" {
		t.Skipf("ktest --vm is not available in this build: %s", reason)
	}
	for i, k := range kernels.Entries {
		t.Run(k.Key, func(t *testing.T) {
			vm := newVMRun(t, fx, ktest, kernels.Root, k.Key)
			var release string
			if k.Metadata.Version != nil {
				release = *k.Metadata.Version
			}
			checkVMRun(t, vm, host, release)
			if fs := packageFS(vm.output); fs != fuseMagic {
				t.Errorf("with virtiofsd the package directory is on filesystem %q in the guest, want virtiofs (FUSE, %s)", fs, fuseMagic)
			}
			// -race, the initramfs transport and the hang (-timeout plus
			// ktest's hard bound, 30s): once, on the newest kernel.
			if i == 0 {
				t.Run("race", func(t *testing.T) { checkRace(t, fx, ktest, kernels.Root, k.Key, host) })
				t.Run("initramfs", func(t *testing.T) { checkInitramfs(t, fx, ktest, kernels.Root, k.Key, host, release) })
				t.Run("hang", func(t *testing.T) { checkHang(t, fx, ktest, kernels.Root, k.Key) })
			}
		})
	}
}

// checkBaseline: on any host as root, every test has its fixed outcome,
// except that a kernel question may be one this host cannot answer.
func checkBaseline(t *testing.T, host fixtureRun, exits map[string]int) {
	t.Helper()
	for key, want := range fixtureTests {
		got, ok := host.outcome[key]
		switch {
		case !ok:
			t.Errorf("host baseline: %s did not run", key)
		case got == want:
		case strings.HasPrefix(key, "kernel ") && got == testjson.ActionSkip && strings.Contains(host.skipMsg[key], hostCannot):
			t.Logf("host baseline: %s skipped: %s", key, cannotLine(host.skipMsg[key]))
		default:
			t.Errorf("host baseline: %s: %s, want %s\n%s", key, got, want, host.skipMsg[key])
		}
	}
	if len(host.outcome) != len(fixtureTests) {
		t.Errorf("host baseline ran %d tests, the fixture has %d: %v", len(host.outcome), len(fixtureTests), host.outcome)
	}
	if !maps.Equal(exits, fixtureExits) {
		t.Errorf("host baseline exit statuses %v, want %v", exits, fixtureExits)
	}
	if host.exit != vmFixtureWant.exit || !slices.Equal(host.failedPkgs, vmFixtureWant.failedPkgs) {
		t.Errorf("host baseline: %v; want exit %d and failed packages %q", host, vmFixtureWant.exit, vmFixtureWant.failedPkgs)
	}
}

// clip is s cut to its last n bytes.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "[...]\n" + s[len(s)-n:]
}

// cannotLine is the hostCannot part of a skipped test's output.
func cannotLine(output string) string {
	if _, msg, ok := strings.Cut(output, hostCannot); ok {
		return firstLine(msg)
	}
	return strings.TrimSpace(output)
}

// buildStaticKtest builds this module's ktest without cgo: the binary is
// also the guest's /init, which has no dynamic loader to start it.
func buildStaticKtest(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "ktest")
	env := withEnv(os.Environ(), map[string]string{"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local"})
	build := command(t.Context(), root, env, "go", "build", "-o", bin, "./cmd/ktest")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ktest: %v\n%s", err, out)
	}
	return bin
}

// vmUnsupported says why this ktest has no --vm ("" when it has): a
// dry run lists the packages without booting anything.
func vmUnsupported(t testing.TB, ktest string, fx *vmFixtureEnv) string {
	t.Helper()
	cmd := command(t.Context(), fx.dir, fx.env, ktest, "--vm", "--dry-run", "./...")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return ""
	}
	if regexp.MustCompile(`(?i)unknown (ktest )?flag --vm\b|flag provided but not defined: -?-vm\b`).Match(out) {
		return fmt.Sprintf("`ktest --vm --dry-run ./...`: %s", firstLine(string(out)))
	}
	t.Fatalf("ktest --vm --dry-run ./...: %v\n%s", err, out)
	return ""
}

// vmRunEnv is fx's environment for a ktest run on the kernels of the cache
// at root, writing its sidecars into sidecars.
func vmRunEnv(fx *vmFixtureEnv, root string, extra map[string]string) []string {
	set := map[string]string{"KTSTR_CACHE_DIR": root}
	for k, v := range extra {
		set[k] = v
	}
	return withEnv(fx.env, set)
}

type vmRun struct {
	fixtureRun
	stderr   string
	cover    string // the cover profile's text
	sidecars string
}

// newVMRun runs `ktest --vm --kernel KEY -json ./...` over the fixture
// with a cover profile, and reads the result.
func newVMRun(t *testing.T, fx *vmFixtureEnv, ktest, root, key string) vmRun {
	t.Helper()
	return newVMRunEnv(t, fx, ktest, key, vmRunEnv(fx, root, nil))
}

func newVMRunEnv(t *testing.T, fx *vmFixtureEnv, ktest, key string, env []string) vmRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	cover := filepath.Join(tmp, "cover.out")
	sidecars := filepath.Join(tmp, "sidecars")
	cmd := command(ctx, fx.dir, env, ktest,
		"--vm", "--kernel", key, "--on-no-kvm", "tcg", "--sidecar-dir", sidecars,
		"-json", "-count=1", "-coverprofile="+cover, "-coverpkg=example.com/vmfixture/files", "./...")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	exit := exitOf(t, cmd, err)
	t.Logf("ktest --vm --kernel %s: exit %d in %v; stderr:\n%s", key, exit, time.Since(start).Round(time.Millisecond), stderr.Bytes())
	r := vmRun{fixtureRun: scanFixture(t, stdout.Bytes(), exit), stderr: stderr.String(), sidecars: sidecars}
	if data, err := os.ReadFile(cover); err == nil {
		r.cover = string(data)
	} else {
		t.Errorf("no cover profile on the host: %v", err)
	}
	return r
}

// checkVMRun: the guest answers every question (no hostCannot skip, the
// README's counts), each test has the baseline's outcome wherever the host
// could answer, the packages fail and the run exits as on the host, and
// the cover profile written in the guest reached the host.
func checkVMRun(t *testing.T, vm vmRun, host fixtureRun, release string) {
	t.Helper()
	w := vmFixtureWant
	if vm.passed != w.passed || vm.failed != w.failed || vm.skipped != w.skipped {
		t.Errorf("ktest --vm: %v; want %d passed, %d failed, %d skipped; go test's output:\n%s", vm, w.passed, w.failed, w.skipped, clip(vm.output, 6000))
	}
	for key, msg := range vm.skipMsg {
		if strings.Contains(msg, hostCannot) {
			t.Errorf("in the guest, %s skipped as the machine's fault: %s", key, cannotLine(msg))
		}
	}
	for key, want := range host.outcome {
		if want == testjson.ActionSkip && strings.Contains(host.skipMsg[key], hostCannot) {
			want = fixtureTests[key] // what the guest must answer
		}
		if got := vm.outcome[key]; got != want {
			t.Errorf("%s: %q in the guest, %q on the host (baseline)", key, got, want)
		}
	}
	if len(vm.outcome) != len(host.outcome) {
		t.Errorf("the guest ran %d tests, the host %d", len(vm.outcome), len(host.outcome))
	}
	if vm.exit != host.exit || !slices.Equal(vm.failedPkgs, host.failedPkgs) {
		t.Errorf("ktest --vm: exit %d, failed packages %q; the host baseline: exit %d, %q", vm.exit, vm.failedPkgs, host.exit, host.failedPkgs)
	}
	// TestRelease compared uname with KTEST_KERNEL_RELEASE; this checks
	// that ktest exported the entry's release, when the entry records it.
	if release != "" && !strings.Contains(vm.output, "running on "+release+"\n") {
		t.Errorf("TestRelease did not log the kernel %s", release)
	}
	checkCover(t, vm.cover)
}

// checkCover: the profile the guest wrote covers files.Lines and
// files.Longest (the tests call them) and not files.Unused.
func checkCover(t *testing.T, profile string) {
	t.Helper()
	if !strings.HasPrefix(profile, "mode: ") {
		t.Errorf("cover profile does not start with a mode line:\n%s", profile)
		return
	}
	covered := map[bool]int{}
	for _, line := range strings.Split(profile, "\n")[1:] {
		if !strings.HasPrefix(line, "example.com/vmfixture/files/files.go:") {
			continue
		}
		f := strings.Fields(line)
		covered[f[len(f)-1] != "0"]++
	}
	if covered[true] == 0 || covered[false] == 0 {
		t.Errorf("cover profile has %d covered and %d uncovered blocks of files.go, want some of each:\n%s", covered[true], covered[false], profile)
	}
}

// fuseMagic is FUSE_SUPER_MAGIC, virtiofs's filesystem type, as
// files.TestTestdata logs it.
const fuseMagic = "0x65735546"

// packageFS is the filesystem magic files.TestTestdata logged for its
// package directory.
func packageFS(output string) string {
	m := regexp.MustCompile(`vmfixture: package directory on filesystem magic (0x[0-9a-f]+)`).FindStringSubmatch(output)
	if m == nil {
		return ""
	}
	return m[1]
}

// checkInitramfs runs the fixture as a host without virtiofsd would (a
// host root for ktest's tool lookup that has none, and none on PATH): the
// test binary and its module tree travel in the initramfs, and the results,
// the cover profile included, must be the same.
func checkInitramfs(t *testing.T, fx *vmFixtureEnv, ktest, root, key string, host fixtureRun, release string) {
	var path []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, "virtiofsd")); err != nil {
			path = append(path, dir)
		}
	}
	env := vmRunEnv(fx, root, map[string]string{
		"KTEST_TEST_HOST_ROOT": filepath.Join(t.TempDir(), "host"),
		"PATH":                 strings.Join(path, string(filepath.ListSeparator)),
	})
	vm := newVMRunEnv(t, fx, ktest, key, env)
	if !strings.Contains(vm.stderr, "no virtiofsd") {
		t.Errorf("no notice of the missing virtiofsd on stderr:\n%s", vm.stderr)
	}
	if fs := packageFS(vm.output); fs == "" || fs == fuseMagic {
		t.Errorf("without virtiofsd the package directory is on filesystem %q in the guest, want the initramfs's (not FUSE, %s)", fs, fuseMagic)
	}
	checkVMRun(t, vm, host, release)
}

// checkRace runs the packages that need no root under -race: cgo makes
// the test binaries dynamic, so the guest must find their loader and libc
// on the shared root. The outcomes are the baseline's.
func checkRace(t *testing.T, fx *vmFixtureEnv, ktest, root, key string, host fixtureRun) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skipf("-race needs cgo and a C compiler: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	cmd := command(ctx, fx.dir, vmRunEnv(fx, root, map[string]string{"CGO_ENABLED": "1"}), ktest,
		"--vm", "--kernel", key, "--on-no-kvm", "tcg", "--sidecar-dir", t.TempDir(),
		"-json", "-count=1", "-race", "./files", "./verdicts")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	exit := exitOf(t, cmd, cmd.Run())
	r := scanFixture(t, stdout.Bytes(), exit)
	if exit != 1 || len(r.outcome) != 5 {
		t.Errorf("-race: %v; want exit 1 and the 5 tests of files and verdicts; stderr:\n%s\noutput:\n%s", r, stderr.Bytes(), clip(r.output, 6000))
	}
	for key, got := range r.outcome {
		if want := host.outcome[key]; got != want {
			t.Errorf("-race: %s: %q in the guest, %q on the host", key, got, want)
		}
	}
}

// checkHang runs the hang with a short -timeout: TestHang's binary panics
// with its own goroutine dump, then cannot exit (a thread stuck in FUSE),
// so ktest's hard bound must dump the guest kernel's tasks, name TestHang,
// and put both in the output and a sidecar, before go test's own kill at
// -timeout + 1m (which would leave no HARD BOUND line).
func checkHang(t *testing.T, fx *vmFixtureEnv, ktest, root, key string) {
	const timeout = 15 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	sidecars := filepath.Join(t.TempDir(), "sidecars")
	cmd := command(ctx, fx.dir, vmRunEnv(fx, root, map[string]string{"VMFIXTURE_HANG": "1"}), ktest,
		"--vm", "--kernel", key, "--on-no-kvm", "tcg", "--sidecar-dir", sidecars,
		"-json", "-count=1", "-timeout", timeout.String(), "./hang")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	exit := exitOf(t, cmd, cmd.Run())
	t.Logf("hang: exit %d in %v; stderr:\n%s", exit, time.Since(start).Round(time.Millisecond), stderr.Bytes())
	r := scanFixture(t, stdout.Bytes(), exit)
	// The binary never exits, so there is no verdict: a boot failure
	// (exit 125, docs/spec.md §2), and TestHang is the test that failed.
	if exit != 125 || r.outcome["hang TestHang"] != testjson.ActionFail {
		t.Errorf("hang: %v, TestHang %q; want exit 125 and TestHang failed", r, r.outcome["hang TestHang"])
	}
	all := r.output + stderr.String()
	// The test binary's own dump: its timeout panic, naming the test, and
	// the goroutine blocked in it.
	for _, want := range []string{"panic: test timed out after " + timeout.String(), "\t\tTestHang (", "example.com/vmfixture/hang.TestHang("} {
		if !strings.Contains(r.output, want) {
			t.Errorf("the test binary's own dump lacks %q", want)
		}
	}
	if !strings.Contains(r.output, "a thread waits for a FUSE answer") {
		t.Errorf("TestHang did not leave a thread stuck in the guest kernel: %s", firstLine(r.output))
	}
	// ktest's dump of the guest kernel: the blocked tasks (sysrq w) show
	// the thread that waits for FUSE, and the dump names the test.
	if !strings.Contains(all, "request_wait_answer") {
		t.Errorf("no kernel dump of the blocked FUSE request (request_wait_answer) in the output")
	}
	for _, re := range []string{`(?m)^ktest: HARD BOUND: .*TestHang`, `(?m)^ktest: BOOT FAILURE on kernel \S+: .*TestHang`} {
		if !regexp.MustCompile(re).MatchString(all) {
			t.Errorf("no line matching %s in the output", re)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", clip(all, 20000))
	}
	var found bool
	filepath.WalkDir(sidecars, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err == nil && bytes.Contains(data, []byte("request_wait_answer")) && bytes.Contains(data, []byte("TestHang")) {
			found = true
		}
		return nil
	})
	if !found {
		t.Errorf("no sidecar under %s holds the kernel dump naming TestHang", sidecars)
	}
}
