package runner

import (
	"context"
	"fmt"

	"github.com/ktest-dev/ktest/internal/skipreport"
)

// applyPolicy checks the skip policy (docs/spec.md §2: exit 4) against a finished
// run, records it in res.Policy, and returns the *PolicyError to exit with,
// if it fired. It never overrides a go failure or an interrupt: those are
// decided first by the caller.
func (res *Result) applyPolicy(opts Options) error {
	if opts.MaxSkipRate == nil && opts.SkipExitCode == nil {
		return nil
	}
	c := res.Counts
	total := c.Passed + c.Failed + c.Skipped
	rec := &skipreport.PolicyRecord{MaxSkipRate: opts.MaxSkipRate, SkipExitCode: opts.SkipExitCode}
	if total > 0 {
		rec.SkipRate = 100 * float64(c.Skipped) / float64(total)
	}
	res.Policy = rec
	if res.Signal != nil || res.GoExit != 0 {
		return nil
	}
	switch {
	case opts.SkipExitCode != nil && c.Skipped > 0 && c.Passed == 0 && c.Failed == 0:
		if *opts.SkipExitCode == 0 {
			return nil
		}
		rec.Fired = fmt.Sprintf("every test skipped: exit %d (--skip-exit-code)", *opts.SkipExitCode)
		return &PolicyError{Reason: "every test was skipped", Code: *opts.SkipExitCode}
	case opts.MaxSkipRate != nil && rec.SkipRate > *opts.MaxSkipRate:
		rec.Fired = fmt.Sprintf("%.1f%% skipped > --max-skip-rate %g%%: exit %d", rec.SkipRate, *opts.MaxSkipRate, ExitPolicy)
		return &PolicyError{Reason: fmt.Sprintf("%.1f%% of tests skipped, more than --max-skip-rate %g%%", rec.SkipRate, *opts.MaxSkipRate), Code: ExitPolicy}
	}
	return nil
}

// shardArgs narrows the go test arguments to this shard's packages and
// says how they were split ("hash", "time", or "hash: no time history").
// Without --shard it returns the arguments unchanged and nil packages.
func shardArgs(ctx context.Context, opts Options, goPath string) (args, pkgs []string, by string, err error) {
	if opts.Shard.N == 0 {
		return opts.GoArgs, nil, "", nil
	}
	split := splitGoTestArgs(opts.GoArgs)
	all, err := listPackages(ctx, goPath, split, opts.Env, opts.Dir)
	if err != nil {
		return nil, nil, "", err
	}
	var shards [][]string
	by = opts.shardBy()
	switch by {
	case ShardByTime:
		durations := PackageDurations(opts.historyBases())
		if len(durations) == 0 {
			by = ShardByHash + ": no time history"
		}
		shards = PartitionByTime(all, opts.Shard.N, durations)
	default:
		shards = PartitionByHash(all, opts.Shard.N)
	}
	mine := shards[opts.Shard.K-1]
	if mine == nil {
		mine = []string{}
	}
	return split.withPatterns(mine), mine, by, nil
}
