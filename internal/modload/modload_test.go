package modload

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"

	"github.com/ktest-dev/ktest/internal/elftest"
	"github.com/ktest-dev/ktest/internal/kmod"
)

// moduleTree writes a module directory whose indexes internal/kmod
// generates, as ktest kernel fetch does.
func moduleTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{
		"kernel/net/ipv4/udp_tunnel.ko.xz":      elftest.Module("name=udp_tunnel"),
		"kernel/net/ipv6/ip6_udp_tunnel.ko.xz":  elftest.Module("name=ip6_udp_tunnel", "depends=udp_tunnel"),
		"kernel/drivers/net/vxlan/vxlan.ko.xz":  elftest.Module("name=vxlan", "depends=udp_tunnel,ip6_udp_tunnel", "alias=rtnl-link-vxlan"),
		"kernel/drivers/net/dummy.ko.xz":        elftest.Module("name=dummy", "alias=rtnl-link-dummy"),
		"kernel/fs/nls/nls-iso8859-1.ko.xz":     elftest.Module("alias=nls_iso8859-1"),
		"kernel/drivers/block/virtio_blk.ko.xz": elftest.Module("name=virtio_blk", "alias=virtio:d00000002v*"),
	}
	var mods []kmod.Module
	for p, raw := range files {
		var b bytes.Buffer
		w, _ := xz.NewWriter(&b)
		w.Write(raw)
		w.Close()
		d := b.Bytes()
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, d, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := kmod.ReadModule(p, d)
		if err != nil {
			t.Fatal(err)
		}
		mods = append(mods, m)
	}
	ix, warnings := kmod.NewIndex(mods, nil)
	if len(warnings) > 0 {
		t.Fatal(warnings)
	}
	if err := ix.WriteIndexes(dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte("kernel/fs/ext4/ext4.ko\n"), 0o644)
	return dir
}

func TestLoadModuleOrderAndNames(t *testing.T) {
	dir := moduleTree(t)
	var loaded []string
	insert = func(_, rel, params string) error {
		loaded = append(loaded, rel+"|"+params)
		return nil
	}
	defer func() { insert = insertModule }()
	for _, c := range []struct {
		name string
		want []string
	}{
		{"vxlan", []string{"kernel/net/ipv4/udp_tunnel.ko.xz|", "kernel/net/ipv6/ip6_udp_tunnel.ko.xz|", "kernel/drivers/net/vxlan/vxlan.ko.xz|p=1"}},
		{"rtnl-link-dummy", []string{"kernel/drivers/net/dummy.ko.xz|p=1"}},
		{"nls-iso8859-1", []string{"kernel/fs/nls/nls-iso8859-1.ko.xz|p=1"}},
		{"virtio:d00000002v00001AF4", []string{"kernel/drivers/block/virtio_blk.ko.xz|p=1"}},
		{"ext4", nil}, // built in
	} {
		loaded = nil
		if err := Load(dir, c.name, "p=1"); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !reflect.DeepEqual(loaded, c.want) {
			t.Errorf("%s loaded %q, want %q", c.name, loaded, c.want)
		}
	}
	err := Load(dir, "no-such-module", "")
	if err == nil || !strings.Contains(err.Error(), "not in") {
		t.Errorf("unknown module: %v", err)
	}
	if err := Load(t.TempDir(), "dummy", ""); err == nil || !strings.Contains(err.Error(), "modules.dep") {
		t.Errorf("no index: %v", err)
	}
}

func FuzzParseModulesDep(f *testing.F) {
	f.Add("kernel/a.ko: kernel/b.ko kernel/c.ko\nkernel/b.ko:\n")
	f.Add("# comment\n\nx.ko.xz:\n")
	f.Fuzz(func(t *testing.T, data string) {
		idx := &Index{paths: map[string]string{}, deps: map[string][]string{}, builtin: map[string]bool{}}
		if err := parseModulesDep(strings.NewReader(data), idx); err != nil {
			return
		}
		for _, deps := range idx.deps {
			for _, d := range deps {
				if strings.HasPrefix(d, "/") || strings.Contains(d, "..") {
					t.Fatalf("accepted dependency %q outside the module directory", d)
				}
			}
		}
		for _, p := range idx.paths {
			if strings.HasPrefix(p, "/") || strings.Contains(p, "..") {
				t.Fatalf("accepted path %q", p)
			}
		}
	})
}

func TestDecompressModuleFallback(t *testing.T) {
	raw := elftest.Module("name=x")
	var b bytes.Buffer
	w, _ := xz.NewWriter(&b)
	w.Write(raw)
	w.Close()
	p := filepath.Join(t.TempDir(), "x.ko.xz")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Seek(5, 0) // a failed finit_module may have moved nothing, but be sure
	got, err := decompressModule(f, "x.ko.xz")
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("decompressModule: %d bytes, %v; want the %d-byte ELF", len(got), err, len(raw))
	}
}
