package kernel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"example.com/vmfixture/need"
)

const cgroupRoot = "/sys/fs/cgroup"

// TestCgroup2 creates a child of the cgroup2 root, sets its pids.max,
// reads it back and removes it. The pids controller is enabled for the
// root's children first when it is not, and disabled again afterwards.
func TestCgroup2(t *testing.T) {
	need.Root(t)
	var fs unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &fs); err != nil {
		need.Cannot(t, "statfs %s: %v", cgroupRoot, err)
	}
	if fs.Type != unix.CGROUP2_SUPER_MAGIC {
		need.Cannot(t, "%s is not cgroup2 (filesystem magic %#x)", cgroupRoot, fs.Type)
	}
	controllers := words(t, filepath.Join(cgroupRoot, "cgroup.controllers"))
	if !slices.Contains(controllers, "pids") {
		need.Cannot(t, "the cgroup2 root offers no pids controller (controllers: %q)", controllers)
	}
	control := filepath.Join(cgroupRoot, "cgroup.subtree_control")
	if !slices.Contains(words(t, control), "pids") {
		if err := os.WriteFile(control, []byte("+pids"), 0); err != nil {
			need.Cannot(t, "enable pids for the root's children: %v", err)
		}
		t.Cleanup(func() {
			if err := os.WriteFile(control, []byte("-pids"), 0); err != nil {
				t.Errorf("disable pids again: %v", err)
			}
		})
	}

	dir := filepath.Join(cgroupRoot, fmt.Sprintf("vmfixture-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("create cgroup: %v", err)
	}
	removed := false
	t.Cleanup(func() {
		if !removed {
			os.Remove(dir)
		}
	})
	write(t, filepath.Join(dir, "pids.max"), "17")
	if got := words(t, filepath.Join(dir, "pids.max")); !slices.Equal(got, []string{"17"}) {
		t.Fatalf("pids.max reads %q after writing 17", got)
	}
	if got := words(t, filepath.Join(dir, "pids.current")); !slices.Equal(got, []string{"0"}) {
		t.Fatalf("pids.current of a new cgroup reads %q, want 0", got)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatalf("remove cgroup: %v", err)
	}
	removed = true
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cgroup still there after rmdir: %v", err)
	}
}

func words(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func write(t *testing.T, path, value string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(value), 0); err != nil {
		t.Fatalf("write %q to %s: %v", value, path, err)
	}
}
