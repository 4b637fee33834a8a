package kerneltest

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeSysfs writes a sysfs tree: cpus[i] = {package, core}; nodes[i] =
// {cpulist, MemTotal kB}.
func fakeSysfs(t *testing.T, cpus [][2]int, nodes map[int][2]string) string {
	t.Helper()
	root := t.TempDir()
	write := func(rel, data string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("devices/system/cpu/online", fmt.Sprintf("0-%d\n", len(cpus)-1))
	for i, c := range cpus {
		write(fmt.Sprintf("devices/system/cpu/cpu%d/topology/physical_package_id", i), fmt.Sprintln(c[0]))
		write(fmt.Sprintf("devices/system/cpu/cpu%d/topology/core_id", i), fmt.Sprintln(c[1]))
	}
	if nodes != nil {
		var ids []string
		for id, n := range nodes {
			ids = append(ids, fmt.Sprint(id))
			write(fmt.Sprintf("devices/system/node/node%d/cpulist", id), n[0]+"\n")
			write(fmt.Sprintf("devices/system/node/node%d/meminfo", id), fmt.Sprintf("Node %d MemTotal:       %s kB\nNode %d MemFree: 1 kB\n", id, n[1], id))
		}
		write("devices/system/node/online", strings.Join(ids, ",")+"\n")
	}
	return root
}

func TestReadTopology(t *testing.T) {
	// 2 sockets × 2 cores × 2 threads, two nodes.
	cpus := [][2]int{{0, 0}, {0, 0}, {0, 1}, {0, 1}, {1, 0}, {1, 0}, {1, 1}, {1, 1}}
	root := fakeSysfs(t, cpus, map[int][2]string{0: {"0-3", "524288"}, 1: {"4-7", "262144"}})
	got, err := ReadTopology(root)
	if err != nil {
		t.Fatal(err)
	}
	want := Topology{Sockets: 2, Cores: 2, Threads: 2, NUMA: []Node{{CPUs: 4, MemoryMB: 512}, {CPUs: 4, MemoryMB: 256}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if m := topologyMismatch(got, Topology{Sockets: 2, Cores: 2, Threads: 2, NUMA: []Node{{CPUs: 4, MemoryMB: 600}, {CPUs: 4, MemoryMB: 300}}}); m != "" {
		t.Errorf("memory within a quarter: %s", m)
	}
	for _, w := range []Topology{
		{Sockets: 1, Cores: 4, Threads: 2},
		{Sockets: 2, Cores: 2, Threads: 2, NUMA: []Node{{CPUs: 8, MemoryMB: 768}}},
		{Sockets: 2, Cores: 2, Threads: 2, NUMA: []Node{{CPUs: 4, MemoryMB: 2048}, {CPUs: 4, MemoryMB: 256}}},
		{Sockets: 2, Cores: 2, Threads: 2, NUMA: []Node{{CPUs: 2, MemoryMB: 512}, {CPUs: 6, MemoryMB: 256}}},
	} {
		if topologyMismatch(got, w) == "" {
			t.Errorf("%+v matched %+v", got, w)
		}
	}
	// Without NUMA nodes wanted, the nodes are not compared.
	if m := topologyMismatch(got, Topology{Sockets: 2, Cores: 2, Threads: 2}); m != "" {
		t.Error(m)
	}

	// No node directory: a kernel without NUMA.
	got, err = ReadTopology(fakeSysfs(t, [][2]int{{0, 0}}, nil))
	if err != nil || !reflect.DeepEqual(got, Topology{Sockets: 1, Cores: 1, Threads: 1}) {
		t.Errorf("no NUMA: %+v %v", got, err)
	}

	// Sockets of different sizes.
	if _, err := ReadTopology(fakeSysfs(t, [][2]int{{0, 0}, {0, 1}, {1, 0}}, nil)); err == nil {
		t.Error("uneven sockets accepted")
	}
	if _, err := ReadTopology(t.TempDir()); err == nil {
		t.Error("an empty tree accepted")
	}
}

// This host's own sysfs reads without error.
func TestReadTopologyHost(t *testing.T) {
	top, err := ReadTopology("/sys")
	if err != nil {
		t.Skipf("this host's sysfs: %v", err)
	}
	if top.CPUs() < 1 {
		t.Errorf("host topology %+v has no CPUs", top)
	}
}

func TestParseList(t *testing.T) {
	for s, want := range map[string][]int{"": nil, "0": {0}, "0-2,5": {0, 1, 2, 5}, "3,1": {3, 1}} {
		if got, err := parseList(s); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseList(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"a", "1-", "3-1", "-1", "0-99999999"} {
		if _, err := parseList(s); err == nil {
			t.Errorf("parseList(%q) accepted", s)
		}
	}
}

func FuzzParseList(f *testing.F) {
	f.Add("0-3,5")
	f.Fuzz(func(t *testing.T, s string) { _, _ = parseList(s) })
}

func TestHostSpecTopology(t *testing.T) {
	top := Topology{Sockets: 2, Cores: 1, Threads: 1, NUMA: []Node{{CPUs: 1, MemoryMB: 256}, {CPUs: 1, MemoryMB: 256}}}
	s, _, err := hostSpec(t, Config{Topology: &top})
	if err != nil || s.CPUs != 2 || s.MemoryMB != 512 || s.Topology == nil || s.Topology.SMPArg() != "cpus=2,sockets=2,cores=1,threads=1" {
		t.Fatalf("%+v %v", s, err)
	}
	for _, c := range []Config{
		{Topology: &top, CPUs: 3},
		{Topology: &top, MemoryMB: 1024},
		{Topology: &Topology{Sockets: 0, Cores: 1, Threads: 1}},
	} {
		if _, _, err := hostSpec(t, c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	s, timeout, err := hostSpec(t, Config{})
	if err != nil || s.CPUs != 2 || s.MemoryMB != 1024 || timeout <= 0 {
		t.Errorf("defaults: %+v %v %v", s, timeout, err)
	}
}

// Gauntlet runs one guest per preset, as subtests, each with its topology
// (local launcher: the spec the guest would get is what is checked).
func TestGauntletLocal(t *testing.T) {
	useLocal(t)
	var seen []string
	old := launch
	launch = func(ctx contextT, s specT) (*resultT, error) {
		seen = append(seen, s.Topology.SMPArg())
		return old(ctx, s)
	}
	res := Gauntlet(t, local, Presets[:3], func(g *G, p Preset) { g.Report("preset", p.Name) })
	if inGuest() {
		return
	}
	for _, p := range Presets[:3] {
		var name string
		if r := res[p.Name]; r == nil || r.Value("preset", &name) != nil || name != p.Name {
			t.Errorf("preset %s: result %+v", p.Name, r)
		}
	}
	want := []string{"cpus=1,sockets=1,cores=1,threads=1", "cpus=2,sockets=1,cores=2,threads=1", "cpus=2,sockets=2,cores=1,threads=1"}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("specs %q, want %q", seen, want)
	}
}
