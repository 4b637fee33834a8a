package vmconfig

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	f, err := Parse("x/.ktest.toml", []byte(`# guest settings
[vm]
cpus = 2
memory = "1G"
modules = ["dummy", "veth"]
setup = ["ip link set lo up", "sysctl -w net.ipv4.ip_forward=1"]
pack = ["ip", "/usr/share/zoneinfo"]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := VM{CPUs: 2, MemoryMB: 1024, Modules: []string{"dummy", "veth"}, Setup: []string{"ip link set lo up", "sysctl -w net.ipv4.ip_forward=1"},
		Pack: []string{"ip", "/usr/share/zoneinfo"}}
	if !reflect.DeepEqual(f.VM, want) || f.Path != "x/.ktest.toml" {
		t.Errorf("Parse = %+v, want %+v", f, want)
	}
	for src, want := range map[string]VM{
		"":                               {},
		"[vm]\n":                         {},
		"[vm]\nmemory = 2048\n":          {MemoryMB: 2048},
		"[vm]\nmemory = \"size=512M\"\n": {MemoryMB: 512},
		"vm.cpus = 4\n":                  {CPUs: 4},
		"[vm]\nmodules = []\nsetup = []": {Modules: []string{}, Setup: []string{}},
	} {
		f, err := Parse("c.toml", []byte(src))
		if err != nil || !reflect.DeepEqual(f.VM, want) {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", src, f, err, want)
		}
	}
}

// Every error names file:line, and an unknown key the valid ones.
func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"[vm]\ncpus = 2\ncpuz = 3\n", `c.toml:3: unknown key "vm.cpuz"; valid keys: vm.cpus, vm.memory, vm.modules, vm.setup, vm.pack`},
		{"memory = \"1G\"\n", `c.toml:1: unknown key "memory"; valid keys: vm.cpus, vm.memory, vm.modules, vm.setup, vm.pack; guest settings go in the [vm] table`},
		{"[vm]\ncpus = 1\n\n[guest]\nx = 1\n", `c.toml:4: unknown key "guest"`},
		{"[vm]\n\"cpus\" = 2\n'tcg' = true\n", `c.toml:3: unknown key "vm.tcg"`},
		{"[vm]\ncpus = \"two\"\n", `c.toml:2: vm.cpus: want a number, got String`},
		{"[vm]\ncpus = 0\n", `c.toml:2: vm.cpus: vCPUs 0: want a number from 1 to 255`},
		{"[vm]\n\ncpus = 1000\n", `c.toml:3: vm.cpus`},
		{"[vm]\nmemory = \"1X\"\n", `c.toml:2: vm.memory: memory "1X": want a size`},
		{"[vm]\nmemory = 1.5\n", `c.toml:2: vm.memory: want a size`},
		{"[vm]\nmemory = 8\n", `c.toml:2: vm.memory: 8 MiB: want 64 to`},
		{"[vm]\nmodules = \"dummy\"\n", `c.toml:2: vm.modules: want an array of strings`},
		{"[vm]\nmodules = [1]\n", `c.toml:2: vm.modules: want an array of strings`},
		{"[vm]\nmodules = [\"a b\"]\n", `c.toml:2: vm.modules: "a b" is not a module name`},
		{"[vm]\nsetup = [\" \"]\n", `c.toml:2: vm.setup: " " is not a shell command line`},
		{"[vm]\npack = [\"bin/ip\"]\n", `c.toml:2: vm.pack: "bin/ip": want an absolute path`},
		{"[vm]\npack = [\"/usr/../etc\"]\n", `c.toml:2: vm.pack: "/usr/../etc": want an absolute path`},
		{"[vm]\npack = [\"\"]\n", `c.toml:2: vm.pack: "": want`},
		{"[vm]\ncpus = \n", `c.toml:2: `},
		{"[vm\n", `c.toml:2: expected`},
		{"vm = 3\n", `c.toml:1: vm: want a table ([vm]), got Integer`},
		{"[[vm]]\n", `c.toml:1: vm: want a table`},
		{"[vm]\nzz = 1\naa = 2\n", `c.toml:2: unknown key "vm.zz"`},
	} {
		_, err := Parse("c.toml", []byte(c.src))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Parse(%q): err = %v\nwant one starting %q", c.src, err, c.want)
		}
	}
}

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int64{
		"1G": 1024, "1g": 1024, "1GiB": 1024, "1GB": 1024, "512M": 512, "512MiB": 512, "2048": 2048,
		"size=128M": 128, "65536K": 64, "1T": 1 << 20, " 2G ": 2048,
	} {
		if got, err := ParseMemory(in); err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "G", "1X", "-1G", "1.5G", "512B", "1000K", "32M", "2T", "18446744073709551615T", "1 G B"} {
		if got, err := ParseMemory(bad); err == nil {
			t.Errorf("ParseMemory(%q) = %d, want an error", bad, got)
		}
	}
}

func TestParseCPUs(t *testing.T) {
	if n, err := ParseCPUs("4"); err != nil || n != 4 {
		t.Errorf("ParseCPUs(4) = %d, %v", n, err)
	}
	for _, bad := range []string{"0", "256", "x", ""} {
		if _, err := ParseCPUs(bad); err == nil {
			t.Errorf("ParseCPUs(%q): want an error", bad)
		}
	}
}

func TestOverride(t *testing.T) {
	file := VM{MemoryMB: 2048, Modules: []string{"dummy"}}
	flags := VM{CPUs: 4, Modules: []string{}}
	got := Defaults().Override(file).Override(flags)
	want := VM{CPUs: 4, MemoryMB: 2048, Modules: []string{}, Setup: []string{}, Pack: []string{}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("layers = %+v, want %+v", got, want)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The file next to the nearest go.mod applies: a nested module's own
// go.mod hides the outer file.
func TestFindAndResolve(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "go.mod"), "module example.com/m\n")
	write(t, filepath.Join(root, FileName), "[vm]\nmemory = \"2G\"\n")
	write(t, filepath.Join(root, "a", "b", "x.go"), "package b\n")
	write(t, filepath.Join(root, "nested", "go.mod"), "module example.com/n\n")
	write(t, filepath.Join(root, "nested", "p", "x.go"), "package p\n")

	path, err := Find(filepath.Join(root, "a", "b"))
	if err != nil || path != filepath.Join(root, FileName) {
		t.Errorf("Find(a/b) = %q, %v", path, err)
	}
	vm, path, err := Resolve(filepath.Join(root, "a", "b"), VM{CPUs: 1})
	if want := (VM{CPUs: 1, MemoryMB: 2048, Modules: []string{}, Setup: []string{}, Pack: []string{}}); err != nil || !reflect.DeepEqual(vm, want) || path == "" {
		t.Errorf("Resolve(a/b) = %+v, %q, %v; want %+v", vm, path, err, want)
	}
	if path, err := Find(filepath.Join(root, "nested", "p")); err != nil || path != "" {
		t.Errorf("Find(nested/p) = %q, %v; want none (its module has no file)", path, err)
	}
	if vm, _, err := Resolve(filepath.Join(root, "nested", "p"), VM{}); err != nil || !reflect.DeepEqual(vm, Defaults()) {
		t.Errorf("Resolve(nested/p) = %+v, %v; want the defaults", vm, err)
	}

	write(t, filepath.Join(root, FileName), "[vm]\nmemroy = \"2G\"\n")
	_, _, err = Resolve(filepath.Join(root, "a"), VM{})
	if err == nil || !strings.HasPrefix(err.Error(), filepath.Join(root, FileName)+":2: unknown key") {
		t.Errorf("Resolve with a typo: err = %v", err)
	}

	os.Remove(filepath.Join(root, FileName))
	if err := os.Mkdir(filepath.Join(root, FileName), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(root); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Load with a directory as the file: err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("[vm]\ncpus = 2\nmemory = \"1G\"\nmodules = [\"dummy\"]\nsetup = [\"ip link set lo up\"]\npack = [\"ip\"]\n")
	f.Add("vm.cpus = 1\n[x]\ny = 2\n")
	f.Add("[vm]\nmemory = 1024\n")
	f.Add("[[vm]]\n")
	f.Fuzz(func(t *testing.T, src string) {
		file, err := Parse("f.toml", []byte(src))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.toml:") {
				t.Fatalf("Parse(%q): error %q does not name the file", src, err)
			}
			return
		}
		v := file.VM
		if v.CPUs != 0 && checkCPUs(int64(v.CPUs)) != nil || v.MemoryMB != 0 && (v.MemoryMB < MinMemoryMB || v.MemoryMB > MaxMemoryMB) {
			t.Fatalf("Parse(%q) = %+v: out of range", src, v)
		}
	})
}

func FuzzParseMemory(f *testing.F) {
	for _, s := range []string{"1G", "size=512M", "2048", "1KiB", "99999999999T"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mb, err := ParseMemory(s)
		if err == nil && (mb < MinMemoryMB || mb > MaxMemoryMB) {
			t.Fatalf("ParseMemory(%q) = %d: out of range", s, mb)
		}
	})
}
