package vm

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	t.Setenv(AccelEnv, "")
	c, err := Config{Kernel: "k", Guest: "g"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.CPUs != DefaultCPUs || c.MemoryMB != DefaultMemoryMB || c.Timeout != DefaultTimeout || c.Accel != AccelTCG || c.QEMU != DefaultQEMU {
		t.Errorf("defaults = %+v", c)
	}
	t.Setenv(AccelEnv, " KVM ")
	if c, err = (Config{Kernel: "k", Guest: "g"}).withDefaults(); err != nil || c.Accel != AccelKVM {
		t.Errorf("with %s=KVM: accel %q, err %v; want kvm", AccelEnv, c.Accel, err)
	}
	if c, err = (Config{Kernel: "k", Guest: "g", Accel: "tcg"}).withDefaults(); err != nil || c.Accel != AccelTCG {
		t.Errorf("explicit Accel must win over the environment: got %q, %v", c.Accel, err)
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	t.Setenv(AccelEnv, "")
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{Guest: "g"}, "Kernel is empty"},
		{Config{Kernel: "k"}, "Guest is empty"},
		{Config{Kernel: "k", Guest: "g", CPUs: -1}, "CPUs = -1"},
		{Config{Kernel: "k", Guest: "g", MemoryMB: 16}, "at least 32"},
		{Config{Kernel: "k", Guest: "g", Timeout: -time.Second}, "positive duration"},
		{Config{Kernel: "k", Guest: "g", Accel: "hvf"}, `accelerator "hvf"`},
		{Config{Kernel: "k", Guest: "g", Files: map[string]string{"/init": "x"}}, "writes that path itself"},
		{Config{Kernel: "k", Guest: "g", Files: map[string]string{"ktest/guest.json": "x"}}, "writes that path itself"},
	}
	for _, c := range cases {
		_, err := c.cfg.withDefaults()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want it to contain %q", c.cfg, err, c.want)
		}
		// Run reports the same error before touching anything.
		if _, runErr := Run(context.Background(), c.cfg); runErr == nil || runErr.Error() != err.Error() {
			t.Errorf("Run(%+v) = %v, want %v", c.cfg, runErr, err)
		}
	}
}

func TestQEMUArgs(t *testing.T) {
	c := Config{Kernel: "/k", MemoryMB: 512, CPUs: 3, Accel: AccelTCG, Cmdline: " quiet ", QEMUArgs: []string{"-device", "x"}}
	args := qemuArgs(c, "/i.cpio")
	joined := strings.Join(args, " ")
	for _, want := range []string{"-m 512", "-smp 3", "-accel tcg,thread=single", "-kernel /k", "-initrd /i.cpio", "-no-reboot", "-serial stdio", "-device x"} {
		if !strings.Contains(joined, want) {
			t.Errorf("qemu args %q lack %q", joined, want)
		}
	}
	if i := slices.Index(args, "-append"); i < 0 || args[i+1] != "console=ttyS0 panic=-1 quiet" {
		t.Errorf("kernel command line in %q, want base plus extra", args)
	}
	c.Accel = AccelKVM
	joined = strings.Join(qemuArgs(c, "/i"), " ")
	if !strings.Contains(joined, "-enable-kvm -cpu host") || strings.Contains(joined, "tcg") {
		t.Errorf("kvm args %q", joined)
	}
}

func TestRunWithoutQEMUIsNoQEMUError(t *testing.T) {
	_, err := Run(context.Background(), Config{Kernel: "k", Guest: "g", QEMU: "qemu-system-ktest-does-not-exist"})
	var nq *NoQEMUError
	if !errors.As(err, &nq) {
		t.Fatalf("Run error = %v (%T), want *NoQEMUError", err, err)
	}
	if nq.Binary != "qemu-system-ktest-does-not-exist" || !strings.Contains(err.Error(), "apt-get install -y qemu-system-x86") || !strings.Contains(err.Error(), "dnf install") {
		t.Errorf("NoQEMUError message lacks the binary or install hints: %v", err)
	}
}

func TestRunMissingKernel(t *testing.T) {
	requireQEMU(t)
	_, err := Run(context.Background(), Config{Kernel: "/nonexistent/bzImage", Guest: "g"})
	if err == nil || !strings.Contains(err.Error(), "kernel image") || !strings.Contains(err.Error(), "/nonexistent/bzImage") {
		t.Errorf("Run = %v, want an error naming the missing kernel image", err)
	}
}
