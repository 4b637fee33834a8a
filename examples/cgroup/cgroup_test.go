// Package cgroup shows a cgroup v2 limit seen from inside the guest: the
// body makes a cgroup with pids.max = 2, starts processes straight into it
// (clone3 with CLONE_INTO_CGROUP), and reports how many started, how many
// the kernel refused, and the cgroup's own count of refusals
// (pids.events). The guest is a whole machine of the test's own, so the
// body may reconfigure cgroups as root without touching the host.
package cgroup

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ktest-dev/ktest/kerneltest"
)

// counts is what the body reports.
type counts struct {
	Started, Refused int
	// EventsMax is pids.events' "max" counter: forks the limit refused.
	EventsMax int
}

const limit = 2

func TestPidsLimitSeenFromInside(t *testing.T) {
	res := kerneltest.Run(t, kerneltest.Config{CPUs: 1, MemoryMB: 512}, func(g *kerneltest.G) {
		root := "/sys/fs/cgroup"
		write := func(path, value string) {
			g.Helper()
			if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
				g.Fatalf("write %s: %v", path, err)
			}
		}
		write(filepath.Join(root, "cgroup.subtree_control"), "+pids")
		dir := filepath.Join(root, "kerneltest-example")
		if err := os.Mkdir(dir, 0o755); err != nil {
			g.Fatal(err)
		}
		write(filepath.Join(dir, "pids.max"), strconv.Itoa(limit))
		cg, err := os.Open(dir)
		if err != nil {
			g.Fatal(err)
		}
		defer cg.Close()

		var c counts
		for range limit + 3 {
			cmd := exec.Command("sleep", "60")
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
			err := cmd.Start()
			switch {
			case err == nil:
				c.Started++
				g.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			case errors.Is(err, syscall.EAGAIN):
				c.Refused++
			default:
				g.Fatalf("start a process in %s: %v", dir, err)
			}
		}
		events, err := os.ReadFile(filepath.Join(dir, "pids.events"))
		if err != nil {
			g.Fatal(err)
		}
		for line := range strings.Lines(string(events)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "max "); ok {
				c.EventsMax, _ = strconv.Atoi(v)
			}
		}
		g.Report("counts", c)
	})
	var c counts
	if err := res.Value("counts", &c); err != nil {
		t.Fatal(err)
	}
	if c.Started != limit || c.Refused != 3 || c.EventsMax != 3 {
		t.Errorf("with pids.max=%d the guest started %d processes, %d were refused, pids.events says max %d; want %d, 3, 3",
			limit, c.Started, c.Refused, c.EventsMax, limit)
	}
}
