package runner

import (
	"fmt"
	"sort"
	"strings"

	"gotest.tools/gotestsum/testjson"

	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/skipreport"
	"github.com/ktest-dev/ktest/internal/termtext"
)

// reportUnavailable prints the run-level SKIP banner (docs/spec.md §6) and writes
// its skip sidecar (when there is a run directory). The run goes on: tests that need no kernel still run.
func reportUnavailable(opts Options, pre *preflight.Report, runDir *skipreport.RunDir) {
	u := pre.Unavailable
	fmt.Fprintln(opts.Stderr, skipreport.Banner(u.Category, u.Reason, u.Hints...))
	if runDir == nil {
		return
	}
	rec := skipreport.SkipRecord{
		RunID:     runDir.ID,
		Category:  u.Category,
		Reason:    u.Reason,
		Errno:     u.Errno,
		Host:      pre.Host,
		Kernel:    kernelRecord(pre.Kernel(), ""),
		Holders:   u.Holders,
		RunSource: runSource(opts),
	}
	if _, err := skipreport.WriteSkip(runDir.Path, rec); err != nil {
		fmt.Fprintf(opts.Stderr, "ktest: warning: %v\n", err)
	}
}

// printDryRun shows what a run would do: the kernel and why, the
// environment ktest would add, and the go command. Nothing is locked,
// created or run.
func printDryRun(opts Options, pass *kernelPass, vm *vmPlan, cmd goCommand, shardPkgs []string, shardBy string) {
	w, pre := opts.Stdout, pass.pre
	if opts.Shard.N > 0 {
		fmt.Fprintf(w, "shard %s (by %s): %d packages\n", opts.Shard, shardBy, len(shardPkgs))
		for _, p := range shardPkgs {
			fmt.Fprintf(w, "  %s\n", termtext.Line(p))
		}
	}
	if k := pre.Kernel(); k != nil {
		// The version is read from the image, and KTEST_UNAVAILABLE may
		// quote lock holders' command lines: made safe for the terminal.
		fmt.Fprintf(w, "kernel: %s (from %s, version %s)\n", termtext.Line(k.Path), k.Source, termtext.Line(orUnknown(k.Image.Release)))
	} else {
		fmt.Fprintln(w, "kernel: none")
	}
	fmt.Fprintf(w, "kvm: %s\n", termtext.Line(pre.KVM.Status))
	if u := pre.Unavailable; u != nil {
		fmt.Fprintln(w, skipreport.Banner(u.Category, u.Reason, u.Hints...))
	}
	base := opts.sidecarBase()
	set, unset := exportedEnv(pre, base+"/<run id>", "<run id>")
	if pass.vm != nil {
		fmt.Fprintln(w, vm.vmLine(pass))
		set = append(set, pass.vmEnv()...)
	}
	fmt.Fprintln(w, "env:")
	for _, kv := range set {
		fmt.Fprintf(w, "  %s\n", termtext.Line(kv))
	}
	for _, k := range unset {
		fmt.Fprintf(w, "  unset %s\n", k)
	}
	fmt.Fprintf(w, "command: %s\n", termtext.Line(cmd.String()))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// skipCategories counts skipped tests by the SKIP banner in their output.
func skipCategories(exec *testjson.Execution) map[string]int {
	counts := map[string]int{}
	if exec == nil {
		return counts
	}
	for _, name := range exec.Packages() {
		pkg := exec.Package(name)
		for _, tc := range pkg.Skipped {
			cat := "other"
			for _, line := range pkg.OutputLines(tc) {
				if c, _, ok := skipreport.ParseBannerLine(line); ok {
					cat = string(c)
					break
				}
			}
			counts[cat]++
		}
	}
	return counts
}

// formatSkipCategories renders "2 no-kernel, 1 other", known categories
// first in their fixed order.
func formatSkipCategories(counts map[string]int) string {
	var parts []string
	done := map[string]bool{}
	for _, c := range skipreport.Categories {
		if n := counts[string(c)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, c))
		}
		done[string(c)] = true
	}
	var rest []string
	for c := range counts {
		if !done[c] && counts[c] > 0 {
			rest = append(rest, c)
		}
	}
	sort.Strings(rest)
	for _, c := range rest {
		parts = append(parts, fmt.Sprintf("%d %s", counts[c], c))
	}
	return strings.Join(parts, ", ")
}
