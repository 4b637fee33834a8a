// Package vmenv is what `ktest --vm` hands to its hidden `ktest vm-exec`
// wrapper: the guest's shape and how to reach it, as one JSON object in
// KTEST_VM_CONFIG (docs/spec.md §14). The runner writes it for each
// kernel's pass; vm-exec, which go test runs once per test binary, reads it.
// Both sides share this one type, so that they cannot drift apart.
package vmenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ktest-dev/ktest/internal/vmconfig"
)

// Env is the variable that carries the configuration.
const Env = "KTEST_VM_CONFIG"

// Version is the configuration's format. A vm-exec refuses another one:
// the runner and the wrapper are the same ktest binary, so a mismatch is a
// wrapper run by hand or by a different ktest.
const Version = "ktest.vmexec/1"

// Transports: how the host filesystem reaches the guest.
const (
	// TransportVirtiofs shares the host's / through virtiofsd.
	TransportVirtiofs = "virtiofs"
	// TransportInitramfs packs the program and its module tree into the
	// initramfs (virtiofsd missing, or the kernel cannot reach virtio-fs).
	TransportInitramfs = "initramfs"
)

// Config is one pass's guest configuration.
type Config struct {
	Version string `json:"version"`
	// CPUs and MemoryMB are --vm-cpus and --vm-memory; 0 when not given:
	// each package's .ktest.toml then sizes its guest, else the defaults
	// (vmconfig.Resolve).
	CPUs     int `json:"cpus,omitempty"`
	MemoryMB int `json:"memory_mb,omitempty"`
	// Accel is "kvm" or "tcg", as the KVM preflight decided.
	Accel string `json:"accel"`
	// Transport is TransportVirtiofs or TransportInitramfs.
	Transport string `json:"transport"`
	// QEMU and Virtiofsd are the programs the preflight found (absolute
	// paths; Virtiofsd "" with the initramfs transport).
	QEMU      string `json:"qemu"`
	Virtiofsd string `json:"virtiofsd,omitempty"`
	// Modules are kernel modules loaded before each test binary starts,
	// Setup shell command lines run before it; nil leaves them to the
	// package's .ktest.toml.
	Modules []string `json:"modules,omitempty"`
	Setup   []string `json:"setup,omitempty"`
	// Jobs bounds the guests this run boots at once; 0 leaves it to go
	// test's -p. JobsDir holds the run's slot lockfiles when Jobs > 0.
	Jobs    int    `json:"jobs,omitempty"`
	JobsDir string `json:"jobs_dir,omitempty"`
	// ResultCache is false under -count=1 (or when the cache is off): every
	// test binary boots.
	ResultCache bool `json:"result_cache,omitempty"`
}

// Encode renders c for the environment.
func (c Config) Encode() string {
	c.Version = Version
	b, err := json.Marshal(c)
	if err != nil {
		// Only strings, ints and bools: Marshal cannot fail.
		panic(err)
	}
	return string(b)
}

// EnvVar is Env=c.Encode().
func (c Config) EnvVar() string { return Env + "=" + c.Encode() }

// ErrMissing is Decode's error for an empty value: vm-exec run by hand.
var ErrMissing = errors.New(Env + " is not set: ktest vm-exec is run by `ktest --vm`, not directly")

// Decode parses and checks a KTEST_VM_CONFIG value.
func Decode(s string) (Config, error) {
	var c Config
	if strings.TrimSpace(s) == "" {
		return c, ErrMissing
	}
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("parse %s: %w", Env, err)
	}
	if dec.More() {
		return Config{}, fmt.Errorf("parse %s: data after the JSON object", Env)
	}
	if c.Version != Version {
		return Config{}, fmt.Errorf("parse %s: version %q, this ktest reads %q (run through the same ktest --vm)", Env, c.Version, Version)
	}
	if err := c.Check(); err != nil {
		return Config{}, fmt.Errorf("parse %s: %w", Env, err)
	}
	return c, nil
}

// Check reports a configuration that no guest can have.
func (c Config) Check() error {
	switch {
	case c.CPUs < 0 || c.CPUs > vmconfig.MaxCPUs:
		return fmt.Errorf("cpus %d: want 1 to %d, or 0 for the default", c.CPUs, vmconfig.MaxCPUs)
	case c.MemoryMB != 0 && (c.MemoryMB < vmconfig.MinMemoryMB || c.MemoryMB > vmconfig.MaxMemoryMB):
		return fmt.Errorf("memory %d MiB: want %d MiB to %d MiB, or 0 for the default", c.MemoryMB, vmconfig.MinMemoryMB, vmconfig.MaxMemoryMB)
	case c.Transport != TransportVirtiofs && c.Transport != TransportInitramfs:
		return fmt.Errorf("transport %q: want %s or %s", c.Transport, TransportVirtiofs, TransportInitramfs)
	case c.Jobs < 0:
		return fmt.Errorf("jobs %d: want 0 or more", c.Jobs)
	case c.Jobs > 0 && c.JobsDir == "":
		return errors.New("jobs without a slot directory")
	}
	return nil
}
