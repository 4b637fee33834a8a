package debian

import (
	"reflect"
	"strings"
	"testing"
)

const packagesSample = `Package: linux-image-6.1.0-50-cloud-amd64
Source: linux-signed-amd64 (6.1.176+1)
Version: 6.1.176-1
Depends: kmod, linux-base (>= 4.3~)
Description: Linux 6.1 for x86-64 cloud
 The Linux kernel 6.1 and modules for use on x86-64 cloud platforms.
 .
 More text.
Filename: pool/main/l/linux-signed-amd64/linux-image-6.1.0-50-cloud-amd64_6.1.176-1_amd64.deb
Size: 26484304
SHA256: efe19f605b6f54a8352e68d85a629abb2d30b72a085faef603a9152590baa791

Package: zsh
Version: 5.9-4
Filename: pool/main/z/zsh/zsh_5.9-4_amd64.deb

Package: linux-image-cloud-amd64
Version: 6.1.176-1
Depends: linux-image-6.1.0-50-cloud-amd64 (= 6.1.176-1)
Filename: pool/main/l/linux-signed-amd64/linux-image-cloud-amd64_6.1.176-1_amd64.deb
Size: 1000
SHA256: 00
`

func TestParsePackages(t *testing.T) {
	pkgs, err := parsePackages(strings.NewReader(packagesSample), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 2 || pkgs[0].Name != "linux-image-6.1.0-50-cloud-amd64" || pkgs[0].Size != 26484304 || pkgs[1].Name != "linux-image-cloud-amd64" {
		t.Fatalf("packages: %+v", pkgs)
	}
	if !strings.HasPrefix(pkgs[0].SHA256, "efe19f") || pkgs[0].Depends != "kmod, linux-base (>= 4.3~)" {
		t.Errorf("fields: %+v", pkgs[0])
	}
	var desc string
	ParseStanzas(strings.NewReader(packagesSample), nil, func(s Stanza) (bool, error) {
		desc = s["Description"]
		return false, nil
	})
	if desc != "Linux 6.1 for x86-64 cloud\nThe Linux kernel 6.1 and modules for use on x86-64 cloud platforms.\n.\nMore text." {
		t.Errorf("continuation lines: %q", desc)
	}
	for _, bad := range []string{" leading continuation\n", "no colon here\n"} {
		if err := ParseStanzas(strings.NewReader(bad), nil, func(Stanza) (bool, error) { return true, nil }); err == nil {
			t.Errorf("ParseStanzas(%q) succeeded", bad)
		}
	}
}

func TestParseDepends(t *testing.T) {
	got := ParseDepends("dracut | initramfs-tools (>= 0.120+deb8u2), linux-base-7.2.13+deb14-cloud-amd64 (= 7.2.13-1), foo:any, bar (=1.0)")
	want := [][]Relation{
		{{Name: "dracut"}, {Name: "initramfs-tools", Op: ">=", Version: "0.120+deb8u2"}},
		{{Name: "linux-base-7.2.13+deb14-cloud-amd64", Op: "=", Version: "7.2.13-1"}},
		{{Name: "foo"}},
		{{Name: "bar", Op: "=", Version: "1.0"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestIndexTargets(t *testing.T) {
	out := "MetaKey: main/binary-amd64/Packages\nIdentifier: Packages\nRelease: bookworm\nFilename: /x/lists/a_Packages.lz4\nTrusted: yes\n\nIdentifier: Translations\nRelease: bookworm\nFilename: /x/t\n\nIdentifier: Packages\nRelease: sid\nFilename: /x/lists/b_Packages.lz4\n"
	got, err := indexTargets(out)
	if err != nil || !reflect.DeepEqual(got, map[string]string{"bookworm": "/x/lists/a_Packages.lz4", "sid": "/x/lists/b_Packages.lz4"}) {
		t.Errorf("indexTargets: %v, %v", got, err)
	}
}

func TestSuiteLinesAndHints(t *testing.T) {
	lines := problemLines("Get:1 x\nErr:2 http://127.0.0.1:40437/debian bookworm-backports Release\nE: The repository 'http://127.0.0.1:40437/debian bookworm-backports Release' does not have a Release file.\r\nW: Failed to fetch http://127.0.0.1:40437/debian/dists/bookworm/InRelease  Unable to connect to 127.0.0.1:40437:\n")
	if len(lines) != 3 {
		t.Fatalf("problem lines %q", lines)
	}
	if got := suiteLines(lines, "bookworm"); len(got) != 1 || !strings.Contains(got[0], "dists/bookworm/") {
		t.Errorf("bookworm lines %q (bookworm-backports' must not count)", got)
	}
	if got := suiteLines(lines, "bookworm-backports"); len(got) != 2 {
		t.Errorf("bookworm-backports lines %q", got)
	}
	// A port number with 404 in it is not a 404.
	h := badSuiteHints(suiteLines(lines, "bookworm"))
	if len(h) != 1 || !strings.Contains(h[0], "unreachable") {
		t.Errorf("hints %q", h)
	}
}

func FuzzParseStanzas(f *testing.F) {
	f.Add(packagesSample)
	f.Add("A: b\n c\n\n#x\nD:\n")
	f.Fuzz(func(t *testing.T, data string) {
		n := 0
		err := ParseStanzas(strings.NewReader(data), func(name, value string) bool { return len(value)%2 == 0 }, func(s Stanza) (bool, error) {
			n++
			if len(s) == 0 {
				t.Fatal("an empty stanza")
			}
			for k := range s {
				if k == "" || strings.ContainsAny(k, ":\n") {
					t.Fatalf("field name %q", k)
				}
			}
			return true, nil
		})
		if err == nil && n > strings.Count(data, ":") {
			t.Fatalf("%d stanzas from %d colons", n, strings.Count(data, ":"))
		}
		parsePackages(strings.NewReader(data), "amd64")
		indexTargets(data)
		ParseDepends(data)
	})
}
