package kerneltest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// ReadTopology reads the running kernel's CPU and NUMA layout from sysfs
// (sysfs is its mount point, "/sys" in a guest): the online CPUs' package
// and core ids give sockets, cores per socket and threads per core; the
// online NUMA nodes give each node's CPUs and memory (MemTotal, which is
// a little less than the memory the node was given). A layout that is not
// uniform (sockets with different core counts) is an error.
func ReadTopology(sysfs string) (Topology, error) {
	cpuDir := filepath.Join(sysfs, "devices/system/cpu")
	cpus, err := readList(filepath.Join(cpuDir, "online"))
	if err != nil {
		return Topology{}, fmt.Errorf("read topology: %w", err)
	}
	type core struct{ pkg, core int }
	perCore := map[core]int{}
	perPkg := map[int]map[int]bool{}
	for _, c := range cpus {
		dir := filepath.Join(cpuDir, "cpu"+strconv.Itoa(c), "topology")
		pkg, err := readInt(filepath.Join(dir, "physical_package_id"))
		if err != nil {
			return Topology{}, fmt.Errorf("read topology: %w", err)
		}
		id, err := readInt(filepath.Join(dir, "core_id"))
		if err != nil {
			return Topology{}, fmt.Errorf("read topology: %w", err)
		}
		perCore[core{pkg, id}]++
		if perPkg[pkg] == nil {
			perPkg[pkg] = map[int]bool{}
		}
		perPkg[pkg][id] = true
	}
	top := Topology{Sockets: len(perPkg)}
	for pkg, cores := range perPkg {
		if top.Cores == 0 {
			top.Cores = len(cores)
		} else if len(cores) != top.Cores {
			return Topology{}, fmt.Errorf("read topology: package %d has %d cores, another %d", pkg, len(cores), top.Cores)
		}
	}
	for c, n := range perCore {
		if top.Threads == 0 {
			top.Threads = n
		} else if n != top.Threads {
			return Topology{}, fmt.Errorf("read topology: core %d of package %d has %d threads, another %d", c.core, c.pkg, n, top.Threads)
		}
	}
	nodeDir := filepath.Join(sysfs, "devices/system/node")
	nodes, err := readList(filepath.Join(nodeDir, "online"))
	if os.IsNotExist(err) {
		return top, nil // a kernel without NUMA
	}
	if err != nil {
		return Topology{}, fmt.Errorf("read topology: %w", err)
	}
	for _, n := range nodes {
		dir := filepath.Join(nodeDir, "node"+strconv.Itoa(n))
		ncpus, err := readList(filepath.Join(dir, "cpulist"))
		if err != nil {
			return Topology{}, fmt.Errorf("read topology: %w", err)
		}
		mem, err := nodeMemTotalKB(filepath.Join(dir, "meminfo"))
		if err != nil {
			return Topology{}, fmt.Errorf("read topology: %w", err)
		}
		top.NUMA = append(top.NUMA, Node{CPUs: len(ncpus), MemoryMB: int(mem / 1024)})
	}
	return top, nil
}

// CheckTopology fails g unless the guest's layout (ReadTopology of /sys)
// is want: the same sockets, cores and threads, and, when want has NUMA
// nodes, as many nodes with the same CPU counts and at least three
// quarters of each node's memory (the kernel keeps some for itself). It
// reports the layout it read under the key "topology".
func CheckTopology(g *G, want Topology) {
	g.Helper()
	got, err := ReadTopology("/sys")
	if err != nil {
		g.Fatalf("kerneltest: %v", err)
	}
	g.Report("topology", got)
	if msg := topologyMismatch(got, want); msg != "" {
		g.Errorf("kerneltest: guest topology %s", msg)
	}
}

// topologyMismatch says how got differs from want, "" if it does not.
func topologyMismatch(got, want Topology) string {
	if got.Sockets != want.Sockets || got.Cores != want.Cores || got.Threads != want.Threads {
		return fmt.Sprintf("is %d sockets × %d cores × %d threads, want %d × %d × %d",
			got.Sockets, got.Cores, got.Threads, want.Sockets, want.Cores, want.Threads)
	}
	if len(want.NUMA) == 0 {
		return ""
	}
	if len(got.NUMA) != len(want.NUMA) {
		return fmt.Sprintf("has %d NUMA nodes, want %d", len(got.NUMA), len(want.NUMA))
	}
	for i, w := range want.NUMA {
		g := got.NUMA[i]
		if g.CPUs != w.CPUs || g.MemoryMB > w.MemoryMB || g.MemoryMB < w.MemoryMB*3/4 {
			return fmt.Sprintf("NUMA node %d has %d CPUs and %d MiB, want %d CPUs and %d MiB", i, g.CPUs, g.MemoryMB, w.CPUs, w.MemoryMB)
		}
	}
	return ""
}

// Preset is a named topology for Gauntlet.
type Preset struct {
	Name     string
	Topology Topology
}

// Presets are small layouts that exercise what differs between machines:
// one CPU, several cores, several sockets, and two NUMA nodes. SMT
// threads (Threads > 1) are left out: under TCG, QEMU's default CPU model
// shows a guest its threads as cores.
var Presets = []Preset{
	{"1cpu", Topology{Sockets: 1, Cores: 1, Threads: 1}},
	{"2cores", Topology{Sockets: 1, Cores: 2, Threads: 1}},
	{"2sockets", Topology{Sockets: 2, Cores: 1, Threads: 1}},
	{"2numa", Topology{Sockets: 2, Cores: 1, Threads: 1, NUMA: []Node{{CPUs: 1, MemoryMB: 384}, {CPUs: 1, MemoryMB: 384}}}},
}

// Gauntlet runs body in a guest of each preset's topology, each as a
// subtest named after the preset (cfg gives the rest of the machine; its
// CPUs and, for presets with NUMA nodes, MemoryMB are the preset's). It
// returns each subtest's Result by preset name (nil for a subtest that
// stopped). The body gets the preset, e.g. for CheckTopology.
func Gauntlet(t *testing.T, cfg Config, presets []Preset, body func(g *G, p Preset)) map[string]*Result {
	t.Helper()
	results := map[string]*Result{}
	for _, p := range presets {
		t.Run(p.Name, func(t *testing.T) {
			c := cfg
			top := p.Topology
			c.Topology, c.CPUs = &top, 0
			if len(top.NUMA) > 0 {
				c.MemoryMB = 0
			}
			results[p.Name] = Run(t, c, func(g *G) { body(g, p) })
		})
	}
	return results
}

// readList reads a sysfs CPU or node list such as "0-3,5".
func readList(path string) ([]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	list, err := parseList(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Nodes come out in id order, whatever order the list has.
	slices.Sort(list)
	return slices.Compact(list), nil
}

func parseList(s string) ([]int, error) {
	var out []int
	if s == "" {
		return nil, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("bad list element %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b-a > 1<<16 {
				return nil, fmt.Errorf("bad list range %q", part)
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}

func readInt(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// nodeMemTotalKB reads "Node N MemTotal: X kB" from a node's meminfo.
func nodeMemTotalKB(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 4 && f[0] == "Node" && f[2] == "MemTotal:" {
			n, err := strconv.ParseInt(f[3], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", path, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s: no MemTotal line", path)
}
