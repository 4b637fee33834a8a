package kernelimage

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ktest-dev/ktest/internal/cache"
)

// cache.CheckImageHeader (run on every entry by kernel list) must accept
// every image Inspect accepts, or a good kernel would list as corrupt
// and be skipped.
func TestCacheHeaderCheckAcceptsWhatInspectAccepts(t *testing.T) {
	paths, _ := filepath.Glob("testdata/images/*")
	if len(paths) == 0 {
		t.Fatal("no test images")
	}
	accepted := 0
	for _, p := range paths {
		if _, err := Inspect(p); err != nil {
			continue
		}
		accepted++
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := cache.CheckImageHeader(data[:min(len(data), 1024)], int64(len(data))); err != nil {
			t.Errorf("%s: Inspect accepts it, cache.CheckImageHeader says it %v", p, err)
		}
	}
	if accepted == 0 {
		t.Fatal("Inspect accepted none of the test images")
	}
}

func FuzzCacheHeaderCheckAgrees(f *testing.F) {
	paths, _ := filepath.Glob("testdata/images/*")
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, minSize, err := parseImageHeader(data)
		if err != nil || int64(len(data)) < minSize {
			return
		}
		if err := cache.CheckImageHeader(data[:min(len(data), 1024)], int64(len(data))); err != nil {
			t.Fatalf("kernelimage accepts it, cache.CheckImageHeader says it %v", err)
		}
	})
}
