package kernelfetch_test

import (
	"bufio"
	"context"
	"debug/elf"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/kernelfetch"
	"github.com/ktest-dev/ktest/internal/kernelfetch/debian"
	"github.com/ktest-dev/ktest/vm"
)

// testLog writes notes into the test log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestRealArchiveKernels fetches real Debian kernels of both layouts (6.1
// and 6.12: one linux-image package; 7.2: linux-binary + linux-modules +
// linux-base) from deb.debian.org into one temporary cache, checks each
// entry by ktstr's rules, boots it under QEMU and, in the guest, compares
// uname -r with the metadata version and loads modules that are not built
// in (dummy; vxlan by its alias, with its two dependencies) through
// guest.LoadModule. It needs the network: -short skips it, and an
// unreachable archive or a missing tool skips it, unless
// KTEST_REQUIRE_ARCHIVE=1 (scripts/test.sh sets it), which makes those a
// failure: CI must not pass with the real archive untested.
func TestRealArchiveKernels(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: fetches about 100 MB of kernel packages from deb.debian.org")
	}
	for _, tool := range []string{"apt-get", "dpkg-deb", vm.DefaultQEMU} {
		if _, err := exec.LookPath(tool); err != nil {
			unusable(t, "no %s", tool)
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Head(debian.DefaultMirror + "/dists/bookworm/InRelease")
	if err != nil {
		unusable(t, "deb.debian.org is unreachable: %v", err)
	}
	resp.Body.Close()

	tmp := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(tmp, "xdg"))
	t.Setenv(debian.EnvMirror, "")
	t.Setenv(debian.EnvKeyring, "")
	// A mirror snapshot may be older than sid's week-long Valid-Until;
	// this test is about package layouts, not about the archive's age.
	t.Setenv(debian.EnvMinValid, "3650d")
	cfg, err := debian.ConfigFromEnv(os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Notes = testLog{t}
	src, err := debian.New(cfg)
	if err != nil {
		unusable(t, "%v", err)
	}
	c, err := cache.Open(filepath.Join(tmp, "kernels"))
	if err != nil {
		t.Fatal(err)
	}
	f := &kernelfetch.Fetcher{Cache: c, Source: src, WorkDir: filepath.Join(cfg.Dir, "work"), Notes: testLog{t}}
	ctx := context.Background()
	for _, line := range []string{"6.1", "6.12", "7.2"} {
		t.Run(line, func(t *testing.T) {
			spec, _ := kernelfetch.ParseSpec(line)
			res, err := f.Fetch(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			wantLayout := "image"
			if strings.HasPrefix(line, "7.") {
				wantLayout = "split"
			}
			if res.Candidate.Layout != wantLayout || res.Modules < 500 {
				t.Errorf("fetched %s: layout %s, %d modules; want %s and hundreds", res.Key, res.Candidate.Layout, res.Modules, wantLayout)
			}
			e := checkEntry(t, c, res.Key)
			release := *e.Metadata.Version

			start := time.Now()
			again, err := f.Fetch(ctx, spec)
			if err != nil || again.Downloaded || again.Key != res.Key {
				t.Errorf("second fetch: %+v, %v; want the cached entry, nothing downloaded", again, err)
			}
			t.Logf("re-fetch of a cached kernel: %v", time.Since(start))

			boot(t, e, release)
		})
	}
}

// checkEntry reads the entry by ktstr's rules and checks what ktest adds.
func checkEntry(t *testing.T, c *cache.Cache, key string) cache.Entry {
	t.Helper()
	e, err := c.Lookup(key)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(e.Dir, cache.MetadataFile))
	if err != nil {
		t.Fatal(err)
	}
	m, err := cache.ParseMetadata(data)
	if err != nil {
		t.Fatalf("metadata.json of a fetched entry: %v", err)
	}
	if m.Source.Type != cache.SourceTarball || m.Version == nil || !m.HasVmlinux {
		t.Errorf("metadata: source %q, version %v, has_vmlinux %v", m.Source.Type, m.Version, m.HasVmlinux)
	}
	ef, err := elf.Open(e.VmlinuxPath())
	if err != nil {
		t.Fatalf("vmlinux: %v", err)
	}
	stripped := ef.Section(".symtab") == nil
	ef.Close()
	if stripped != m.VmlinuxStripped {
		t.Errorf("vmlinux_stripped %v, but .symtab present = %v", m.VmlinuxStripped, !stripped)
	}
	for _, k := range []string{debian.MetaVersion, debian.MetaSuite, cache.ExtraSHA256} {
		if _, ok := m.ExtraString(k); !ok {
			t.Errorf("metadata lacks %s", k)
		}
	}
	return e
}

// boot starts the kernel with the guest and the modules it loads.
func boot(t *testing.T, e cache.Entry, release string) {
	t.Helper()
	modDir := filepath.Join(e.Dir, cache.KtestDir, kernelfetch.ModulesDir)
	guestDir := "/lib/modules/" + release
	files := map[string]string{}
	for _, name := range []string{"modules.dep", "modules.alias", "modules.builtin"} {
		files[guestDir+"/"+name] = filepath.Join(modDir, name)
	}
	// Only the modules the guest loads: the whole tree would not fit
	// in the guest's memory as an initramfs.
	for _, p := range moduleClosure(t, filepath.Join(modDir, "modules.dep"), "dummy", "vxlan") {
		files[guestDir+"/"+p] = filepath.Join(modDir, p)
	}
	res, err := vm.Run(context.Background(), vm.Config{
		Kernel: e.ImagePath(), Guest: "./testdata/modguest", Args: []string{release},
		Files: files, MemoryMB: 512, Timeout: 4 * time.Minute, TempDir: t.TempDir(),
	})
	var noQEMU *vm.NoQEMUError
	if errors.As(err, &noQEMU) {
		t.Skip(err)
	}
	if err != nil {
		if res != nil {
			t.Logf("console:\n%s", res.Console)
		}
		t.Fatalf("boot %s: %v", release, err)
	}
	for _, want := range []string{"MODGUEST release=" + release, "MODGUEST dummy=live", "MODGUEST vxlan=live", "MODGUEST udp_tunnel=live", "MODGUEST ip6_udp_tunnel=live"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("guest output lacks %q:\n%s", want, res.Output)
		}
	}
	t.Logf("booted %s and loaded dummy and vxlan in %v", release, res.Duration)
}

// moduleClosure returns the modules.dep paths of the named modules and
// their dependencies.
func moduleClosure(t *testing.T, depFile string, names ...string) []string {
	t.Helper()
	f, err := os.Open(depFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		p, deps, _ := strings.Cut(sc.Text(), ":")
		base := filepath.Base(p)
		base = strings.TrimSuffix(strings.TrimSuffix(base, ".xz"), ".ko")
		if want[strings.ReplaceAll(base, "-", "_")] {
			out = append(out, p)
			out = append(out, strings.Fields(deps)...)
		}
	}
	if len(out) < len(names) {
		t.Fatalf("modules.dep lacks some of %v", names)
	}
	return out
}

// unusable skips the real-archive test because this host cannot run it,
// or fails it where the caller requires it to run.
func unusable(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("KTEST_REQUIRE_ARCHIVE") == "1" {
		t.Fatalf("KTEST_REQUIRE_ARCHIVE=1, but: "+format, args...)
	}
	t.Skipf(format, args...)
}
