package vmenv

import (
	"errors"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	c := Config{CPUs: 2, MemoryMB: 1024, Accel: "tcg", Transport: TransportVirtiofs, QEMU: "/usr/bin/qemu-system-x86_64",
		Virtiofsd: "/usr/lib/qemu/virtiofsd", Modules: []string{"dummy"}, Setup: []string{"true"}, Jobs: 2, JobsDir: "/tmp/x", ResultCache: true}
	got, err := Decode(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	c.Version = Version
	if got.Encode() != c.Encode() || got.Version != Version {
		t.Errorf("round trip: got %+v, want %+v", got, c)
	}
	if !strings.HasPrefix(c.EnvVar(), Env+"={") {
		t.Errorf("EnvVar = %q", c.EnvVar())
	}
}

func TestDecodeErrors(t *testing.T) {
	good := Config{CPUs: 2, MemoryMB: 1024, Transport: TransportInitramfs}
	if c, err := Decode(Config{Transport: TransportVirtiofs}.Encode()); err != nil || c.CPUs != 0 || c.MemoryMB != 0 {
		t.Errorf("flags not given: %+v, %v", c, err)
	}
	if _, err := Decode(""); !errors.Is(err, ErrMissing) {
		t.Errorf("empty: %v, want ErrMissing", err)
	}
	for _, tc := range []struct {
		in, want string
	}{
		{"{", "parse KTEST_VM_CONFIG"},
		{`{"version":"ktest.vmexec/0","cpus":2,"memory_mb":1024,"transport":"virtiofs"}`, `version "ktest.vmexec/0"`},
		{good.Encode() + "{}", "data after"},
		{withCPUs(good, -1).Encode(), "cpus -1"},
		{withCPUs(good, 256).Encode(), "cpus 256"},
		{withMem(good, 32).Encode(), "memory 32 MiB"},
		{withTransport(good, "9p").Encode(), `transport "9p"`},
		{Config{CPUs: 1, MemoryMB: 512, Transport: TransportVirtiofs, Jobs: 2}.Encode(), "slot directory"},
	} {
		_, err := Decode(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%.60q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func withCPUs(c Config, n int) Config         { c.CPUs = n; return c }
func withMem(c Config, n int) Config          { c.MemoryMB = n; return c }
func withTransport(c Config, s string) Config { c.Transport = s; return c }

func FuzzDecode(f *testing.F) {
	f.Add(Config{CPUs: 2, MemoryMB: 1024, Transport: TransportVirtiofs}.Encode())
	f.Add("{}")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Decode(s)
		if err != nil {
			return
		}
		if err := c.Check(); err != nil {
			t.Fatalf("Decode accepted a config Check refuses: %v", err)
		}
		if _, err := Decode(c.Encode()); err != nil {
			t.Fatalf("re-encoded config does not decode: %v", err)
		}
	})
}
