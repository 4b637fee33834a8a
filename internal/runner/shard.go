package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ktest-dev/ktest/internal/skipreport"
)

// Shard modes for --shard-by.
const (
	ShardByHash = "hash"
	ShardByTime = "time"
)

// Shard is --shard K/N: this run is shard K (1-based) of N.
type Shard struct {
	K, N int
}

func (s Shard) String() string {
	if s.N == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.K, s.N)
}

// MaxShards bounds N in --shard K/N. Partitioning allocates per shard, so
// an absurd N (2147483648) would exhaust memory; no CI splits a suite into
// more than a few hundred jobs.
const MaxShards = 10000

// ParseShard parses "K/N" with 1 ≤ K ≤ N ≤ MaxShards.
func ParseShard(text string) (Shard, error) {
	k, n, ok := strings.Cut(text, "/")
	kv, kerr := strconv.Atoi(k)
	nv, nerr := strconv.Atoi(n)
	switch {
	case ok && (errors.Is(kerr, strconv.ErrRange) || errors.Is(nerr, strconv.ErrRange)):
		return Shard{}, fmt.Errorf("%q: N is at most %d", text, MaxShards)
	case !ok || kerr != nil || nerr != nil:
		return Shard{}, fmt.Errorf("%q is not K/N (e.g. 1/4)", text)
	case nv > MaxShards:
		return Shard{}, fmt.Errorf("%q: N is at most %d", text, MaxShards)
	case nv < 1 || kv < 1 || kv > nv:
		return Shard{}, fmt.Errorf("%q: want 1 ≤ K ≤ N, e.g. 1/4 … 4/4", text)
	}
	return Shard{K: kv, N: nv}, nil
}

// PartitionByHash puts each package in shard fnv32a(import path) mod n.
// A package's shard depends only on its own path, so it stays put when
// packages are added or removed.
func PartitionByHash(pkgs []string, n int) [][]string {
	shards := make([][]string, n)
	for _, p := range pkgs {
		h := fnv.New32a()
		h.Write([]byte(p))
		i := int(h.Sum32() % uint32(n))
		shards[i] = append(shards[i], p)
	}
	for _, s := range shards {
		sort.Strings(s)
	}
	return shards
}

// PartitionByTime balances shards by the packages' past durations: longest
// first, each to the shard with the least total so far (ties to the lower
// shard). Packages without history count as the mean of those with history.
// With no history at all it is PartitionByHash.
func PartitionByTime(pkgs []string, n int, durations map[string]time.Duration) [][]string {
	var known time.Duration
	count := 0
	for _, p := range pkgs {
		if d, ok := durations[p]; ok {
			known += d
			count++
		}
	}
	if count == 0 {
		return PartitionByHash(pkgs, n)
	}
	mean := known / time.Duration(count)
	weight := func(p string) time.Duration {
		if d, ok := durations[p]; ok {
			return d
		}
		return mean
	}
	sorted := append([]string(nil), pkgs...)
	sort.Slice(sorted, func(i, j int) bool {
		wi, wj := weight(sorted[i]), weight(sorted[j])
		if wi != wj {
			return wi > wj
		}
		return sorted[i] < sorted[j]
	})
	shards := make([][]string, n)
	load := make([]time.Duration, n)
	for _, p := range sorted {
		best := 0
		for i := 1; i < n; i++ {
			if load[i] < load[best] {
				best = i
			}
		}
		shards[best] = append(shards[best], p)
		load[best] += weight(p)
	}
	for _, s := range shards {
		sort.Strings(s)
	}
	return shards
}

// PackageDurations reads the latest duration of each package from the run
// sidecars under the given base directories (newest run wins).
func PackageDurations(bases []string) map[string]time.Duration {
	type seen struct {
		at time.Time
		d  time.Duration
	}
	latest := map[string]seen{}
	for _, base := range bases {
		dirs, err := skipreport.ListRunDirs(base)
		if err != nil {
			continue
		}
		for _, dir := range dirs {
			rc := skipreport.ReadRunDir(dir)
			if rc.Run == nil {
				continue
			}
			for _, p := range rc.Run.Packages {
				if p.Result != "pass" && p.Result != "fail" {
					continue // skipped packages and builds that failed say nothing about time
				}
				if s, ok := latest[p.Name]; !ok || rc.Run.Start.After(s.at) {
					latest[p.Name] = seen{rc.Run.Start, time.Duration(p.ElapsedMS) * time.Millisecond}
				}
			}
		}
	}
	out := make(map[string]time.Duration, len(latest))
	for name, s := range latest {
		out[name] = s.d
	}
	return out
}

// listPackages runs `go list` on the patterns with the flags that decide
// which packages exist.
func listPackages(ctx context.Context, goPath string, args splitGoArgs, env []string, dir string) ([]string, error) {
	patterns := args.Patterns
	if len(patterns) == 0 {
		patterns = []string{"."}
	}
	cmdArgs := append([]string{"list"}, args.ListFlags...)
	cmdArgs = append(cmdArgs, "--")
	cmdArgs = append(cmdArgs, patterns...)
	cmd := exec.CommandContext(ctx, goPath, cmdArgs...)
	cmd.Env, cmd.Dir = env, dir
	cmd.WaitDelay = time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("list packages for --shard (go %s): %w\n%s", strings.Join(cmdArgs, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.Fields(string(out)), nil
}
