// Package runner runs `go test -json` as a child process for ktest: it builds
// the command, runs it in its own process group, streams its events through
// gotestsum's testjson to the chosen format, writes the JSON and JUnit files,
// forwards signals, and summarises the run.
package runner

import (
	"io"
	"os"
	"time"

	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/skipreport"
)

// DefaultGracePeriod is how long the go test process group gets to exit after
// ktest forwards SIGINT or SIGTERM before the whole group is killed.
const DefaultGracePeriod = 10 * time.Second

// Options configure one run of go test. The zero value is not usable: GoArgs
// may be empty, but Stdout and Stderr must be set.
type Options struct {
	// GoArgs are the go test arguments, passed verbatim after `go test -json`.
	GoArgs []string
	// Format is a gotestsum format name; "" picks the plain go test look
	// (standard-quiet, or standard-verbose when GoArgs hold -v).
	Format string
	// JUnitFile and JSONFile, when set, receive the JUnit XML report and the
	// raw test2json events.
	JUnitFile string
	JSONFile  string
	// GracePeriod bounds the wait after a forwarded signal; 0 kills go
	// test's processes at once. The CLI's default is DefaultGracePeriod.
	GracePeriod time.Duration
	// DryRun prints the command and environment instead of running them.
	DryRun bool
	// Env is the process environment as KEY=VALUE (os.Environ() in
	// production); Getenv-style lookups read it so tests can inject values.
	Env []string
	// Dir is the working directory for go test ("" = current directory).
	Dir string

	// Kernels are the --kernel IDs, in the order given: paths, versions
	// or cache keys. None: the kernel is resolved (docs/spec.md §5); one:
	// exactly that kernel; several: the packages run once per kernel, in
	// this order (§14).
	Kernels []string
	// LockTimeout bounds the wait for LOCK_SH on the kernel's cache entry;
	// a timeout becomes a contention SKIP. 0 (or less) makes one attempt
	// without waiting, as --lock-timeout 0 asks; the CLI's default is
	// cache.DefaultReadLockTimeout.
	LockTimeout time.Duration
	// OnNoKVM is what an absent or forbidden /dev/kvm means: "fail"
	// (default), "skip" or "tcg" (preflight.OnNoKVMPolicies).
	OnNoKVM string
	// SidecarDir is --sidecar-dir: the base directory of run sidecars.
	SidecarDir string
	// Argv is ktest's whole command line, recorded in run.json.
	Argv []string

	// Shard, when N > 0, runs only shard K of N of the packages the
	// patterns match, split by ShardBy (ShardByHash or ShardByTime).
	Shard   Shard
	ShardBy string
	// MaxSkipRate, when set, is the largest share of skipped tests (in
	// percent) that passes; above it the run exits 4.
	MaxSkipRate *float64
	// SkipExitCode, when set, is the exit status when every test skipped.
	SkipExitCode *int

	// VM, when set, is --vm: each test binary runs inside the kernel's
	// guest through `ktest vm-exec` (docs/spec.md §14).
	VM *VMOptions

	// KVM and Resolve adjust the preflight; tests use them as seams.
	KVM     preflight.KVMOptions
	Resolve preflight.ResolveOptions

	Stdout io.Writer
	Stderr io.Writer
}

func (o Options) gracePeriod() time.Duration { return max(o.GracePeriod, 0) }

// getenv reads the run's environment.
func (o Options) getenv(key string) string { return envValue(o.Env, key) }

func (o Options) lockTimeout() time.Duration { return max(o.LockTimeout, 0) }

// preflightOptions fills the preflight seams from the run's options and
// environment, for the first (or only) kernel.
func (o Options) preflightOptions() preflight.Options {
	kvm := o.KVM
	if kvm.Device == "" {
		kvm.Device = o.getenv(preflight.KVMDeviceEnv)
	}
	id := ""
	if len(o.Kernels) > 0 {
		id = o.Kernels[0]
	}
	return preflight.Options{OnNoKVM: o.OnNoKVM, KVM: kvm, Resolve: o.resolveOptions(id)}
}

// resolveOptions are the kernel resolution options for the kernel ID id
// ("" = resolve without one).
func (o Options) resolveOptions(id string) preflight.ResolveOptions {
	res := o.Resolve
	res.ID = id
	if res.Getenv == nil {
		res.Getenv = o.getenv
	}
	if res.Dir == "" {
		res.Dir = o.Dir
	}
	return res
}

// sidecarBase is --sidecar-dir, else KTEST_SIDECAR_DIR, else .ktest/runs
// under the main module's root (docs/spec.md §8).
func (o Options) sidecarBase() string {
	if o.SidecarDir != "" {
		return o.SidecarDir
	}
	if d := o.getenv(EnvSidecarDir); d != "" {
		return d
	}
	dir := o.Dir
	if dir == "" {
		dir, _ = os.Getwd()
	}
	return skipreport.DefaultBase(dir)
}

func (o Options) shardBy() string {
	if o.ShardBy == "" {
		return ShardByHash
	}
	return o.ShardBy
}

// historyBases are where --shard-by time looks for past package durations:
// this run's sidecar base and, when that is elsewhere, the module's default
// .ktest/runs (where CI restores the merged history of earlier runs).
func (o Options) historyBases() []string {
	bases := []string{o.sidecarBase()}
	dir := o.Dir
	if dir == "" {
		dir, _ = os.Getwd()
	}
	if def := skipreport.DefaultBase(dir); def != bases[0] {
		bases = append(bases, def)
	}
	return bases
}
