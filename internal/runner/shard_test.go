package runner

import (
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"
)

func fixturePackages(n int) []string {
	var pkgs []string
	for i := 0; i < n; i++ {
		pkgs = append(pkgs, fmt.Sprintf("example.com/mod/pkg%03d", i))
	}
	return pkgs
}

// checkPartition: the union of the shards is every package, and each
// package is in exactly one shard.
func checkPartition(t *testing.T, pkgs []string, shards [][]string) {
	t.Helper()
	seen := map[string]int{}
	for i, s := range shards {
		for _, p := range s {
			if prev, dup := seen[p]; dup {
				t.Fatalf("%s in shards %d and %d", p, prev, i)
			}
			seen[p] = i
		}
	}
	if len(seen) != len(pkgs) {
		t.Fatalf("shards hold %d packages, want %d", len(seen), len(pkgs))
	}
	for _, p := range pkgs {
		if _, ok := seen[p]; !ok {
			t.Fatalf("%s is in no shard", p)
		}
	}
}

func TestPartitionByHashProperties(t *testing.T) {
	pkgs := fixturePackages(200)
	for _, n := range []int{1, 2, 3, 7, 250} {
		shards := PartitionByHash(pkgs, n)
		if len(shards) != n {
			t.Fatalf("%d shards, want %d", len(shards), n)
		}
		checkPartition(t, pkgs, shards)
	}
	// Stable when a package is added: every old package stays put.
	before := PartitionByHash(pkgs, 4)
	after := PartitionByHash(append(pkgs, "example.com/mod/newcomer"), 4)
	where := func(shards [][]string) map[string]int {
		m := map[string]int{}
		for i, s := range shards {
			for _, p := range s {
				m[p] = i
			}
		}
		return m
	}
	b, a := where(before), where(after)
	for _, p := range pkgs {
		if b[p] != a[p] {
			t.Errorf("%s moved from shard %d to %d when a package was added", p, b[p], a[p])
		}
	}
	// Not degenerate: 200 packages over 4 shards all get some.
	for i, s := range before {
		if len(s) < 25 {
			t.Errorf("shard %d has only %d of 200 packages", i, len(s))
		}
	}
}

func TestPartitionByTimeBalances(t *testing.T) {
	pkgs := fixturePackages(12)
	// A fixture history: one slow package, a few medium, many fast.
	durations := map[string]time.Duration{}
	for i, p := range pkgs {
		switch {
		case i == 0:
			durations[p] = 60 * time.Second
		case i < 4:
			durations[p] = 20 * time.Second
		default:
			durations[p] = 5 * time.Second
		}
	}
	shards := PartitionByTime(pkgs, 3, durations)
	checkPartition(t, pkgs, shards)
	var loads []time.Duration
	for _, s := range shards {
		var sum time.Duration
		for _, p := range s {
			sum += durations[p]
		}
		loads = append(loads, sum)
	}
	sort.Slice(loads, func(i, j int) bool { return loads[i] < loads[j] })
	// Total 160s over 3 shards; the 60s package bounds the best split at
	// 60/50/50. Greedy longest-first reaches it.
	if want := []time.Duration{50 * time.Second, 50 * time.Second, 60 * time.Second}; !reflect.DeepEqual(loads, want) {
		t.Errorf("loads %v, want %v", loads, want)
	}
	// Hash mode on the same input is far less balanced, which is the point.
	if reflect.DeepEqual(shards, PartitionByHash(pkgs, 3)) {
		t.Log("time and hash partitions happen to agree")
	}
	// Deterministic: every shard job computes the same partition.
	if !reflect.DeepEqual(shards, PartitionByTime(pkgs, 3, durations)) {
		t.Error("time partition is not deterministic")
	}
}

func TestPartitionByTimeWithoutHistoryIsHash(t *testing.T) {
	pkgs := fixturePackages(30)
	if !reflect.DeepEqual(PartitionByTime(pkgs, 4, nil), PartitionByHash(pkgs, 4)) {
		t.Error("without history, time mode must fall back to hashing")
	}
	// Partial history: unknown packages weigh the mean, and all are placed.
	partial := map[string]time.Duration{pkgs[0]: time.Minute, pkgs[1]: time.Second}
	checkPartition(t, pkgs, PartitionByTime(pkgs, 4, partial))
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Shard
		ok   bool
	}{
		{"1/1", Shard{1, 1}, true}, {"2/4", Shard{2, 4}, true}, {"4/4", Shard{4, 4}, true},
		{"0/4", Shard{}, false}, {"5/4", Shard{}, false}, {"1/0", Shard{}, false},
		{"x/4", Shard{}, false}, {"1", Shard{}, false}, {"-1/4", Shard{}, false}, {"1/4/2", Shard{}, false},
		{"1/10000", Shard{1, 10000}, true}, {"1/10001", Shard{}, false}, {"1/2147483648", Shard{}, false},
		{"1/99999999999999999999", Shard{}, false},
	} {
		got, err := ParseShard(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseShard(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestSplitGoTestArgs(t *testing.T) {
	s := splitGoTestArgs([]string{"-run", "X", "./a/...", "-count=1", "-tags", "t1", "./b", "-v", "-args", "-foo", "./c"})
	if want := []string{"./a/...", "./b"}; !reflect.DeepEqual(s.Patterns, want) {
		t.Errorf("patterns %q, want %q", s.Patterns, want)
	}
	if want := []string{"-tags", "t1"}; !reflect.DeepEqual(s.ListFlags, want) {
		t.Errorf("list flags %q, want %q", s.ListFlags, want)
	}
	got := s.withPatterns([]string{"p1", "p2"})
	want := []string{"-run", "X", "-count=1", "-tags", "t1", "-v", "p1", "p2", "-args", "-foo", "./c"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("withPatterns = %q, want %q", got, want)
	}
	// -buildvcs, like -v, takes no separate value.
	if s := splitGoTestArgs([]string{"-buildvcs", "./...", "-buildvcs=false"}); !reflect.DeepEqual(s.Patterns, []string{"./..."}) {
		t.Errorf("-buildvcs ./...: patterns %q, want [./...]", s.Patterns)
	}
}

func FuzzParseShard(f *testing.F) {
	for _, s := range []string{"1/2", "0/0", "9999999999999999999/1", "3/3", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sh, err := ParseShard(s)
		if err == nil && (sh.K < 1 || sh.K > sh.N || sh.N > MaxShards) {
			t.Errorf("accepted %q as %v", s, sh)
		}
	})
}
