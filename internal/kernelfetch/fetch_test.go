package kernelfetch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktest-dev/ktest/internal/bzimage/bzimagetest"
	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/kernelfetch"
	"github.com/ktest-dev/ktest/internal/kernelfetch/debian"
	"github.com/ktest-dev/ktest/internal/kernelfetch/debian/debiantest"
	"github.com/ktest-dev/ktest/internal/kernelfetch/debian/debiantest/httpserve"
	"github.com/ktest-dev/ktest/internal/preflight"
)

// hermetic returns a Fetcher on a signed synthetic archive served on
// loopback, with a private apt directory and cache in temp dirs.
func hermetic(t *testing.T) (*kernelfetch.Fetcher, *httpserve.Server) {
	t.Helper()
	for _, tool := range []string{"apt-get", "dpkg-deb", "gpg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	tmp := t.TempDir()
	a, err := debiantest.Build(filepath.Join(tmp, "archive"), debiantest.DefaultKernels)
	if err != nil {
		t.Fatal(err)
	}
	srv := httpserve.Serve(a)
	t.Cleanup(srv.Close)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(tmp, "xdg"))
	t.Setenv(debian.EnvMirror, srv.URL)
	t.Setenv(debian.EnvKeyring, a.Keyring)
	t.Setenv(debian.EnvMinValid, "")
	cfg, err := debian.ConfigFromEnv(os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Notes = testLog{t}
	src, err := debian.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(filepath.Join(tmp, "kernels"))
	if err != nil {
		t.Fatal(err)
	}
	return &kernelfetch.Fetcher{Cache: c, Source: src, WorkDir: filepath.Join(cfg.Dir, "work"), Notes: testLog{t}}, srv
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	out, err := exec.Command("cp", "-r", src, dst).CombinedOutput()
	if err != nil {
		t.Fatalf("cp -r %s %s: %v: %s", src, dst, err, out)
	}
}

// A fetched entry is a ktstr entry: every key of ktstr's KernelMetadata
// with its type, canonical output (a parse-and-write round trip is the
// identity), and it lives beside entries ktstr wrote, which still resolve.
func TestFetchedEntryIsKtstrValidBesideKtstrEntries(t *testing.T) {
	f, _ := hermetic(t)
	fixtures, _ := filepath.Abs("../cache/testdata/ktstr")
	// ktstr's metadata.json verbatim; the fixtures' images are
	// placeholders, so each gets a bzImage of its version.
	for name, version := range map[string]string{"6.14.2-tarball-x86_64-kc1a2b3c4d": "6.14.2", "git-v6.15-rc3-x86_64": "6.15-rc3"} {
		dir := filepath.Join(f.Cache.Root, name)
		os.Mkdir(dir, 0o755)
		copyTree(t, filepath.Join(fixtures, name, cache.MetadataFile), dir)
		if err := os.WriteFile(filepath.Join(dir, "bzImage"), bzimagetest.Build(version, 0), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec, _ := kernelfetch.ParseSpec("6.1")
	res, err := f.Fetch(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(res.Entry.Dir, cache.MetadataFile))
	if err != nil {
		t.Fatal(err)
	}
	m, err := cache.ParseMetadata(data)
	if err != nil {
		t.Fatal(err)
	}
	again, err := cache.MarshalMetadata(m)
	if err != nil || !bytes.Equal(again, data) {
		t.Errorf("metadata.json is not in canonical ktstr form:\n%s\nrewritten:\n%s", data, again)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"version": "string", "source": "object", "arch": "string", "image_name": "string", "config_hash": "null",
		"built_at": "string", "ktstr_kconfig_hash": "null", "has_vmlinux": "bool", "vmlinux_stripped": "bool",
	} {
		if got := jsonKind(raw[key]); got != want {
			t.Errorf("%s: %s, want %s (ktstr's KernelMetadata)", key, got, want)
		}
	}
	if src, _ := raw["source"].(map[string]any); len(src) != 1 || src["type"] != "tarball" {
		t.Errorf("source %v, want exactly {\"type\":\"tarball\"}", raw["source"])
	}
	entries, err := f.Cache.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%d entries, want 3", len(entries))
	}
	for _, e := range entries {
		if !e.Valid() {
			t.Errorf("entry %s is not valid: %+v", e.Key, e.Problem)
		}
	}
	// ktstr's entries still resolve by key and by version.
	getenv := func(k string) string {
		if k == "KTSTR_CACHE_DIR" {
			return f.Cache.Root
		}
		return ""
	}
	for _, id := range []string{"git-v6.15-rc3-x86_64", "6.15-rc3", "6.1", res.Key} {
		r, err := preflight.ResolveKernel(preflight.ResolveOptions{ID: id, Getenv: getenv, HostRoot: t.TempDir()})
		if err != nil || r.Kernel == nil || r.Kernel.Entry == nil {
			t.Errorf("--kernel %s: %v", id, err)
		}
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case map[string]any:
		return "object"
	}
	return "other"
}

// An entry of the same key that an older fetch-kernel.sh made (kernel add:
// image only) is completed by a fetch; an exact version the archive no
// longer has is answered by such an entry, with a note.
func TestFetchCompletesOldScriptEntries(t *testing.T) {
	f, srv := hermetic(t)
	ctx := context.Background()
	old := func(release, version string) string {
		key := kernelfetch.DebianKey(release, version)
		img := filepath.Join(t.TempDir(), "vmlinuz")
		os.WriteFile(img, bzimagetest.Build(release, 0), 0o644)
		meta := cache.Metadata{Version: cache.StringPtr(release), Source: cache.Source{Type: cache.SourceLocal}}
		if _, err := f.Cache.Store(ctx, key, cache.StoreSource{Image: img, Metadata: meta}); err != nil {
			t.Fatal(err)
		}
		return key
	}
	key := old("6.1.0-50-cloud-amd64", "6.1.176-1")
	spec, _ := kernelfetch.ParseSpec("6.1.176-1")
	res, err := f.Fetch(ctx, spec)
	if err != nil || !res.Downloaded || res.Key != key || !kernelfetch.Complete(res.Entry) {
		t.Fatalf("fetch over an old script entry: %+v, %v; want it completed", res, err)
	}
	gone := old("6.1.0-48-cloud-amd64", "6.1.172-1") // the archive has moved on
	before := srv.DebRequests()
	spec, _ = kernelfetch.ParseSpec("6.1.172-1")
	res, err = f.Fetch(ctx, spec)
	if err != nil || res.Downloaded || res.Key != gone {
		t.Fatalf("fetch of a version the archive lacks, cached by the old script: %+v, %v", res, err)
	}
	if srv.DebRequests() != before {
		t.Error("downloaded something for a version the archive lacks")
	}
	if !strings.HasSuffix(gone, "-deb-6.1.172-1") {
		t.Errorf("key %s", gone)
	}
}
