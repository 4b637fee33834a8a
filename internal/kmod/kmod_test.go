package kmod

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/ktest-dev/ktest/internal/elftest"
)

func TestParseModinfo(t *testing.T) {
	got, err := ParseModinfo([]byte("license=GPL\x00\x00\x00depends=a,b\x00alias=x*\x00empty=\x00"))
	if err != nil {
		t.Fatal(err)
	}
	want := []KV{{"license", "GPL"}, {"depends", "a,b"}, {"alias", "x*"}, {"empty", ""}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range []string{"license=GPL", "noequals\x00", "=v\x00"} {
		if _, err := ParseModinfo([]byte(bad)); err == nil {
			t.Errorf("ParseModinfo(%q) succeeded", bad)
		}
	}
}

func compressModule(t testing.TB, ext string, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	var w interface {
		Write([]byte) (int, error)
		Close() error
	}
	var err error
	switch ext {
	case ".ko":
		return raw
	case ".ko.xz":
		w, err = xz.NewWriter(&b)
	case ".ko.zst":
		w, err = zstd.NewWriter(&b)
	case ".ko.gz":
		w = gzip.NewWriter(&b)
	}
	if err != nil {
		t.Fatal(err)
	}
	w.Write(raw)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReadModuleEveryCompression(t *testing.T) {
	raw := elftest.Module("alias=rtnl-link-dummy", "depends=net-core,", "name=dummy", "vermagic=6.1.0-50-cloud-amd64 SMP mod_unload modversions ", "softdep=pre: foo")
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		m, err := ReadModule("kernel/drivers/net/dummy"+ext, compressModule(t, ext, raw))
		if err != nil {
			t.Fatalf("%s: %v", ext, err)
		}
		want := Module{Name: "dummy", Path: "kernel/drivers/net/dummy" + ext, Depends: []string{"net_core"},
			Aliases: []string{"rtnl-link-dummy"}, Softdeps: []string{"pre: foo"}, Vermagic: "6.1.0-50-cloud-amd64 SMP mod_unload modversions "}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("%s: got %+v\nwant %+v", ext, m, want)
		}
	}
	// Without modinfo "name" (before 5.x), the file name gives it.
	m, err := ReadModule("kernel/net/nf-tables.ko", elftest.Module("license=GPL"))
	if err != nil || m.Name != "nf_tables" {
		t.Errorf("name from path: %+v, %v", m, err)
	}
	for name, data := range map[string][]byte{
		"kernel/x.ko":    []byte("not an elf"),
		"kernel/y.ko.xz": []byte("not xz"),
		"kernel/z.txt":   elftest.Module("a=b"),
	} {
		if _, err := ReadModule(name, data); err == nil {
			t.Errorf("ReadModule(%s) succeeded", name)
		}
	}
}

func TestIndexDepsAndFiles(t *testing.T) {
	mods := []Module{
		{Name: "a", Path: "kernel/a.ko", Depends: []string{"b", "c"}, Aliases: []string{"alias-a*"}},
		{Name: "b", Path: "kernel/b.ko", Depends: []string{"c"}},
		{Name: "c", Path: "kernel/c.ko"},
		{Name: "d", Path: "kernel/d.ko", Depends: []string{"missing"}},
		{Name: "e", Path: "kernel/e.ko", Depends: []string{"f"}},
		{Name: "f", Path: "kernel/f.ko", Depends: []string{"e"}},
		{Name: "c", Path: "kernel/other/c.ko"},
	}
	ix, warnings := NewIndex(mods, []string{"kernel/c.ko", "kernel/b.ko", "kernel/a.ko"})
	if len(warnings) != 3 {
		t.Errorf("warnings %q, want 3 (duplicate c, missing dep, cycle)", warnings)
	}
	a, _ := ix.Lookup("a")
	if got, want := ix.Deps(a), []string{"kernel/b.ko", "kernel/c.ko"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Deps(a) = %q, want %q (dependents before their dependencies)", got, want)
	}
	var dep, alias bytes.Buffer
	ix.WriteDep(&dep)
	ix.WriteAlias(&alias)
	wantDep := "kernel/c.ko:\nkernel/b.ko: kernel/c.ko\nkernel/a.ko: kernel/b.ko kernel/c.ko\nkernel/d.ko:\nkernel/e.ko: kernel/f.ko\nkernel/f.ko:\n"
	if dep.String() != wantDep {
		t.Errorf("modules.dep:\n%s\nwant:\n%s", dep.String(), wantDep)
	}
	if !strings.Contains(alias.String(), "alias alias-a* a\n") {
		t.Errorf("modules.alias:\n%s", alias.String())
	}
	dir := t.TempDir()
	if err := ix.WriteIndexes(dir); err != nil {
		t.Fatal(err)
	}
	if err := ix.WriteIndexes(dir); err == nil {
		t.Error("WriteIndexes replaced existing files")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, DepFile)); string(b) != wantDep {
		t.Errorf("written modules.dep differs: %q", b)
	}
}

func FuzzParseModinfo(f *testing.F) {
	f.Add([]byte("license=GPL\x00depends=a,b\x00"))
	f.Add([]byte("\x00\x00x=\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		kvs, err := ParseModinfo(data)
		if err != nil {
			return
		}
		for _, kv := range kvs {
			if kv.Key == "" || strings.ContainsRune(kv.Key, 0) || strings.ContainsRune(kv.Value, 0) {
				t.Fatalf("bad entry %q", kv)
			}
		}
	})
}

func FuzzReadModule(f *testing.F) {
	f.Add(elftest.Module("name=dummy", "depends=a,b", "alias=x"))
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadModule("kernel/fuzz.ko", data)
		if err == nil && m.Name == "" {
			t.Fatal("a module without a name")
		}
	})
}
