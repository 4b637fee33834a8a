package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/runner"
	"github.com/ktest-dev/ktest/internal/skipreport"
	"github.com/ktest-dev/ktest/internal/termtext"
)

const doctorUsage = `usage: ktest doctor [--json] [--kernel ID] [--on-no-kvm fail|skip|tcg]

Runs every check a test run would make, without running tests, and says
what a run would do: KVM (with the probe's figures and the acceleration),
which kernel would be used and why (each place tried), the kernel cache with
its entries and lock holders, and the go and QEMU versions.

The verdict is the run's: "a run would work"; "a run would work, but skip
the tests that need a kernel (CATEGORY: reason)" when, as in a run, no
kernel was found (no-kernel), KVM is absent under --on-no-kvm skip
(no-kvm) or the host is busy (contention), each a WARN check; or "a run
would fail" for what makes a run exit 3 (a FAIL check: no KVM without
--on-no-kvm skip or tcg, a kernel given that does not resolve, no go). Exits 0
when a run would work, skips included, and 3 when a run would exit 3.
--json has the verdict as "would": "run", "skip" (with "skip_category")
or "fail".

Examples:
  ktest doctor
  ktest doctor --kernel 6.1
  ktest doctor --json | jq .checks

`

// doctorReport is `ktest doctor --json`.
type doctorReport struct {
	OK bool `json:"ok"`
	// Would is what a run would do: "run", "skip" (the tests that need a
	// kernel skip, as SkipCategory says) or "fail" (exit 3).
	Would        string            `json:"would"`
	SkipCategory string            `json:"skip_category,omitempty"`
	Checks       []doctorCheck     `json:"checks"`
	Preflight    *preflight.Report `json:"preflight"`
	Error        string            `json:"error,omitempty"`
	CacheRoot    string            `json:"cache_root"`
	CacheError   string            `json:"cache_error,omitempty"`
	Entries      []cache.Entry     `json:"cache_entries"`
	Locks        []cache.LockInfo  `json:"locks"`
	Debris       []cache.Debris    `json:"cache_debris"`
	Go           toolVersion       `json:"go"`
	QEMU         toolVersion       `json:"qemu"`
}

// doctorCheck is one line of the verdict: status is ok, warn or fail.
type doctorCheck struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

type toolVersion struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	Error   string `json:"error,omitempty"`
}

func runDoctor(ctx context.Context, args []string, stdio IO) error {
	set := flag.NewFlagSet("doctor", flag.ContinueOnError)
	set.SetOutput(io.Discard)
	asJSON := set.Bool("json", false, "")
	var kernels []string
	set.Var(&kernelList{p: &kernels}, "kernel", "")
	onNoKVM := set.String("on-no-kvm", preflight.OnNoKVMFail, "")
	help := set.Bool("help", false, "")
	set.BoolVar(help, "h", false, "")
	if err := set.Parse(args); err != nil {
		return fmt.Errorf("ktest doctor: %v; see ktest doctor --help", err)
	}
	if *help {
		_, err := io.WriteString(stdio.Stdout, doctorUsage+exitCodeTable)
		return err
	}
	if set.NArg() > 0 {
		return fmt.Errorf("ktest doctor takes no arguments, got %s", termtext.Quote(set.Arg(0)))
	}
	if slices.Contains(kernels, "") {
		return errEmptyKernel
	}
	if len(kernels) > 1 {
		// A run takes --kernel repeated (a pass per kernel); doctor's
		// report is about one kernel.
		return fmt.Errorf("ktest doctor checks one kernel, got %d --kernel flags: run ktest doctor --kernel ID once per kernel", len(kernels))
	}
	kernel := ""
	if len(kernels) == 1 {
		kernel = kernels[0]
	}
	if !preflight.ValidOnNoKVM(*onNoKVM) {
		return fmt.Errorf("invalid value %s for --on-no-kvm: want %s", termtext.Quote(*onNoKVM), strings.Join(preflight.OnNoKVMPolicies, ", "))
	}
	// As in a run, KTEST_ON_NO_KVM is the default policy.
	if v := os.Getenv("KTEST_ON_NO_KVM"); v != "" && !flagGiven(set, "on-no-kvm") {
		if !preflight.ValidOnNoKVM(v) {
			return fmt.Errorf("KTEST_ON_NO_KVM=%s: want %s", termtext.Quote(v), strings.Join(preflight.OnNoKVMPolicies, ", "))
		}
		*onNoKVM = v
	}

	rep := diagnose(ctx, kernel, *onNoKVM)
	if *asJSON {
		enc := json.NewEncoder(stdio.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printDoctor(stdio.Stdout, rep)
	}
	if !rep.OK {
		return errDoctorFailed
	}
	return nil
}

// errDoctorFailed makes doctor exit 3 once its report is printed.
var errDoctorFailed = errors.New("ktest doctor: a test run would exit 3; see the FAIL checks above")

// diagnose runs the checks. It never stops at the first problem.
func diagnose(ctx context.Context, kernelID, onNoKVM string) *doctorReport {
	rep := &doctorReport{}
	pre, err := preflight.Check(ctx, preflight.Options{
		OnNoKVM: onNoKVM,
		KVM:     preflight.KVMOptions{},
		Resolve: preflight.ResolveOptions{ID: kernelID, HostRoot: os.Getenv("KTEST_TEST_HOST_ROOT")},
	})
	rep.Preflight = pre
	if err != nil {
		rep.Error = err.Error()
		for _, h := range hint.Of(err) {
			rep.Error += "\n  hint: " + h
		}
	}
	add := func(name, status, detail string) {
		rep.Checks = append(rep.Checks, doctorCheck{Name: name, Status: status, Detail: detail})
	}

	// KVM.
	switch {
	case pre.KVMError != "" && pre.Unavailable != nil && pre.Unavailable.Category == skipreport.NoKVM:
		add("kvm", "warn", pre.KVMError+" (--on-no-kvm skip: tests that need KVM will skip)")
	case pre.KVMError != "" && onNoKVM == preflight.OnNoKVMTCG:
		// Whatever else keeps the kernel tests from running (no kernel,
		// contention) is its own check below.
		add("kvm", "warn", pre.KVMError+" (--on-no-kvm tcg: guests run under QEMU TCG, KTEST_ACCEL=tcg)")
	case pre.KVMError != "":
		add("kvm", "fail", pre.KVMError)
	case pre.KVM.Accel == preflight.AccelKVM:
		add("kvm", "ok", pre.KVM.Status)
	default:
		add("kvm", "warn", pre.KVM.Status+"; guests run under QEMU TCG (KTEST_ACCEL=tcg)")
	}
	// Kernel.
	switch k := pre.Kernel(); {
	case k != nil:
		add("kernel", "ok", fmt.Sprintf("%s (from %s, version %s)", k.Path, k.Source, orNone(k.Image.Release)))
	case pre.Unavailable != nil && pre.Unavailable.Category == skipreport.NoKernel:
		// A run goes on without a kernel: the tests that need one
		// skip, and it passes. So this warns, as the run would.
		add("kernel", "warn", pre.Unavailable.Reason+" (a run would skip kernel tests: no-kernel)")
	case err != nil:
		add("kernel", "fail", "see the error above")
	}
	if u := pre.Unavailable; u != nil && u.Category == skipreport.Contention {
		add(string(u.Category), "warn", u.Reason+" (a run would skip kernel tests: contention)")
	}

	// Cache.
	root, cerr := cache.RootFromLookupEnv(os.LookupEnv)
	rep.CacheRoot = root
	if cerr == nil {
		var c *cache.Cache
		if c, cerr = cache.OpenReadOnly(root); cerr == nil {
			if rep.Entries, cerr = c.List(); cerr == nil {
				rep.Locks, cerr = c.Locks()
			}
			if cerr == nil {
				rep.Debris, cerr = c.Debris()
			}
		}
	}
	if cerr != nil {
		rep.CacheError = cerr.Error()
		// A run fails on it only when it needs the cache to resolve
		// the kernel; then resolution failed, and the kernel check
		// says so.
		status := "warn"
		if err != nil {
			status = "fail"
		}
		add("cache", status, cerr.Error())
	} else {
		valid := 0
		for _, e := range rep.Entries {
			if e.Valid() {
				valid++
			}
		}
		status := "ok"
		if len(rep.Entries) > valid {
			status = "warn"
		}
		add("cache", status, fmt.Sprintf("%s: %d entries, %d corrupt", root, len(rep.Entries), len(rep.Entries)-valid))
		if len(rep.Debris) > 0 {
			add("cache debris", "warn", fmt.Sprintf("%d leftovers of crashed processes (listed above); ktest kernel clean removes those it can prove unused", len(rep.Debris)))
		}
	}

	// Tools.
	if path, v, err := runner.GoVersion(os.Environ()); err != nil {
		rep.Go = toolVersion{Path: path, Error: err.Error()}
	} else {
		rep.Go = toolVersion{Path: path, Version: v}
	}
	if rep.Go.Error != "" {
		add("go", "fail", rep.Go.Error)
	} else {
		add("go", "ok", rep.Go.Version)
	}
	rep.QEMU = versionOf(ctx, "qemu-system-x86_64", "--version")
	if rep.QEMU.Error != "" {
		add("qemu", "warn", rep.QEMU.Error+"; tests that boot VMs will skip (no-qemu): apt-get install -y qemu-system-x86")
	} else {
		add("qemu", "ok", rep.QEMU.Version)
	}

	rep.OK, rep.Would = true, "run"
	for _, c := range rep.Checks {
		if c.Status == "fail" {
			rep.OK, rep.Would = false, "fail"
		}
	}
	if u := pre.Unavailable; rep.OK && u != nil {
		rep.Would, rep.SkipCategory = "skip", string(u.Category)
	}
	return rep
}

// versionOf runs `name arg` and keeps the first line of its output.
func versionOf(ctx context.Context, name, arg string) toolVersion {
	path, err := exec.LookPath(name)
	if err != nil {
		return toolVersion{Error: fmt.Sprintf("%s not found on PATH", name)}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, arg)
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err != nil {
		return toolVersion{Path: path, Error: fmt.Sprintf("%s %s: %v", path, arg, err)}
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return toolVersion{Path: path, Version: line}
}

func printDoctor(w io.Writer, rep *doctorReport) {
	pre := rep.Preflight
	fmt.Fprintln(w, "KVM")
	fmt.Fprintf(w, "  device:      %s\n", safe(orNone(pre.KVM.Device)))
	if pre.KVMError != "" {
		fmt.Fprintf(w, "  error:       %s\n", safe(pre.KVMError))
	}
	fmt.Fprintf(w, "  api version: %d\n", pre.KVM.APIVersion)
	fmt.Fprintf(w, "  hlt probe:   %v\n", pre.KVM.HLTProbePassed)
	if pre.KVM.ThroughputIterations > 0 {
		fmt.Fprintf(w, "  throughput:  %d iterations in %s = %.0f ns/iteration (hardware ≈1 ns)\n",
			pre.KVM.ThroughputIterations, pre.KVM.ThroughputElapsed.Round(time.Microsecond), pre.KVM.NsPerIteration)
	}
	cached := "measured now"
	if pre.KVM.Cached {
		cached = "from the per-boot cache, measured " + pre.KVM.ProbedAt.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "  accel:       %s (%s)\n", pre.KVM.Accel, cached)
	fmt.Fprintf(w, "  status:      %s\n", safe(pre.KVM.Status))

	fmt.Fprintln(w, "\nKernel resolution (in order)")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range pre.Resolution.Steps {
		fmt.Fprintln(tw, "  "+row(s.Source, s.Candidate, s.Outcome))
	}
	tw.Flush()
	if k := pre.Kernel(); k != nil {
		fmt.Fprintf(w, "  => %s (from %s, version %s)\n", safe(k.Path), k.Source, safe(orNone(k.Image.Release)))
	} else if pre.Unavailable != nil && pre.Unavailable.Category == "no-kernel" {
		fmt.Fprintf(w, "  => none: %s\n", safe(pre.Unavailable.Reason))
		for _, h := range pre.Unavailable.Hints {
			fmt.Fprintf(w, "     hint: %s\n", safe(h))
		}
	}

	fmt.Fprintf(w, "\nKernel cache %s\n", safe(orNone(rep.CacheRoot)))
	if rep.CacheError != "" {
		fmt.Fprintf(w, "  error: %s\n", safe(rep.CacheError))
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range rep.Entries {
		switch {
		case e.Problem != nil:
			fmt.Fprintln(tw, "  "+row(e.Key, "corrupt", string(e.Problem.Kind)+": "+e.Problem.Reason))
		default:
			v := ""
			if e.Metadata.Version != nil {
				v = *e.Metadata.Version
			}
			fmt.Fprintln(tw, "  "+row(e.Key, orNone(v), e.Metadata.Arch, "built "+e.Metadata.BuiltAt))
		}
	}
	tw.Flush()
	if len(rep.Entries) == 0 && rep.CacheError == "" {
		fmt.Fprintln(w, "  (no entries)")
	}
	for _, l := range rep.Locks {
		if l.Kind != cache.LockKindLockfile {
			continue
		}
		for _, h := range l.Holders {
			fmt.Fprintf(w, "  lock %s held by pid %d (%s): %s\n", safe(l.Key), h.PID, safe(h.Mode), safe(h.Cmdline))
		}
	}
	for _, d := range rep.Debris {
		fmt.Fprintf(w, "  debris %s (%s): %s\n", safe(d.Path), d.Kind, safe(d.Reason))
	}

	fmt.Fprintln(w, "\nTools")
	fmt.Fprintf(w, "  go:   %s\n", toolLine(rep.Go))
	fmt.Fprintf(w, "  qemu: %s\n", toolLine(rep.QEMU))

	if rep.Error != "" {
		fmt.Fprintf(w, "\nError\n  %s\n", strings.ReplaceAll(termtext.Lines(rep.Error), "\n", "\n  "))
	}
	fmt.Fprintln(w, "\nChecks")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range rep.Checks {
		fmt.Fprintln(tw, "  "+row(strings.ToUpper(c.Status), c.Name, c.Detail))
	}
	tw.Flush()
	switch rep.Would {
	case "run":
		fmt.Fprintln(w, "\nA test run would work.")
	case "skip":
		fmt.Fprintf(w, "\nA test run would work, but skip the tests that need a kernel (%s: %s); see the WARN checks above.\n",
			rep.SkipCategory, safe(pre.Unavailable.Reason))
	default:
		fmt.Fprintln(w, "\nA test run would fail (exit 3): fix the FAIL checks above.")
	}
}

func toolLine(t toolVersion) string {
	if t.Error != "" {
		return safe(t.Error)
	}
	return safe(t.Version + " (" + t.Path + ")")
}

// safe makes a value read from files or other programs safe for one
// terminal line (see termtext.Line).
func safe(s string) string { return termtext.Line(s) }

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
