package vmm

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ktest-dev/ktest/internal/initramfs"
	"github.com/ktest-dev/ktest/internal/vmproto"
)

// The payload holds the program, its module (no .git), the writable
// directories' skeleton, and every symlinked parent as the link plus its
// target, each under the host root's mount point.
func TestCollectPayload(t *testing.T) {
	dir := t.TempDir()
	rdir, _ := filepath.EvalSymlinks(dir)
	mod := filepath.Join(rdir, "mod")
	for name, content := range map[string]string{
		"real/bin/prog":    "#!prog",
		"mod/go.mod":       "module m\n",
		"mod/pkg/data.txt": "data",
		"mod/.git/HEAD":    "ref",
		"w/sub/file.txt":   "not packed",
	} {
		p := filepath.Join(rdir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o755)
	}
	os.Symlink("real/bin", filepath.Join(rdir, "bin")) // a symlinked parent
	os.Symlink("data.txt", filepath.Join(mod, "pkg", "alias"))
	req := vmproto.Run{Argv: []string{filepath.Join(rdir, "bin", "prog")}, Dir: filepath.Join(mod, "pkg"),
		Binds: []vmproto.Bind{{Path: filepath.Join(rdir, "w"), Writable: true}}}
	p, err := collectPayload(req, kernelFiles{}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := p.write(&b); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{} // archive path → type and content
	r := initramfs.NewReader(&b)
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r)
		got[h.Name] = h.FileMode().Type().String() + ":" + string(data)
	}
	host := strings.TrimPrefix(filepath.Join("host", rdir), "/")
	for name, want := range map[string]string{
		"bin":              "L---------:real/bin",
		"real/bin/prog":    "----------:#!prog",
		"mod/pkg/data.txt": "----------:data",
		"mod/pkg/alias":    "L---------:data.txt",
		"mod/go.mod":       "----------:module m\n",
		"w/sub":            "d---------:",
	} {
		if g := got[host+"/"+name]; g != want {
			t.Errorf("%s: %q, want %q", name, g, want)
		}
	}
	for _, absent := range []string{"mod/.git/HEAD", "mod/.git", "w/sub/file.txt"} {
		if _, ok := got[host+"/"+absent]; ok {
			t.Errorf("%s was packed", absent)
		}
	}
	for _, d := range []string{"host/proc", "host/tmp", "host/dev"} {
		if !strings.HasPrefix(got[d], "d") && !strings.HasPrefix(got[d], "L") {
			t.Errorf("mount point %s missing: %q", d, got[d])
		}
	}
	if err := p.checkSize(1); err == nil && p.size > 1<<19 {
		t.Error("checkSize accepted a payload larger than half the memory")
	}
	p.size = 600 << 20
	if err := p.checkSize(1024); !errors.Is(err, errPayloadTooBig) {
		t.Errorf("600 MiB for a 1 GiB guest: %v, want errPayloadTooBig", err)
	}
	if err := p.checkSize(2048); err != nil {
		t.Errorf("600 MiB for a 2 GiB guest: %v", err)
	}
	if _, err := collectPayload(req, kernelFiles{}, false, []string{"no-such-command-ktest"}); err == nil || !strings.Contains(err.Error(), "no-such-command-ktest") {
		t.Errorf("a missing command to pack: %v", err)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range got {
			if !yield(k) {
				return
			}
		}
	})
	t.Logf("%d entries, e.g. %v", len(keys), keys[:min(8, len(keys))])
}
