package runner

import (
	"fmt"
	"strings"
	"time"

	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/termtext"
	"github.com/ktest-dev/ktest/internal/vmenv"
)

// kernelPass is one kernel's run of the packages (docs/spec.md §14). A run
// on one kernel (or on the kernel resolution finds) is a single pass; with
// --kernel repeated there is one pass per kernel, run in the order given,
// each holding only its own kernel's cache lock and exporting only its own
// kernel.
type kernelPass struct {
	// id is the --kernel ID as given; "" when the kernel was resolved
	// without one.
	id string
	// label names the kernel in a run over several kernels: in the
	// console header, the JUnit suite names, the --jsonfile events and
	// run.json. It is the kernel's release, made unique within the run.
	// "" in a run on one kernel, whose output carries no label.
	label string
	pre   *preflight.Report
	// resolved is the kernel resolution found at the run's start; the
	// pass's records keep it when its entry is gone by the pass's turn.
	resolved *preflight.Kernel

	// vm is the pass's guest configuration under --vm, else nil.
	vm *vmenv.Config

	lease   *kernelLease
	digest  *kernelDigest
	sink    *eventSink
	res     *Result // nil when the pass never started
	started time.Time
	elapsed time.Duration
}

// newPasses pairs the --kernel IDs with their preflight reports. Labels are
// given only when there are several passes.
func newPasses(ids []string, reports []*preflight.Report) []*kernelPass {
	passes := make([]*kernelPass, len(reports))
	for i, pre := range reports {
		p := &kernelPass{pre: pre, resolved: pre.Kernel()}
		if i < len(ids) {
			p.id = ids[i]
		}
		passes[i] = p
	}
	if len(passes) < 2 {
		return passes
	}
	count := map[string]int{}
	for _, p := range passes {
		p.label = kernelLabel(p.resolved, p.id)
		count[p.label]++
	}
	for _, p := range passes {
		if count[p.label] > 1 {
			// Two images with one release (a build tree and a cache
			// entry of it): the ID tells them apart.
			p.label += " (" + p.id + ")"
		}
	}
	return passes
}

// kernelLabel is what a run over several kernels calls a kernel: its
// release (as `uname -r` says it), else the version its cache entry
// records, else its cache key, else the ID it was given.
func kernelLabel(k *preflight.Kernel, id string) string {
	if k == nil {
		return id
	}
	if r := k.Image.Release; r != "" {
		return r
	}
	if k.Entry != nil {
		if m := k.Entry.Metadata; m != nil && m.Version != nil && *m.Version != "" {
			return *m.Version
		}
		return k.Entry.Key
	}
	return id
}

// name is how the summary line names the pass's kernel: the ID as the user
// gave it.
func (p *kernelPass) name() string {
	if p.id != "" {
		return termtext.Line(p.id)
	}
	return termtext.Line(p.label)
}

// header is the line that starts the pass's output in a run over several
// kernels: `=== kernel 6.1 (6.1.0-50-cloud-amd64, /root/.cache/...)`, and
// what the tests get instead when the kernel is unavailable.
func (p *kernelPass) header() string {
	k := p.pre.Kernel()
	if k == nil {
		k = p.resolved
	}
	line := "=== kernel " + p.name()
	if k != nil {
		line += fmt.Sprintf(" (%s, %s)", termtext.Line(orUnknown(k.Image.Release)), termtext.Line(k.Path))
	}
	if u := p.pre.Unavailable; u != nil {
		line += fmt.Sprintf(": SKIP %s (the tests run without a kernel)", u.Category)
	}
	return line
}

// resolveAgain is the resolution lockKernel repeats when the pass's cache
// entry changed before its lock was held. In a run over several kernels an
// entry removed (or replaced by something unusable) after the run started
// is that pass's no-kernel SKIP: the other kernels' passes have run, or
// will. A run on one kernel keeps its hard error (docs/spec.md §5).
func (p *kernelPass) resolveAgain(opts Options, multi bool) func() (preflight.Resolution, error) {
	return func() (preflight.Resolution, error) {
		res, err := preflight.ResolveKernel(opts.resolveOptions(p.id))
		if err != nil && multi {
			return res, &preflight.KernelUnavailableError{
				Reason: fmt.Sprintf("kernel %s was resolved when the run started, but its cache entry changed before its pass and it no longer resolves: %v", p.id, err),
				Hints:  append(hint.Of(err), "ktest kernel list shows what is cached now"),
			}
		}
		return res, err
	}
}

// kernelPath is the pass's kernel image, also when its tests do not get
// it; "" when nothing was resolved.
func (p *kernelPass) kernelPath() string {
	if k := p.pre.Kernel(); k != nil {
		return k.Path
	}
	if p.resolved != nil {
		return p.resolved.Path
	}
	return ""
}

// ran reports whether the pass got to go test (or to its empty shard).
func (p *kernelPass) ran() bool { return p.res != nil }

// summaryPart renders a pass's part of the summary line: "120 passed,
// 2 failed" (zero failed and skipped counts are left out), with what
// stopped or emptied it.
func (p *kernelPass) summaryPart() string {
	if !p.ran() {
		return p.name() + ": not run"
	}
	c := p.res.Counts
	parts := []string{fmt.Sprintf("%d passed", c.Passed)}
	if c.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", c.Failed))
	}
	if c.Skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped", c.Skipped))
	}
	s := p.name() + ": " + strings.Join(parts, ", ")
	var notes []string
	if u := p.pre.Unavailable; u != nil {
		notes = append(notes, "no kernel: "+string(u.Category))
	}
	switch {
	case p.res.Signal != nil:
		notes = append(notes, "interrupted")
	case p.res.GoExit != 0 && c.Failed == 0:
		// A build or TestMain failure: no failed test says which
		// kernel's pass failed.
		notes = append(notes, fmt.Sprintf("go exit %d", p.res.GoExit))
	}
	if len(notes) > 0 {
		s += " [" + strings.Join(notes, "; ") + "]"
	}
	return s
}

// multiSummaryLine is the summary of a run over several kernels:
// `ktest: FAIL  6.1: 120 passed, 2 failed; 6.12: 122 passed in 8.2s (...)`.
func multiSummaryLine(v Verdict, passes []*kernelPass, elapsed time.Duration, extras []string) string {
	parts := make([]string, len(passes))
	for i, p := range passes {
		parts[i] = p.summaryPart()
	}
	line := fmt.Sprintf("ktest: %s  %s in %s", v, strings.Join(parts, "; "), formatElapsed(elapsed))
	if len(extras) > 0 {
		line += " (" + strings.Join(extras, "; ") + ")"
	}
	return line
}

// combine is the result of the whole run from its passes' (docs/spec.md
// §2): counts and skip categories add up; go's exit status is the first
// failing pass's; the signal is the one that stopped the run.
func combine(passes []*kernelPass) *Result {
	if len(passes) == 1 && passes[0].res != nil {
		return passes[0].res
	}
	res := &Result{SkipCategories: map[string]int{}}
	for _, p := range passes {
		r := p.res
		if r == nil {
			continue
		}
		res.Counts.Passed += r.Counts.Passed
		res.Counts.Failed += r.Counts.Failed
		res.Counts.Skipped += r.Counts.Skipped
		res.Counts.PackagesFailed += r.Counts.PackagesFailed
		if res.GoExit == 0 {
			res.GoExit = r.GoExit
		}
		if res.Signal == nil {
			res.Signal = r.Signal
		}
		for _, name := range r.Unfinish {
			res.Unfinish = append(res.Unfinish, p.name()+": "+name)
		}
		for _, name := range r.BootFailures {
			res.BootFailures = append(res.BootFailures, p.name()+": "+name)
		}
		for c, n := range r.SkipCategories {
			res.SkipCategories[c] += n
		}
	}
	res.Verdict = verdictOf(res.Counts, res.GoExit, res.Signal != nil)
	return res
}

// printDryRunPasses is --dry-run: printDryRun for a run on one kernel; for
// several, each kernel's pass under its header, with the environment that
// pass would export, the shard's packages listed once.
func printDryRunPasses(opts Options, passes []*kernelPass, vm *vmPlan, cmd goCommand, shardPkgs []string, shardBy string) {
	if len(passes) == 1 {
		printDryRun(opts, passes[0], vm, cmd, shardPkgs, shardBy)
		return
	}
	fmt.Fprintf(opts.Stdout, "%d kernels, one pass each, in this order:\n", len(passes))
	for i, p := range passes {
		passOpts := opts
		if i > 0 {
			passOpts.Shard = Shard{} // listed with the first pass
		}
		fmt.Fprintln(opts.Stdout, p.header())
		printDryRun(passOpts, p, vm, cmd, shardPkgs, shardBy)
	}
}
