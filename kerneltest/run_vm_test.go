package kerneltest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/testkernel"
	"github.com/ktest-dev/ktest/internal/testproto"
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
	return Config{Kernel: testkernel.Path(t), CPUs: 1, MemoryMB: 512, Timeout: 3 * time.Minute}
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

// Host tests that fail or skip on purpose, in a child test binary (see
// TestRunVMVerdicts) that boots real guests.
func init() {
	childRoles["vm-mixed"] = func(t *testing.T) {
		res := Run(t, vmConfig(t), func(g *G) {
			g.Run("pass", func(g *G) { g.Report("cpus", runtimeNumCPU()) })
			g.Run("fail", func(g *G) { g.Errorf("failing in the guest") })
			g.Run("skip", func(g *G) { g.Skipf("skipping in the guest") })
		})
		var cpus int
		if err := res.Value("cpus", &cpus); err != nil || cpus != 1 {
			t.Errorf("cpus %d %v", cpus, err)
		}
		t.Log("host code after Run ran")
	}
	childRoles["vm-skip"] = func(t *testing.T) {
		Run(t, vmConfig(t), func(g *G) { g.Skipf("no such feature in %s", "this kernel") })
	}
	childRoles["vm-panic"] = func(t *testing.T) {
		Run(t, vmConfig(t), func(g *G) { panicInGuest() })
	}
	childRoles["vm-timeout"] = func(t *testing.T) {
		cfg := vmConfig(t)
		cfg.Timeout = 3 * time.Second
		Run(t, cfg, func(g *G) { blockInGuest() })
	}
}

func TestRunVMVerdicts(t *testing.T) {
	if testing.Short() {
		t.Skip("boots four guests")
	}
	testkernel.Path(t) // skips without a kernel
	env := []string{testproto.EnvVMCacheDir + "=" + os.Getenv(testproto.EnvVMCacheDir)}
	if k := os.Getenv(testkernel.EnvTestKernel); k != "" {
		env = append(env, testkernel.EnvTestKernel+"="+k)
	}
	for _, c := range []struct {
		role, verdict string
		want          []string
	}{
		{"vm-mixed", "FAIL", []string{`--- PASS: TestChildRole/pass`, `--- FAIL: TestChildRole/fail`, `run_vm_test.go:\d+: failing in the guest`,
			`--- SKIP: TestChildRole/skip`, `ktest: SKIP: guest: the test body skipped in the guest: run_vm_test.go:\d+: skipping in the guest`, `host code after Run ran`}},
		{"vm-skip", "SKIP", []string{`ktest: SKIP: guest: the test body skipped in the guest: run_vm_test.go:\d+: no such feature in this kernel`}},
		{"vm-panic", "FAIL", []string{`panic in the guest: guest boom`, `kerneltest.panicInGuest\(`}},
		{"vm-timeout", "FAIL", []string{`timed out in the guest: the body ran longer than its timeout of 3s`, `guest goroutines:`, `kerneltest.blockInGuest\(`}},
	} {
		t.Run(c.role, func(t *testing.T) {
			t.Parallel()
			res := runChild(t, c.role, env...)
			if v := res.verdict(); v != c.verdict {
				t.Errorf("verdict %s, want %s", v, c.verdict)
			}
			for _, re := range c.want {
				if !regexp.MustCompile(re).MatchString(res.output) {
					t.Errorf("output lacks %s", re)
				}
			}
			if t.Failed() {
				t.Logf("child output:\n%s", res.output)
			}
		})
	}
}

func runtimeNumCPU() int { return runtime.NumCPU() }

func init() {
	childRoles["vm-no-go"] = func(t *testing.T) {
		if !InGuest() {
			if p, err := exec.LookPath("go"); err == nil {
				t.Fatalf("go is on PATH: %s", p)
			}
		}
		res := Run(t, vmConfig(t), func(g *G) { g.Report("ok", true) })
		var ok bool
		if err := res.Value("ok", &ok); err != nil || !ok {
			t.Errorf("value: %v %v", ok, err)
		}
	}
}

// The test binary is all a guest needs: run as `go test -c` leaves it,
// with no go on PATH, Run works (nothing is built at test time).
func TestRunVMWithoutGo(t *testing.T) {
	testkernel.Path(t)
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(d, "go")); err != nil {
			dirs = append(dirs, d)
		}
	}
	env := []string{"PATH=" + strings.Join(dirs, string(filepath.ListSeparator)),
		testproto.EnvVMCacheDir + "=" + os.Getenv(testproto.EnvVMCacheDir)}
	if k := os.Getenv(testkernel.EnvTestKernel); k != "" {
		env = append(env, testkernel.EnvTestKernel+"="+k)
	}
	res := runChild(t, "vm-no-go", env...)
	if res.verdict() != "PASS" {
		t.Errorf("verdict %s, want PASS; output:\n%s", res.verdict(), res.output)
	}
}

// The two halves of scripts/bench-run.sh (KERNELTEST_BENCH=1): a trivial
// kerneltest.Run body, run by plain ktest, against a trivial test run in
// the guest by `ktest --vm`, on the same kernel in the same run.
func TestBenchRunTrivial(t *testing.T) {
	if os.Getenv("KERNELTEST_BENCH") != "1" && !InGuest() {
		t.Skip("scripts/bench-run.sh runs it")
	}
	res := Run(t, Config{CPUs: 2, MemoryMB: 1024}, func(g *G) { g.Report("ok", true) })
	t.Logf("boot %v, total %v", res.Boot, res.Total)
}

func TestBenchVMTrivial(t *testing.T) {
	if os.Getenv("KERNELTEST_BENCH") != "1" {
		t.Skip("scripts/bench-run.sh runs it")
	}
}

// A large value crosses the guest's stdout whole, while the body prints
// to the same stdout from another goroutine.
func TestRunVMLargeValueWithNoise(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	res := Run(t, vmConfig(t), func(g *G) {
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
					fmt.Printf("noise line %d\n", i)
				}
			}
		}()
		for i := range 5 {
			g.Report(fmt.Sprintf("big%d", i), big)
		}
		close(stop)
		<-done
	})
	for i := range 5 {
		var got string
		if err := res.Value(fmt.Sprintf("big%d", i), &got); err != nil || got != big {
			t.Errorf("value %d: %d bytes, %v", i, len(got), err)
		}
	}
	if !strings.Contains(res.Output, "noise line") {
		t.Errorf("the body's own output is lost: %.200q", res.Output)
	}
}
