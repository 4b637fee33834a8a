package runner

import (
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/skipreport"
)

// runFacts are run.json fields that cost a process to learn. They are
// gathered while the tests run, off the critical path.
type runFacts struct {
	done          chan struct{}
	projectCommit string
	goVersion     string
}

func gatherRunFacts(opts Options) *runFacts {
	f := &runFacts{done: make(chan struct{})}
	go func() {
		defer close(f.done)
		f.projectCommit = commandLine(opts, "git", "rev-parse", "HEAD")
		f.goVersion = goVersionOf(opts)
	}()
	return f
}

// kernelDigest is a kernel image's sha256 for run.json, taken while its
// pass runs.
type kernelDigest struct {
	done chan struct{}
	sum  string
}

func digestKernel(k *preflight.Kernel) *kernelDigest {
	d := &kernelDigest{done: make(chan struct{})}
	go func() {
		defer close(d.done)
		if k != nil {
			d.sum = kernelSHA256(k)
		}
	}()
	return d
}

// value waits for the digest; "" on a nil digest.
func (d *kernelDigest) value() string {
	if d == nil {
		return ""
	}
	<-d.done
	return d.sum
}

// kernelSHA256 takes the hash ktest recorded when it stored the entry, and
// hashes the image otherwise.
func kernelSHA256(k *preflight.Kernel) string {
	if k.Entry != nil && k.Entry.Metadata != nil {
		if sum, ok := k.Entry.Metadata.ExtraString("sha256"); ok && sum != "" {
			return sum
		}
	}
	f, err := os.Open(k.Path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

func goVersionOf(opts Options) string {
	_, v, _ := GoVersion(opts.Env)
	return v
}

// GoVersion finds the go command for env (KTEST_GO, else PATH) and reads its
// version from its build info (the go command is built by its own
// toolchain), without running it: running the user's go again could have
// side effects, and could hang.
func GoVersion(env []string) (path, version string, err error) {
	path, err = lookupGo(env)
	if err != nil {
		return "", "", err
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return path, "", fmt.Errorf("read go version from %s: %w", path, err)
	}
	return path, info.GoVersion, nil
}

// commandLine runs a short command in the run's directory and returns its
// first output line, or "" when it fails.
func commandLine(opts Options, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = opts.Dir, opts.Env
	cmd.WaitDelay = time.Second // a straggler holding stdout must not hang the run
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

func kernelRecord(k *preflight.Kernel, sum string) *skipreport.KernelRecord {
	if k == nil {
		return nil
	}
	rec := &skipreport.KernelRecord{Path: k.Path, Version: k.Image.Release, SHA256: sum, Source: k.Source}
	if k.Entry != nil {
		rec.CacheKey = k.Entry.Key
	}
	return rec
}

// runSource is "ci" when KTSTR_CI or CI is non-empty, else "local".
func runSource(opts Options) string {
	if opts.getenv("KTSTR_CI") != "" || opts.getenv("CI") != "" {
		return "ci"
	}
	return "local"
}

// writeRunRecord writes run.json for a finished run: the run as a whole,
// and each kernel's pass (docs/spec.md §8). A run on one kernel keeps its
// kernel, unavailability and lock at the top level, as ktest.run/v1 had
// them; in a run over several kernels they are each pass's only, and the
// top-level packages add up each package's passes.
func writeRunRecord(dir *skipreport.RunDir, opts Options, res *Result, passes []*kernelPass, vm *vmPlan, facts *runFacts, runErr error) error {
	<-facts.done
	first := passes[0].pre
	rec := skipreport.RunRecord{
		RunID:         dir.ID,
		Start:         res.Started.UTC(),
		End:           res.Started.Add(res.Elapsed).UTC(),
		Argv:          opts.Argv,
		GoTestArgs:    opts.GoArgs,
		ExitCode:      ExitCode(runErr),
		Verdict:       string(res.Verdict),
		Counts:        runCounts(res),
		Host:          first.Host,
		RunSource:     runSource(opts),
		ProjectCommit: facts.projectCommit,
		GoVersion:     facts.goVersion,
		Shard:         opts.Shard.String(),
		Policy:        res.Policy,
		KVM: &skipreport.KVMRecord{
			Device: first.KVM.Device, Status: first.KVM.Status, APIVersion: first.KVM.APIVersion,
			Probe: probeOutcome(first.KVM), Accel: first.KVM.Accel, NsPerIteration: first.KVM.NsPerIteration, Cached: first.KVM.Cached,
		},
	}
	for _, p := range passes {
		rec.Kernels = append(rec.Kernels, passRecord(p))
	}
	rec.VM = vmRecord(vm, passes)
	if len(passes) == 1 {
		p := passes[0]
		if p.pre.Unavailable == nil {
			rec.Kernel = kernelRecord(p.pre.Kernel(), p.digest.value())
		}
		if u := p.pre.Unavailable; u != nil {
			rec.Unavailable = &skipreport.Unavailability{Category: u.Category, Reason: u.Reason, Errno: u.Errno}
		}
		if p.lease != nil {
			rec.Lock = p.lease.record
		}
		rec.Packages = packageRecords(p.res)
	} else {
		rec.Packages = mergePackages(rec.Kernels)
	}
	return dir.WriteRun(rec)
}

func runCounts(res *Result) skipreport.RunCounts {
	return skipreport.RunCounts{
		Passed: res.Counts.Passed, Failed: res.Counts.Failed, Skipped: res.Counts.Skipped,
		SkippedByCategory: res.SkipCategories,
	}
}

// passRecord is a pass's entry in run.json's kernels.
func passRecord(p *kernelPass) skipreport.KernelPass {
	k := p.pre.Kernel()
	if k == nil {
		k = p.resolved
	}
	rec := skipreport.KernelPass{ID: p.id, Label: p.label, Kernel: kernelRecord(k, p.digest.value()), Verdict: skipreport.VerdictNotRun}
	if p.vm != nil {
		rec.Transport = p.vm.Transport
	}
	if u := p.pre.Unavailable; u != nil && p.ran() {
		rec.Unavailable = &skipreport.Unavailability{Category: u.Category, Reason: u.Reason, Errno: u.Errno}
	}
	if p.lease != nil {
		rec.Lock = p.lease.record
	}
	if r := p.res; r != nil {
		rec.Verdict, rec.GoExitCode = string(r.Verdict), r.GoExit
		rec.Start, rec.ElapsedMS = p.started.UTC(), p.elapsed.Milliseconds()
		rec.Counts = runCounts(r)
		rec.Packages = packageRecords(r)
	}
	return rec
}

// mergePackages adds up each package over the passes, in the order
// packages first appear: its time (what --shard-by time balances: a shard
// runs every kernel's pass) and its counts. A package failed when it failed
// on any kernel, passed when it passed on any other, else took the result
// its passes share.
func mergePackages(passes []skipreport.KernelPass) []skipreport.PackageRecord {
	var out []skipreport.PackageRecord
	at := map[string]int{}
	for _, p := range passes {
		for _, pkg := range p.Packages {
			i, ok := at[pkg.Name]
			if !ok {
				at[pkg.Name] = len(out)
				out = append(out, pkg)
				continue
			}
			m := &out[i]
			m.ElapsedMS += pkg.ElapsedMS
			m.Tests += pkg.Tests
			m.Passed += pkg.Passed
			m.Failed += pkg.Failed
			m.Skipped += pkg.Skipped
			switch {
			case m.Result == "fail" || pkg.Result == "fail":
				m.Result = "fail"
			case m.Result == "pass" || pkg.Result == "pass":
				m.Result = "pass"
			}
		}
	}
	return out
}

func probeOutcome(r preflight.KVMReport) string {
	switch {
	case r.HLTProbePassed:
		return "ok"
	case r.APIVersion == 0:
		return "skipped"
	}
	return "failed"
}

func packageRecords(res *Result) []skipreport.PackageRecord {
	if res == nil || res.exec == nil {
		return nil
	}
	var out []skipreport.PackageRecord
	for _, name := range res.exec.Packages() {
		if name == "" {
			continue // build output, which testjson files under no package
		}
		p := res.exec.Package(name)
		out = append(out, skipreport.PackageRecord{
			Name: name, Result: string(p.Result()), ElapsedMS: p.Elapsed().Milliseconds(),
			Tests:  len(p.Passed) + len(p.Failed) + len(p.Skipped),
			Passed: len(p.Passed), Failed: len(p.Failed), Skipped: len(p.Skipped),
		})
	}
	return out
}
