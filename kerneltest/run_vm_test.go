package kerneltest

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/testkernel"
)

// These tests boot the real kernel (internal/testkernel finds it; they
// skip with the no-kernel banner when there is none) under QEMU.

// vmConfig is a small guest of the test kernel.
func vmConfig(t *testing.T) Config {
	t.Helper()
	if InGuest() {
		// The guest reads no kernel cache (and Run ignores the Config).
		return Config{}
	}
	return Config{Kernel: testkernel.Path(t), CPUs: 1, MemoryMB: 512, Timeout: time.Minute}
}

func TestRunVMPass(t *testing.T) {
	res := Run(t, vmConfig(t), func(g *G) {
		if os.Getpid() == 1 {
			g.Errorf("the body runs as PID 1")
		}
		rel, err := os.ReadFile("/proc/sys/kernel/osrelease")
		if err != nil {
			g.Fatal(err)
		}
		g.Report("release", strings.TrimSpace(string(rel)))
		g.Report("uid", os.Getuid())
		g.Run("sub", func(g *G) { g.Logf("in the guest subtest") })
	})
	var rel string
	var uid int
	if err := res.Value("release", &rel); err != nil {
		t.Fatal(err)
	}
	if err := res.Value("uid", &uid); err != nil || uid != 0 {
		t.Errorf("uid %d %v", uid, err)
	}
	host, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	t.Logf("guest release %s (host %s), boot %v, total %v", rel, strings.TrimSpace(string(host)), res.Boot, res.Total)
}

// Each preset's layout is what the guest's sysfs shows.
func TestRunVMGauntletTopology(t *testing.T) {
	cfg := vmConfig(t)
	res := Gauntlet(t, cfg, Presets, func(g *G, p Preset) { CheckTopology(g, p.Topology) })
	for name, r := range res {
		var top Topology
		if r != nil && r.Value("topology", &top) == nil {
			t.Logf("%s: guest topology %+v, boot %v", name, top, r.Boot)
		}
	}
}
