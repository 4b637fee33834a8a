package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/runner"
	"github.com/ktest-dev/ktest/internal/termtext"
	"github.com/ktest-dev/ktest/internal/vmconfig"
)

// runFlags are ktest's own flags of the run form: long flags (--name), first
// or among the go test arguments up to -- or -args (docs/spec.md §1, issue 10).
type runFlags struct {
	set  *flag.FlagSet
	opts runner.Options
	help bool
	// fetch is --fetch: fetch a --kernel version that is not cached first.
	fetch bool
	// expect describes each flag's value for error messages.
	expect map[string]string
	// vm is --vm with its --vm-* settings; opts.VM is set from it once
	// every flag is parsed.
	vm   runner.VMOptions
	vmOn bool
}

func newRunFlags() *runFlags {
	f := &runFlags{set: flag.NewFlagSet("ktest", flag.ContinueOnError), expect: map[string]string{}}
	f.set.SetOutput(io.Discard)
	f.set.Var(&kernelList{p: &f.opts.Kernels}, "kernel", "use kernel `ID`: an image path, a version (6.1, 6.12-rc3) or a cache key; repeat it to run the packages once per kernel, in order")
	f.expect["kernel"] = "a path, a version or a cache key"
	f.set.DurationVar(&f.opts.LockTimeout, "lock-timeout", cache.DefaultReadLockTimeout, "wait at most `DUR` for the kernel's cache lock, then SKIP as contention")
	f.expect["lock-timeout"] = "a duration such as 10s, 1m or 0"
	f.set.Var(enumValue{p: &f.opts.OnNoKVM, allowed: preflight.OnNoKVMPolicies}, "on-no-kvm", "on an absent or forbidden /dev/kvm, `fail|skip|tcg`: exit 3, SKIP as no-kvm, or boot guests under TCG (default $KTEST_ON_NO_KVM, else fail)")
	f.expect["on-no-kvm"] = "fail, skip or tcg"
	f.opts.OnNoKVM = preflight.OnNoKVMFail
	f.set.StringVar(&f.opts.SidecarDir, "sidecar-dir", "", "write run and skip sidecars under `DIR` (default .ktest/runs in the module root)")
	f.expect["sidecar-dir"] = "a directory path"
	f.set.Var(shardValue{&f.opts.Shard}, "shard", "run only shard `K/N` of the packages (1 ≤ K ≤ N)")
	f.expect["shard"] = fmt.Sprintf("K/N with 1 ≤ K ≤ N ≤ %d, e.g. 2/4", runner.MaxShards)
	f.set.Var(enumValue{p: &f.opts.ShardBy, allowed: []string{runner.ShardByHash, runner.ShardByTime}}, "shard-by", "split shards by `hash|time`: import path hash (stable, default) or past package durations")
	f.expect["shard-by"] = "hash or time"
	f.set.Var(percentValue{&f.opts.MaxSkipRate}, "max-skip-rate", "exit 4 when more than `PCT` percent of tests skipped")
	f.expect["max-skip-rate"] = "a percentage from 0 to 100, e.g. 10 or 12.5%"
	f.set.Var(exitCodeValue{&f.opts.SkipExitCode}, "skip-exit-code", "exit with `N` when every test skipped")
	f.expect["skip-exit-code"] = "an exit status from 0 to 125"
	f.set.Var(formatValue{&f.opts.Format}, "format", "gotestsum output format `NAME` (default: like plain go test)")
	f.expect["format"] = "one of " + strings.Join(runner.FormatNames, ", ")
	f.set.StringVar(&f.opts.JUnitFile, "junitfile", "", "write a JUnit XML report to `PATH`")
	f.expect["junitfile"] = "a file path"
	f.set.StringVar(&f.opts.JSONFile, "jsonfile", "", "write the raw go test -json events to `PATH`")
	f.expect["jsonfile"] = "a file path"
	f.set.DurationVar(&f.opts.GracePeriod, "grace-period", runner.DefaultGracePeriod, "after SIGINT, SIGTERM or SIGHUP, wait `DUR` for go test before killing it")
	f.expect["grace-period"] = "a duration such as 10s or 1m"
	f.set.BoolVar(&f.opts.DryRun, "dry-run", false, "print the go command and the environment ktest would add; run nothing")
	f.expect["dry-run"] = "true or false"
	f.set.BoolVar(&f.fetch, "fetch", false, "fetch a --kernel version that is not cached first, as ktest kernel fetch does (also KTEST_FETCH=1)")
	f.expect["fetch"] = "true or false"
	f.set.BoolVar(&f.vmOn, "vm", false, "run each test binary inside the kernel, booted under QEMU (go test -exec 'ktest vm-exec'); see --vm-*")
	f.expect["vm"] = "true or false"
	f.set.Var(vmCPUsValue{&f.vm.CPUs}, "vm-cpus", "with --vm, give each guest `N` virtual CPUs (default the module's .ktest.toml, else 2)")
	f.expect["vm-cpus"] = fmt.Sprintf("a number of vCPUs from 1 to %d", vmconfig.MaxCPUs)
	f.set.Var(memoryValue{&f.vm.MemoryMB}, "vm-memory", "with --vm, give each guest `SIZE` of memory as QEMU's -m reads it: MiB (512), or 512M, 2G (default the module's .ktest.toml, else 1G)")
	f.expect["vm-memory"] = fmt.Sprintf("a size from %d MiB to %d GiB: a number of MiB (512) or with a unit K, M, G or T (512M, 2G)", vmconfig.MinMemoryMB, vmconfig.MaxMemoryMB>>10)
	f.set.Var(countValue{p: &f.vm.Jobs, min: 1, max: runner.MaxVMJobs}, "vm-jobs", "with --vm, boot at most `N` guests of this run at once (default go test's -p)")
	f.expect["vm-jobs"] = fmt.Sprintf("a number of guests from 1 to %d", runner.MaxVMJobs)
	f.set.BoolVar(&f.help, "help", false, "print this help")
	return f
}

// parse splits args into ktest flags and go test arguments. ktest's flags
// are long flags (--name); the first argument that is not one starts the go
// test arguments, which are kept verbatim and in order. ktest's own --flags
// are still recognised among the go test arguments, up to an explicit -- or
// -args (issue 10: `ktest -count=1 --jsonfile out.json ./...`); the value of
// a go flag written as a separate argument (`-run --kernel`) is go's. A
// leading -- hands everything after it to go.
func (f *runFlags) parse(args []string) error {
	goStarted := false
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case !goStarted && arg == "--":
			f.opts.GoArgs = append(f.opts.GoArgs, args[i+1:]...)
			return f.check()
		case !goStarted && (arg == "-h" || arg == "-help"):
			f.help = true
			continue
		case !goStarted && !strings.HasPrefix(arg, "--"):
			if name := strings.TrimPrefix(arg, "-"); strings.HasPrefix(arg, "-") && f.set.Lookup(flagNameOf(name)) != nil && flagNameOf(name) != "help" {
				return fmt.Errorf("%s: ktest flags take two dashes: use -%s (one-dash flags belong to go test)", arg, arg)
			}
			goStarted = true
		case goStarted && !f.isOwn(arg):
		default:
			var err error
			if i, err = f.parseOwn(args, i); err != nil {
				return err
			}
			continue
		}
		// A go test argument.
		if arg == "--" || arg == "-args" || arg == "--args" {
			f.opts.GoArgs = append(f.opts.GoArgs, args[i:]...)
			return f.check()
		}
		f.opts.GoArgs = append(f.opts.GoArgs, arg)
		if runner.TakesSeparateValue(arg) && i+1 < len(args) {
			i++
			f.opts.GoArgs = append(f.opts.GoArgs, args[i])
		}
	}
	return f.check()
}

// isOwn reports whether arg, met among the go test arguments, is one of
// ktest's flags: --name or --name=value with a ktest flag's name. No go test
// or go build flag shares a name with one (docs/spec.md §1).
func (f *runFlags) isOwn(arg string) bool {
	if !strings.HasPrefix(arg, "--") || arg == "--" {
		return false
	}
	return f.set.Lookup(flagNameOf(arg[2:])) != nil
}

// parseOwn parses the ktest flag args[i] (with its value, which may be the
// next argument) and returns the index of the last argument it used.
func (f *runFlags) parseOwn(args []string, i int) (int, error) {
	arg := args[i]
	name, value, hasValue := strings.Cut(arg[2:], "=")
	fl := f.set.Lookup(name)
	if fl == nil {
		return i, f.unknown(arg, name)
	}
	if !hasValue {
		if isBool(fl) {
			value = "true"
		} else if i+1 < len(args) {
			i++
			value = args[i]
		} else {
			return i, fmt.Errorf("--%s needs a value: %s", name, f.expect[name])
		}
	}
	if err := f.set.Set(name, value); err != nil {
		msg := fmt.Sprintf("invalid value %s for --%s: want %s", termtext.Quote(value), name, f.expect[name])
		if name == "format" {
			if s := closest(value, runner.FormatNames); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
		}
		return i, errors.New(msg)
	}
	return i, nil
}

func flagNameOf(s string) string {
	name, _, _ := strings.Cut(s, "=")
	return name
}

func isBool(fl *flag.Flag) bool {
	b, ok := fl.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// unknown explains a --flag that ktest does not know. It is never passed to
// go silently: a typo of a ktest flag would otherwise change what runs.
func (f *runFlags) unknown(arg, name string) error {
	var names []string
	f.set.VisitAll(func(fl *flag.Flag) { names = append(names, fl.Name) })
	sort.Strings(names)
	msg := fmt.Sprintf("unknown ktest flag %s", echo(arg))
	if s := closest(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean --%s?", s)
	} else {
		msg += fmt.Sprintf("; go test flags take one dash (-%s) or go after --; see ktest --help", echo(name))
	}
	return errors.New(msg)
}

// enumValue accepts one of a fixed set of words.
type enumValue struct {
	p       *string
	allowed []string
}

func (v enumValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v enumValue) Set(s string) error {
	for _, a := range v.allowed {
		if s == a {
			*v.p = s
			return nil
		}
	}
	return fmt.Errorf("want one of %s", strings.Join(v.allowed, ", "))
}

// given reports whether the flag was on the command line.
func (f *runFlags) given(name string) bool {
	found := false
	f.set.Visit(func(fl *flag.Flag) { found = found || fl.Name == name })
	return found
}

// check validates combinations once every flag is parsed.
func (f *runFlags) check() error {
	if slices.Contains(f.opts.Kernels, "") {
		return errEmptyKernel
	}
	if f.opts.LockTimeout < 0 {
		return fmt.Errorf("invalid value %s for --lock-timeout: want %s", f.opts.LockTimeout, f.expect["lock-timeout"])
	}
	if f.opts.GracePeriod < 0 {
		return fmt.Errorf("invalid value %s for --grace-period: want %s", f.opts.GracePeriod, f.expect["grace-period"])
	}
	if f.opts.ShardBy != "" && f.opts.Shard.N == 0 {
		return errors.New("--shard-by needs --shard K/N")
	}
	for _, name := range []string{"vm-cpus", "vm-memory", "vm-jobs"} {
		if f.given(name) && !f.vmOn {
			return fmt.Errorf("--%s needs --vm (it sizes the guests --vm boots)", name)
		}
	}
	if f.vmOn {
		vm := f.vm
		f.opts.VM = &vm
	}
	return nil
}

// countValue parses a whole number within [min, max].
type countValue struct {
	p        *int
	min, max int
}

func (v countValue) String() string {
	if v.p == nil || *v.p == 0 {
		return ""
	}
	return strconv.Itoa(*v.p)
}

func (v countValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < v.min || n > v.max {
		return fmt.Errorf("not a number from %d to %d", v.min, v.max)
	}
	*v.p = n
	return nil
}

// vmCPUsValue parses --vm-cpus as .ktest.toml's cpus is parsed.
type vmCPUsValue struct{ p *int }

func (v vmCPUsValue) String() string {
	if v.p == nil || *v.p == 0 {
		return ""
	}
	return strconv.Itoa(*v.p)
}

func (v vmCPUsValue) Set(s string) error {
	n, err := vmconfig.ParseCPUs(s)
	if err != nil {
		return err
	}
	*v.p = n
	return nil
}

// memoryValue parses --vm-memory into MiB as .ktest.toml's memory is
// parsed: QEMU's -m syntax, a bare number meaning MiB.
type memoryValue struct{ p *int }

func (v memoryValue) String() string {
	if v.p == nil || *v.p == 0 {
		return ""
	}
	return fmt.Sprintf("%dM", *v.p)
}

func (v memoryValue) Set(s string) error {
	mb, err := vmconfig.ParseMemory(s)
	if err != nil {
		return err
	}
	*v.p = int(mb)
	return nil
}

// kernelList is the repeatable --kernel: each occurrence adds a kernel,
// and the run makes one pass per kernel in this order (docs/spec.md §14).
type kernelList struct{ p *[]string }

func (v *kernelList) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (v *kernelList) Set(s string) error {
	*v.p = append(*v.p, s)
	return nil
}

// shardValue parses --shard K/N.
type shardValue struct{ p *runner.Shard }

func (v shardValue) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}

func (v shardValue) Set(s string) error {
	sh, err := runner.ParseShard(s)
	if err != nil {
		return err
	}
	*v.p = sh
	return nil
}

// percentValue parses a percentage, with or without a % sign.
type percentValue struct{ p **float64 }

func (v percentValue) String() string {
	if v.p == nil || *v.p == nil {
		return ""
	}
	return strconv.FormatFloat(**v.p, 'g', -1, 64)
}

func (v percentValue) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || f < 0 || f > 100 || f != f {
		return fmt.Errorf("not a percentage from 0 to 100")
	}
	*v.p = &f
	return nil
}

// exitCodeValue parses an exit status ktest may use for a policy.
type exitCodeValue struct{ p **int }

func (v exitCodeValue) String() string {
	if v.p == nil || *v.p == nil {
		return ""
	}
	return strconv.Itoa(**v.p)
}

func (v exitCodeValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 125 {
		return fmt.Errorf("not an exit status from 0 to 125")
	}
	*v.p = &n
	return nil
}

// formatValue validates --format against the names gotestsum knows.
type formatValue struct{ p *string }

func (v formatValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v formatValue) Set(s string) error {
	if !runner.ValidFormat(s) {
		return fmt.Errorf("unknown format %q", s)
	}
	*v.p = s
	return nil
}
