package preflight

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/cache"
)

// resolveFixture is a temp world for kernel resolution: a cache root, a
// project directory (for ./linux and ../linux), and a host root standing in
// for / (for /boot and /lib/modules).
type resolveFixture struct {
	t       *testing.T
	root    string // temp dir holding everything
	cache   *cache.Cache
	project string
	host    string
	env     map[string]string
}

const testImage = "../kernelimage/testdata/images/bzImage-6.9.0"

func newResolveFixture(t *testing.T) *resolveFixture {
	t.Helper()
	root := t.TempDir()
	f := &resolveFixture{t: t, root: root, project: filepath.Join(root, "work", "project"), host: filepath.Join(root, "host"), env: map[string]string{}}
	for _, d := range []string{f.project, f.host} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c, err := cache.Open(filepath.Join(root, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	f.cache = c
	f.env["KTSTR_CACHE_DIR"] = c.Root
	f.env["HOME"] = filepath.Join(root, "home")
	return f
}

// image copies the test image to path (relative to the fixture root) and
// returns its absolute path.
func (f *resolveFixture) image(rel string) string {
	f.t.Helper()
	data, err := os.ReadFile(testImage)
	if err != nil {
		f.t.Fatal(err)
	}
	path := filepath.Join(f.root, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		f.t.Fatal(err)
	}
	return path
}

// store adds a cache entry built at the given time.
func (f *resolveFixture) store(key, version, arch string, built time.Time) string {
	f.t.Helper()
	img := f.image("src/" + key)
	e, err := f.cache.Store(context.Background(), key, cache.StoreSource{Image: img, Metadata: cache.Metadata{
		Version: cache.StringPtr(version), Source: cache.Source{Type: cache.SourceTarball},
		Arch: arch, ImageName: cache.DefaultImageName(arch), BuiltAt: cache.FormatBuiltAt(built),
	}})
	if err != nil {
		f.t.Fatalf("store %s: %v", key, err)
	}
	return e.ImagePath()
}

func (f *resolveFixture) resolve(id string) (Resolution, error) {
	return ResolveKernel(ResolveOptions{
		ID:       id,
		Getenv:   func(k string) string { return f.env[k] },
		Dir:      f.project,
		HostRoot: f.host,
		Release:  "6.9.0-test",
	})
}

// TestResolveOrder walks docs/spec.md §5's order: each case adds one more candidate
// that outranks everything before it.
func TestResolveOrder(t *testing.T) {
	f := newResolveFixture(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		name   string
		add    func() string // adds a candidate, returns the path expected to win
		source string
	}{
		{"host /boot/vmlinuz", func() string { return f.image("host/boot/vmlinuz") }, SourceHost},
		{"host /boot/vmlinuz-release", func() string { return f.image("host/boot/vmlinuz-6.9.0-test") }, SourceHost},
		{"host /lib/modules", func() string { return f.image("host/lib/modules/6.9.0-test/vmlinuz") }, SourceHost},
		{"../linux", func() string { return f.image("work/linux/arch/x86/boot/bzImage") }, SourceBuildTree},
		{"./linux", func() string { return f.image("work/project/linux/arch/x86/boot/bzImage") }, SourceBuildTree},
		{"cache", func() string { return f.store("old", "6.8.0", "x86_64", t0) }, SourceCache},
		{"newest cache entry", func() string { return f.store("new", "6.9.0", "x86_64", t0.Add(time.Hour)) }, SourceCache},
		{"KTSTR_KERNEL key", func() string { f.env["KTSTR_KERNEL"] = "old"; return filepath.Join(f.cache.Root, "old", "bzImage") }, SourceKernelID},
		{"KTSTR_TEST_KERNEL", func() string {
			p := f.image("explicit/bzImage")
			f.env["KTSTR_TEST_KERNEL"] = p
			return p
		}, SourceTestKernel},
	}
	for _, s := range steps {
		want := s.add()
		res, err := f.resolve("")
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if res.Kernel.Path != want || res.Kernel.Source != s.source {
			t.Fatalf("%s: got %s from %s, want %s from %s\nsteps: %+v", s.name, res.Kernel.Path, res.Kernel.Source, want, s.source, res.Steps)
		}
	}
	// --kernel outranks everything.
	res, err := f.resolve("6.8")
	if err != nil || res.Kernel.Source != SourceFlag || res.Kernel.Entry == nil || res.Kernel.Entry.Key != "old" {
		t.Fatalf("--kernel 6.8: %+v, %v", res.Kernel, err)
	}
}

func TestResolveSkipsUnusableCacheEntries(t *testing.T) {
	f := newResolveFixture(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	want := f.store("good", "6.9.0", "x86_64", t0)
	f.store("arm", "6.10.0", "aarch64", t0.Add(2*time.Hour))
	corrupt := filepath.Join(f.cache.Root, "corrupt")
	if err := os.MkdirAll(corrupt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corrupt, "metadata.json"), []byte(`{"version": "6.11`), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := f.resolve("")
	if err != nil {
		t.Fatal(err)
	}
	if res.Kernel.Path != want {
		t.Errorf("picked %s, want %s", res.Kernel.Path, want)
	}
	outcomes := fmt.Sprint(res.Steps)
	for _, s := range []string{"arch aarch64"} {
		if !strings.Contains(outcomes, s) {
			t.Errorf("steps do not explain %q: %s", s, outcomes)
		}
	}
}

func TestResolveIDForms(t *testing.T) {
	f := newResolveFixture(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.store("k-610", "6.10.2", "x86_64", t0)
	v61 := f.store("k-61", "6.1.0-56-cloud-amd64", "x86_64", t0)
	rc := f.store("k-rc", "6.12-rc3", "x86_64", t0)
	// Another architecture's entry with a higher matching version is
	// never picked for a version ID.
	f.store("k-61-arm", "6.1.9", "aarch64", t0)
	loose := f.image("loose/bzImage")
	f.env["HOME"] = filepath.Join(f.root, "loose")
	tree := f.image("tree/arch/x86/boot/bzImage")

	for _, tc := range []struct{ id, want string }{
		{"6.1", v61},         // a version prefix at a component boundary
		{"6.1.0", v61},       //
		{"6.12-rc3", rc},     // an -rc version
		{"k-61", v61},        // a key
		{loose, loose},       // an absolute path
		{"~/bzImage", loose}, // ~ expansion
		{filepath.Join(f.cache.Root, "k-61"), v61}, // an entry directory
		{filepath.Join(f.root, "tree"), tree},      // a build tree
	} {
		res, err := f.resolve(tc.id)
		if err != nil {
			t.Errorf("--kernel %s: %v", tc.id, err)
			continue
		}
		if res.Kernel.Path != tc.want {
			t.Errorf("--kernel %s: got %s, want %s", tc.id, res.Kernel.Path, tc.want)
		}
	}
	// An image inside the cache named by path is still tied to its entry,
	// so the run locks it.
	res, err := f.resolve(v61)
	if err != nil || res.Kernel.Entry == nil || res.Kernel.Entry.Key != "k-61" {
		t.Errorf("path into the cache: entry %+v, err %v", res.Kernel, err)
	}
}

// TestResolveExplicitNeverFallsBack: an explicit ID that does not resolve is
// a hard error naming what was tried, even when other kernels exist.
func TestResolveExplicitNeverFallsBack(t *testing.T) {
	f := newResolveFixture(t)
	f.store("good", "6.9.0", "x86_64", time.Now())
	f.image("host/boot/vmlinuz")
	for _, tc := range []struct {
		id, env, envValue, wantErr string
	}{
		{id: "nosuch", wantErr: `--kernel "nosuch": no such cache entry`},
		{id: "6.10", wantErr: `no cache entry in ` + f.cache.Root + ` has version 6.10 (cached versions: 6.9.0)`},
		{id: "./missing/bzImage", wantErr: "does not exist"},
		{id: "bad\x00key", wantErr: "not a path, a version"},
		{env: "KTSTR_KERNEL", envValue: "nosuch", wantErr: `KTSTR_KERNEL="nosuch": no such cache entry`},
		{env: "KTSTR_TEST_KERNEL", envValue: filepath.Join(f.root, "nope"), wantErr: "does not exist"},
		{env: "KTSTR_TEST_KERNEL", envValue: testImage + ".notthere", wantErr: "does not exist"},
		{env: "KTSTR_TEST_KERNEL", envValue: "../kernelimage/testdata/images/vmlinux.elf", wantErr: "ELF"},
	} {
		f.env["KTSTR_KERNEL"], f.env["KTSTR_TEST_KERNEL"] = "", ""
		if tc.env != "" {
			f.env[tc.env] = tc.envValue
		}
		res, err := f.resolve(tc.id)
		var missing *KernelUnavailableError
		if err == nil || errors.As(err, &missing) || res.Kernel != nil {
			t.Errorf("%q/%s=%q: got kernel %+v, err %v; want a hard error", tc.id, tc.env, tc.envValue, res.Kernel, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q/%s=%q: error %q lacks %q", tc.id, tc.env, tc.envValue, err, tc.wantErr)
		}
	}
}

func TestResolveNothingFound(t *testing.T) {
	f := newResolveFixture(t)
	unreadable := f.image("host/boot/vmlinuz")
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	res, err := f.resolve("")
	var missing *KernelUnavailableError
	if os.Geteuid() == 0 {
		// root reads anything: the image is found.
		if err != nil || res.Kernel == nil {
			t.Fatalf("as root the 0000 image is readable: %+v, %v", res.Kernel, err)
		}
		if err := os.Remove(unreadable); err != nil {
			t.Fatal(err)
		}
		res, err = f.resolve("")
	}
	if !errors.As(err, &missing) {
		t.Fatalf("want KernelUnavailableError, got %v (kernel %+v)", err, res.Kernel)
	}
	if !strings.Contains(missing.Reason, f.cache.Root) || len(missing.Hints) != 3 || !strings.Contains(strings.Join(missing.Hints, "\n"), "ktest kernel add") {
		t.Errorf("reason %q, hints %q", missing.Reason, missing.Hints)
	}
	if len(res.Steps) < 7 {
		t.Errorf("steps should list every place tried: %+v", res.Steps)
	}
}

// BenchmarkResolveCache1000 resolves the newest of 1,000 cache entries.
// Goal: ≤ 20 ms.
func BenchmarkResolveCache1000(b *testing.B) {
	root := b.TempDir()
	c, err := cache.Open(filepath.Join(root, "cache"))
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(testImage)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 1000; i++ {
		key := fmt.Sprintf("k%04d", i)
		dir := filepath.Join(c.Root, key)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		md, _ := cache.MarshalMetadata(cache.Metadata{Version: cache.StringPtr("6.9.0"), Source: cache.Source{Type: cache.SourceTarball},
			Arch: "x86_64", ImageName: "bzImage", BuiltAt: cache.FormatBuiltAt(t0.Add(time.Duration(i) * time.Minute))})
		if err := os.WriteFile(filepath.Join(dir, "metadata.json"), md, 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "bzImage"), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	env := map[string]string{"KTSTR_CACHE_DIR": c.Root}
	b.ResetTimer()
	for b.Loop() {
		res, err := ResolveKernel(ResolveOptions{Getenv: func(k string) string { return env[k] }, Dir: root, HostRoot: root})
		if err != nil || res.Kernel.Entry.Key != "k0999" {
			b.Fatalf("%+v %v", res.Kernel, err)
		}
	}
}

func TestVersionMatches(t *testing.T) {
	for _, tc := range []struct {
		v, want string
		ok      bool
	}{
		{"6.1.0-56-cloud-amd64", "6.1", true},
		{"6.1.0-56-cloud-amd64", "6.1.0", true},
		{"6.10.2", "6.1", false},
		{"6.1", "6.1", true},
		{"6.1+", "6.1", true},
		{"6.15-rc3", "6.15-rc3", true},
		{"6.15-rc30", "6.15-rc3", false},
		{"6", "6.1", false},
	} {
		if got := VersionMatches(tc.v, tc.want); got != tc.ok {
			t.Errorf("VersionMatches(%q, %q) = %v, want %v", tc.v, tc.want, got, tc.ok)
		}
	}
}

// A truncated image in the newest cache entry is skipped with a warning and
// the next valid entry is used: before, the entry listed as valid and every
// run failed with exit 3.
func TestResolveSkipsCorruptNewestEntryWithWarning(t *testing.T) {
	f := newResolveFixture(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	want := f.store("older", "6.9.0", "x86_64", t0)
	newest := f.store("newest", "6.9.0", "x86_64", t0.Add(time.Hour))
	if err := os.Truncate(newest, 600); err != nil {
		t.Fatal(err)
	}
	res, err := f.resolve("")
	if err != nil {
		t.Fatalf("resolve with a corrupt newest entry: %v", err)
	}
	if res.Kernel.Path != want || res.Kernel.Entry == nil || res.Kernel.Entry.Key != "older" {
		t.Fatalf("picked %+v, want the older entry %s", res.Kernel, want)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], `skipped cache entry "newest"`) ||
		!strings.Contains(res.Warnings[0], "image_corrupt") || !strings.Contains(res.Warnings[0], "kernel clean --corrupt-only") {
		t.Errorf("warnings %q, want one naming the skipped entry, why, and the fix", res.Warnings)
	}
}

// A kernel path that reaches a cache entry through a symlink (to the image,
// or to the entry directory) belongs to that entry, so the run locks it.
func TestResolveSymlinkIntoCacheEntryIsThatEntry(t *testing.T) {
	f := newResolveFixture(t)
	img := f.store("k", "6.9.0", "x86_64", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	links := filepath.Join(f.root, "links")
	if err := os.MkdirAll(links, 0o755); err != nil {
		t.Fatal(err)
	}
	imgLink := filepath.Join(links, "bzImage")
	dirLink := filepath.Join(links, "entry")
	rootLink := filepath.Join(links, "cache")
	for link, target := range map[string]string{imgLink: img, dirLink: filepath.Dir(img), rootLink: f.cache.Root} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{imgLink, dirLink, filepath.Join(rootLink, "k", "bzImage"), filepath.Join(dirLink, "bzImage")} {
		res, err := f.resolve(id)
		if err != nil {
			t.Fatalf("--kernel %s: %v", id, err)
		}
		if res.Kernel.Entry == nil || res.Kernel.Entry.Key != "k" {
			t.Errorf("--kernel %s: entry %+v, want cache entry k (so that it is locked)", id, res.Kernel.Entry)
		}
	}
	// The same through KTSTR_TEST_KERNEL, and with the cache root itself
	// named through a symlink.
	f.env["KTSTR_TEST_KERNEL"] = imgLink
	f.env["KTSTR_CACHE_DIR"] = rootLink
	res, err := f.resolve("")
	if err != nil || res.Kernel.Entry == nil || res.Kernel.Entry.Key != "k" {
		t.Errorf("KTSTR_TEST_KERNEL through a symlink: %+v, %v", res.Kernel, err)
	}
}
