package cache

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeEntry creates an entry by hand (as ktstr would), with metadata
// content meta and, if image is true, an image file.
func writeEntry(tb testing.TB, root, key, meta string, image bool) {
	tb.Helper()
	dir := filepath.Join(root, key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	if meta != "" {
		if err := os.WriteFile(filepath.Join(dir, MetadataFile), []byte(meta), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	if image {
		if err := os.WriteFile(filepath.Join(dir, "bzImage"), fakeBzImage(), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

func metaJSON(builtAt string) string {
	return `{"version":"6.1","source":{"type":"tarball"},"arch":"x86_64","image_name":"bzImage","config_hash":null,"built_at":"` +
		builtAt + `","ktstr_kconfig_hash":null,"has_vmlinux":false,"vmlinux_stripped":false}`
}

func TestListOrderAndProblems(t *testing.T) {
	c := openCache(t)
	root := c.Root
	writeEntry(t, root, "old", metaJSON("2024-01-01T00:00:00Z"), true)
	writeEntry(t, root, "new", metaJSON("2025-06-01T00:00:00Z"), true)
	writeEntry(t, root, "tie-b", metaJSON("2025-01-01T00:00:00Z"), true)
	writeEntry(t, root, "tie-a", metaJSON("2025-01-01T00:00:00Z"), true)
	writeEntry(t, root, "no-meta", "", true)
	writeEntry(t, root, "trunc", metaJSON("2025-01-01T00:00:00Z")[:40], true)
	writeEntry(t, root, "garbage", "<html>", true)
	writeEntry(t, root, "drift", `{"arch":"x86_64"}`, true)
	writeEntry(t, root, "no-image", metaJSON("2026-01-01T00:00:00Z"), false)
	writeEntry(t, root, "unreadable", "", true)
	if err := os.Mkdir(filepath.Join(root, "unreadable", MetadataFile), 0o755); err != nil {
		t.Fatal(err)
	}
	// Bookkeeping and stray files are not entries.
	writeEntry(t, root, ".tmp-new-12345", metaJSON("2030-01-01T00:00:00Z"), true)
	writeEntry(t, root, ".hidden", metaJSON("2030-01-01T00:00:00Z"), true)
	if err := os.WriteFile(filepath.Join(root, "stray-file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	es, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	kinds := map[string]ProblemKind{}
	for _, e := range es {
		keys = append(keys, e.Key)
		if e.Problem != nil {
			kinds[e.Key] = e.Problem.Kind
			if e.Problem.Reason == "" {
				t.Errorf("%s: empty reason", e.Key)
			}
		}
	}
	wantKeys := []string{"new", "tie-a", "tie-b", "old", "drift", "garbage", "no-image", "no-meta", "trunc", "unreadable"}
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("order %v\nwant  %v", keys, wantKeys)
	}
	wantKinds := map[string]ProblemKind{
		"no-meta": ProblemMissing, "trunc": ProblemTruncated, "garbage": ProblemMalformed,
		"drift": ProblemSchemaDrift, "no-image": ProblemImageMissing, "unreadable": ProblemUnreadable,
	}
	if !reflect.DeepEqual(kinds, wantKinds) {
		t.Errorf("problems %v\nwant     %v", kinds, wantKinds)
	}
	for _, e := range es {
		if e.Key == "no-image" && (e.Metadata == nil || !strings.Contains(e.Problem.Reason, "bzImage")) {
			t.Errorf("image_missing entry should keep its metadata and name the image: %+v", e)
		}
	}

	if _, err := c.Lookup("trunc"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("Lookup of a corrupt entry: %v", err)
	}
	if _, err := c.Lookup("absent"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup of a missing entry: %v", err)
	}
	if _, err := c.Lookup("stray-file"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup of a non-directory: %v", err)
	}
	if _, err := c.Lookup("../x"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup of an invalid key: %v", err)
	}
}

func TestEntryImagePathFallback(t *testing.T) {
	e := Entry{Dir: "/c/k"}
	want := "/c/k/" + DefaultImageName(HostArch())
	if got := e.ImagePath(); got != want {
		t.Errorf("ImagePath without metadata = %q, want %q", got, want)
	}
	if DefaultImageName("x86_64") != "bzImage" || DefaultImageName("aarch64") != "Image" || DefaultImageName("mips") != "" {
		t.Error("DefaultImageName table")
	}
}
