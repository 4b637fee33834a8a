package hostres

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeCgroups points the cgroup files at a temp tree and returns its root.
func fakeCgroups(t *testing.T, selfCgroup string) string {
	t.Helper()
	root := t.TempDir()
	self := filepath.Join(root, "self-cgroup")
	if err := os.WriteFile(self, []byte(selfCgroup), 0o644); err != nil {
		t.Fatal(err)
	}
	oldRoot, oldSelf := cgroupRoot, procSelfCgroup
	t.Cleanup(func() { cgroupRoot, procSelfCgroup = oldRoot, oldSelf })
	cgroupRoot, procSelfCgroup = filepath.Join(root, "fs"), self
	if err := os.Mkdir(cgroupRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	return cgroupRoot
}

func noCgroups(t *testing.T) { fakeCgroups(t, "") }

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// cgroup v2: the tightest limit of the cgroup and its ancestors wins;
// inactive file cache counts as free.
func TestCgroupV2(t *testing.T) {
	root := fakeCgroups(t, "0::/ci/job\n")
	writeFiles(t, filepath.Join(root, "ci"), map[string]string{
		"memory.max": "4294967296\n", "memory.current": "1073741824\n", "memory.stat": "anon 1\ninactive_file 0\n",
		"cpu.max": "300000 100000\n",
	})
	writeFiles(t, filepath.Join(root, "ci", "job"), map[string]string{
		"memory.max": "max\n", "memory.current": "3221225472\n",
		"cpu.max": "max 100000\n", "cpuset.cpus.effective": "0-7\n",
	})
	l := readCgroupLimits()
	if want := (limits{memLimit: 4 << 30, memHeadroom: 3 << 30, cpus: 3, cpuset: 8}); l != want {
		t.Errorf("limits = %+v, want %+v", l, want)
	}
	r := Resources{CPUs: 16, MemTotalMB: 65536, MemAvailableMB: 60000}
	applyCgroup(&r, l)
	if want := (Resources{CPUs: 3, MemTotalMB: 4096, MemAvailableMB: 3072, CgroupMemLimitMB: 4096}); r != want {
		t.Errorf("applyCgroup = %v, want %v", r, want)
	}

	// The job's own limit, nearly used up but mostly by page cache.
	writeFiles(t, filepath.Join(root, "ci", "job"), map[string]string{
		"memory.max": "2147483648\n", "memory.current": "2147483648\n", "memory.stat": "inactive_file 1073741824\n",
	})
	if l := readCgroupLimits(); l.memLimit != 2<<30 || l.memHeadroom != 1<<30 {
		t.Errorf("limits = %+v, want a 2 GiB limit with 1 GiB headroom", l)
	}
}

// A cgroup namespace shows "0::/", and a path that does not exist under
// the mount means the mount's root is ours.
func TestCgroupV2Namespace(t *testing.T) {
	root := fakeCgroups(t, "0::/elsewhere/job\n")
	writeFiles(t, root, map[string]string{"memory.max": "1073741824", "memory.current": "0"})
	if l := readCgroupLimits(); l.memLimit != 1<<30 || l.memHeadroom != 1<<30 {
		t.Errorf("limits = %+v, want the root's", l)
	}
}

func TestCgroupV1(t *testing.T) {
	root := fakeCgroups(t, "4:memory:/docker/abc\n0::/\n")
	writeFiles(t, filepath.Join(root, "memory"), map[string]string{
		"memory.limit_in_bytes": "2147483648\n", "memory.usage_in_bytes": "1610612736\n",
		"memory.stat": "inactive_file 1\ntotal_inactive_file 536870912\n",
	})
	writeFiles(t, filepath.Join(root, "cpu"), map[string]string{"cpu.cfs_quota_us": "150000\n", "cpu.cfs_period_us": "100000\n"})
	writeFiles(t, filepath.Join(root, "cpuset"), map[string]string{"cpuset.effective_cpus": "0-1\n"})
	l := readCgroupLimits()
	if want := (limits{memLimit: 2 << 30, memHeadroom: 1 << 30, cpus: 1.5, cpuset: 2}); l != want {
		t.Errorf("limits = %+v, want %+v", l, want)
	}
	r := Resources{CPUs: 4, MemTotalMB: 8192, MemAvailableMB: 8000}
	applyCgroup(&r, l)
	if r.CPUs != 2 || r.MemAvailableMB != 1024 || r.MemTotalMB != 2048 {
		t.Errorf("applyCgroup = %v", r)
	}

	// The process's own cgroup under the mount, tighter than the root.
	writeFiles(t, filepath.Join(root, "memory", "docker", "abc"), map[string]string{
		"memory.limit_in_bytes": "1073741824\n", "memory.usage_in_bytes": "0\n",
	})
	if l := readCgroupLimits(); l.memLimit != 1<<30 || l.memHeadroom != 1<<30 {
		t.Errorf("limits = %+v, want the own cgroup's 1 GiB", l)
	}
	os.RemoveAll(filepath.Join(root, "memory", "docker"))

	// v1's "no limit" is a page-rounded 2^63-1.
	writeFiles(t, filepath.Join(root, "memory"), map[string]string{"memory.limit_in_bytes": "9223372036854771712\n"})
	if l := readCgroupLimits(); l.memLimit != 0 || l.memHeadroom != 0 {
		t.Errorf("limits = %+v, want no memory limit", l)
	}
}

func TestHeadroom(t *testing.T) {
	for _, c := range []struct{ limit, usage, inactive, want uint64 }{
		{100, 40, 0, 60}, {100, 40, 30, 90}, {100, 120, 0, 1}, {100, 40, 50, 100}, {100, 100, 0, 1},
	} {
		if got := headroom(c.limit, c.usage, c.inactive); got != c.want {
			t.Errorf("headroom(%d, %d, %d) = %d, want %d", c.limit, c.usage, c.inactive, got, c.want)
		}
	}
}

func FuzzCgroupParsers(f *testing.F) {
	for _, s := range []string{"max\n", "1073741824\n", "max 100000\n", "150000 100000", "0::/a/b\n", "inactive_file 12\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, ok := parseBytesLimit([]byte(s)); ok && n >= unlimitedBytes {
			t.Fatalf("parseBytesLimit(%q) = %d, a limit that means none", s, n)
		}
		if q, ok := parseCPUMax([]byte(s)); ok && !(q > 0) {
			t.Fatalf("parseCPUMax(%q) = %v", s, q)
		}
		for _, c := range []string{"", "memory"} {
			if p, ok := parseCgroupPath([]byte(s), c); ok && (p == "" || p[0] != '/' || !strings.HasPrefix(filepath.Join("/root", p), "/root")) {
				t.Fatalf("parseCgroupPath(%q, %q) = %q", s, c, p)
			}
		}
		parseStatField([]byte(s), "inactive_file")
	})
}
