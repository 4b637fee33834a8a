package skipreport

import (
	"cmp"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// StatsOptions shape a report.
type StatsOptions struct {
	// Dirs are recorded in the report as the directories read.
	Dirs []string
	// Since drops runs that started before it; zero keeps every run. A run
	// whose start time is unknown is dropped when Since is set.
	Since time.Time
	// Now is the report's generated_at.
	Now time.Time
	// Top limits by_package, by_kernel, by_host, most_skipped and
	// lock_holders; 0 means no limit.
	Top int
}

// Verdicts that a report always lists, even at zero.
var statsVerdicts = []string{"PASS", "FAIL", "SKIP", "INTERRUPTED"}

// ComputeStats aggregates run directories' contents into a report. It is a
// pure function of its arguments: the same contents in any order give the
// same report.
func ComputeStats(runs []RunContents, opts StatsOptions) *Stats {
	s := &Stats{
		Schema:      StatsSchema,
		GeneratedAt: opts.Now.UTC(),
		Dirs:        append([]string{}, opts.Dirs...),
		Top:         opts.Top,
		Runs:        RunTotals{Verdicts: map[string]int{}},
		Problems:    ProblemReport{Files: []FileProblem{}, ByKind: map[string]int{}, IncompleteRuns: []string{}},
	}
	if s.Dirs == nil {
		s.Dirs = []string{}
	}
	if !opts.Since.IsZero() {
		since := opts.Since.UTC()
		s.Since = &since
	}
	for _, v := range statsVerdicts {
		s.Runs.Verdicts[v] = 0
	}
	acc := newStatsAcc()
	for i := range runs {
		rc := &runs[i]
		start, known := runStart(rc)
		if !opts.Since.IsZero() && (!known || start.Before(opts.Since)) {
			continue
		}
		acc.addRun(s, rc, start, known)
	}
	acc.finish(s, opts.Top)
	return s
}

// runStart is when a run started: run.json start, else the stamp in the
// run directory's name, else its earliest skip sidecar.
func runStart(rc *RunContents) (time.Time, bool) {
	if rc.Run != nil && !rc.Run.Start.IsZero() {
		return rc.Run.Start.UTC(), true
	}
	if t, ok := runDirTime(filepath.Base(rc.Dir)); ok {
		return t, true
	}
	var first time.Time
	for i := range rc.Skips {
		if t := rc.Skips[i].Time; !t.IsZero() && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	return first.UTC(), !first.IsZero()
}

// runDirTime parses the UTC stamp of a run directory name.
func runDirTime(name string) (time.Time, bool) {
	if !runDirName.MatchString(name) {
		return time.Time{}, false
	}
	t, err := time.Parse(runStampLayout, name[:len(runStampLayout)])
	return t, err == nil
}

// statsAcc accumulates while ComputeStats walks the runs; finish turns it
// into the report's sorted lists.
type statsAcc struct {
	categories map[string]*CategoryStats
	catRuns    map[string]int
	packages   map[string]*GroupStats
	kernels    map[string]*GroupStats
	hosts      map[string]*GroupStats
	sources    map[string]*GroupStats
	tests      map[testKey]*SkippedTest
	// pkgRuns counts complete runs listing a package; testExtraRuns counts
	// complete runs in which a test skipped although run.json did not list
	// its package. Together they are a test's Runs.
	pkgRuns       map[string]int
	testExtraRuns map[testKey]int
	lockWaits     []int64
	holders       map[string]*HolderCount
	days          map[string]*DayStats
}

type testKey struct{ pkg, test string }

func newStatsAcc() *statsAcc {
	return &statsAcc{
		categories:    map[string]*CategoryStats{},
		catRuns:       map[string]int{},
		packages:      map[string]*GroupStats{},
		kernels:       map[string]*GroupStats{},
		hosts:         map[string]*GroupStats{},
		sources:       map[string]*GroupStats{},
		tests:         map[testKey]*SkippedTest{},
		pkgRuns:       map[string]int{},
		testExtraRuns: map[testKey]int{},
		holders:       map[string]*HolderCount{},
		days:          map[string]*DayStats{},
	}
}

func (a *statsAcc) category(name string) *CategoryStats {
	c := a.categories[name]
	if c == nil {
		c = &CategoryStats{Category: name}
		a.categories[name] = c
	}
	return c
}

func group(m map[string]*GroupStats, key string) *GroupStats {
	g := m[key]
	if g == nil {
		g = &GroupStats{Key: key}
		m[key] = g
	}
	return g
}

func (a *statsAcc) day(t time.Time) *DayStats {
	key := t.UTC().Format(time.DateOnly)
	d := a.days[key]
	if d == nil {
		d = &DayStats{Day: key, SkippedByCategory: map[string]int{}}
		a.days[key] = d
	}
	return d
}

// addRun adds one run directory that passed the --since filter.
func (a *statsAcc) addRun(s *Stats, rc *RunContents, start time.Time, known bool) {
	run := rc.Run
	s.Runs.Total++
	sum := RunSummary{ID: filepath.Base(rc.Dir), Dir: rc.Dir, Complete: run != nil, SkipSidecars: len(rc.Skips)}
	if known {
		st := start
		sum.Start = &st
		if s.Runs.First == nil || start.Before(*s.Runs.First) {
			first := start
			s.Runs.First = &first
		}
		if s.Runs.Last == nil || start.After(*s.Runs.Last) {
			last := start
			s.Runs.Last = &last
		}
	}
	for _, p := range rc.Problems {
		s.Problems.Files = append(s.Problems.Files, p)
		s.Problems.ByKind[p.Kind]++
	}
	runJSON := filepath.Join(rc.Dir, "run.json")
	switch {
	case run != nil:
		s.Runs.Complete++
	case slices.ContainsFunc(rc.Problems, func(p FileProblem) bool { return p.Path == runJSON }):
		s.Runs.Unusable++
	default:
		s.Runs.Incomplete++
		s.Problems.IncompleteRuns = append(s.Problems.IncompleteRuns, rc.Dir)
	}
	if run == nil && known {
		a.day(start).Incomplete++
	}

	// Skip sidecars: categories, tests and holders, for every run.
	s.SkipSidecars += len(rc.Skips)
	catSeen := map[string]bool{}
	skippedInRun := map[testKey]int{}
	pkgSkipsInRun := map[string]int{}
	holdersInRun := map[string]bool{}
	for i := range rc.Skips {
		sk := &rc.Skips[i]
		cat := string(sk.Category)
		if cat == "" {
			cat = "(none)"
		}
		a.category(cat).Sidecars++
		catSeen[cat] = true
		for _, h := range sk.Holders {
			a.sawHolder(h.Cmdline, holdersInRun)
		}
		if sk.Test == "" {
			continue // a run-level SKIP site, not a test
		}
		k := testKey{sk.Package, sk.Test}
		t := a.tests[k]
		if t == nil {
			t = &SkippedTest{Package: sk.Package, Test: sk.Test, Categories: map[string]int{}}
			a.tests[k] = t
		}
		t.Count++
		t.Categories[cat]++
		if newerSkip(sk, t) {
			t.LastReason, t.LastTime = sk.Reason, sk.Time.UTC()
		}
		skippedInRun[k]++
		pkgSkipsInRun[sk.Package]++
	}

	if run == nil {
		for cat := range catSeen {
			a.catRuns[cat]++
		}
		sum.ID = runID(rc)
		s.RunList = append(s.RunList, sum)
		return
	}

	// run.json: verdicts, counts and groups, for complete runs only.
	c := run.Counts
	total := c.Passed + c.Failed + c.Skipped
	verdict := run.Verdict
	if verdict == "" {
		verdict = "(none)"
	}
	s.Runs.Verdicts[verdict]++
	s.Tests.Passed += c.Passed
	s.Tests.Failed += c.Failed
	s.Tests.Skipped += c.Skipped
	byCat := skippedByCategory(c)
	for cat, n := range byCat {
		a.category(cat).Skipped += n
		if n > 0 {
			catSeen[cat] = true
		}
	}
	for cat := range catSeen {
		a.catRuns[cat]++
	}
	for _, g := range []*GroupStats{
		group(a.hosts, orUnknown(run.Host.Hostname)),
		group(a.sources, orUnknown(run.RunSource)),
	} {
		g.addCounts(c)
	}
	a.addKernels(run)
	listed := map[string]bool{}
	for _, p := range run.Packages {
		if listed[p.Name] {
			continue // a package listed twice counts once
		}
		listed[p.Name] = true
		a.pkgRuns[p.Name]++
		g := group(a.packages, p.Name)
		g.Runs++
		// run.json counts every skip (also plain t.Skip without a
		// sidecar); older run.json files have no per-package skipped
		// count, and then the package's skip sidecars stand in for it.
		skipped := max(p.Skipped, pkgSkipsInRun[p.Name])
		g.Tests += max(p.Tests, skipped)
		g.Skipped += skipped
		g.Passed += p.Passed
		g.Failed += p.Failed
	}
	for pkg, n := range pkgSkipsInRun {
		if !listed[pkg] {
			g := group(a.packages, pkg)
			g.Runs++
			g.Tests += n
			g.Skipped += n
		}
	}
	for k := range skippedInRun {
		a.tests[k].SkippedRuns++
		if !listed[k.pkg] {
			a.testExtraRuns[k]++
		}
	}
	if l := run.Lock; l != nil {
		a.lockWaits = append(a.lockWaits, l.WaitedMS)
		if !l.Acquired {
			s.LockWait.NotAcquired++
		}
		for _, h := range l.Holders {
			a.sawHolder(h.Cmdline, holdersInRun)
		}
	}
	if known {
		d := a.day(start)
		d.Runs++
		d.Tests += total
		d.Passed += c.Passed
		d.Failed += c.Failed
		d.Skipped += c.Skipped
		for cat, n := range byCat {
			if n > 0 {
				d.SkippedByCategory[cat] += n
			}
		}
	}
	sum.ID = runID(rc)
	sum.Verdict = run.Verdict
	sum.Passed, sum.Failed, sum.Skipped = c.Passed, c.Failed, c.Skipped
	sum.Shard = run.Shard
	s.RunList = append(s.RunList, sum)
}

// addCounts adds one complete run's (or pass's) counts to the group.
func (g *GroupStats) addCounts(c RunCounts) {
	g.Runs++
	g.Tests += c.Passed + c.Failed + c.Skipped
	g.Passed += c.Passed
	g.Failed += c.Failed
	g.Skipped += c.Skipped
}

// addKernels adds a complete run to by_kernel: each pass that ran under
// its own kernel (run.json v1.1 kernels), also a pass whose tests did not
// get the kernel (a contention SKIP on 6.12 is 6.12's); a v1 run without
// passes under its top-level kernel. A kernel counts one run per run.
func (a *statsAcc) addKernels(run *RunRecord) {
	if len(run.Kernels) == 0 {
		group(a.kernels, kernelKey(run.Kernel)).addCounts(run.Counts)
		return
	}
	seen := map[string]bool{}
	for _, k := range run.Kernels {
		if k.Verdict == VerdictNotRun {
			continue
		}
		key := kernelKey(k.Kernel)
		g := group(a.kernels, key)
		g.addCounts(k.Counts)
		if seen[key] {
			g.Runs-- // two passes under one name (same release): one run
		}
		seen[key] = true
	}
}

// newerSkip reports whether sk is newer than the test's last skip so far;
// equal times are broken by reason so that input order does not matter.
func newerSkip(sk *SkipRecord, t *SkippedTest) bool {
	if t.Count == 1 {
		return true
	}
	if !sk.Time.Equal(t.LastTime) {
		return sk.Time.After(t.LastTime)
	}
	return sk.Reason > t.LastReason
}

func (a *statsAcc) sawHolder(cmdline string, inRun map[string]bool) {
	key := orUnknown(cmdline)
	h := a.holders[key]
	if h == nil {
		h = &HolderCount{Cmdline: key}
		a.holders[key] = h
	}
	h.Sightings++
	if !inRun[key] {
		inRun[key] = true
		h.Runs++
	}
}

// skippedByCategory is a run's skips by category, with skips the run did not
// attribute to a category counted as "other", so that the categories add up
// to counts.skipped.
func skippedByCategory(c RunCounts) map[string]int {
	out := make(map[string]int, len(c.SkippedByCategory)+1)
	attributed := 0
	for cat, n := range c.SkippedByCategory {
		if n <= 0 {
			continue
		}
		if cat == "" {
			cat = "(none)"
		}
		out[cat] += n
		attributed += n
	}
	if rest := c.Skipped - attributed; rest > 0 {
		out["other"] += rest
	}
	return out
}

func runID(rc *RunContents) string {
	if rc.Run != nil && rc.Run.RunID != "" {
		return rc.Run.RunID
	}
	return filepath.Base(rc.Dir)
}

// kernelKey names a run's kernel for by_kernel.
func kernelKey(k *KernelRecord) string {
	switch {
	case k == nil:
		return "(none)"
	case k.Version != "":
		return k.Version
	case k.CacheKey != "":
		return k.CacheKey
	case k.Path != "":
		return k.Path
	}
	return "(unknown)"
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

func rate(num, den int) *float64 {
	if den <= 0 {
		return nil
	}
	r := float64(num) / float64(den)
	return &r
}

// finish sorts, limits and computes rates.
func (a *statsAcc) finish(s *Stats, top int) {
	s.Tests.Total = s.Tests.Passed + s.Tests.Failed + s.Tests.Skipped
	s.Tests.SkipRate = rate(s.Tests.Skipped, s.Tests.Total)

	s.ByCategory = make([]CategoryStats, 0, len(a.categories))
	for name, c := range a.categories {
		c.Tests = s.Tests.Total
		c.SkipRate = rate(c.Skipped, c.Tests)
		c.Runs = a.catRuns[name]
		s.ByCategory = append(s.ByCategory, *c)
	}
	slices.SortFunc(s.ByCategory, func(x, y CategoryStats) int {
		return cmp.Or(-cmp.Compare(x.Skipped, y.Skipped), -cmp.Compare(x.Sidecars, y.Sidecars), cmp.Compare(x.Category, y.Category))
	})

	s.Distinct = DistinctCount{Packages: len(a.packages), Kernels: len(a.kernels), Hosts: len(a.hosts),
		SkippedTests: len(a.tests), LockHolders: len(a.holders)}
	s.ByPackage = sortedGroups(a.packages, top)
	s.ByKernel = sortedGroups(a.kernels, top)
	s.ByHost = sortedGroups(a.hosts, top)
	s.ByRunSource = sortedGroups(a.sources, 0)

	s.MostSkipped = make([]SkippedTest, 0, len(a.tests))
	for k, t := range a.tests {
		t.Runs = a.pkgRuns[k.pkg] + a.testExtraRuns[k]
		t.SkipRate = rate(t.SkippedRuns, t.Runs)
		s.MostSkipped = append(s.MostSkipped, *t)
	}
	slices.SortFunc(s.MostSkipped, func(x, y SkippedTest) int {
		return cmp.Or(-cmp.Compare(x.Count, y.Count), cmp.Compare(x.Package, y.Package), cmp.Compare(x.Test, y.Test))
	})
	s.MostSkipped = limit(s.MostSkipped, top)

	slices.Sort(a.lockWaits)
	if n := len(a.lockWaits); n > 0 {
		s.LockWait.Samples = n
		s.LockWait.P50MS = nearestRank(a.lockWaits, 50)
		s.LockWait.P95MS = nearestRank(a.lockWaits, 95)
		s.LockWait.MaxMS = a.lockWaits[n-1]
	}

	s.LockHolders = make([]HolderCount, 0, len(a.holders))
	for _, h := range a.holders {
		s.LockHolders = append(s.LockHolders, *h)
	}
	slices.SortFunc(s.LockHolders, func(x, y HolderCount) int {
		return cmp.Or(-cmp.Compare(x.Runs, y.Runs), -cmp.Compare(x.Sightings, y.Sightings), cmp.Compare(x.Cmdline, y.Cmdline))
	})
	s.LockHolders = limit(s.LockHolders, top)

	s.Daily = make([]DayStats, 0, len(a.days))
	for _, d := range a.days {
		d.SkipRate = rate(d.Skipped, d.Tests)
		s.Daily = append(s.Daily, *d)
	}
	slices.SortFunc(s.Daily, func(x, y DayStats) int { return cmp.Compare(x.Day, y.Day) })

	if s.RunList == nil {
		s.RunList = []RunSummary{}
	}
	slices.SortFunc(s.RunList, func(x, y RunSummary) int {
		switch {
		case x.Start == nil && y.Start != nil:
			return 1
		case x.Start != nil && y.Start == nil:
			return -1
		case x.Start != nil && y.Start != nil && !x.Start.Equal(*y.Start):
			return x.Start.Compare(*y.Start)
		}
		return cmp.Compare(x.Dir, y.Dir)
	})
	sort.Strings(s.Problems.IncompleteRuns)
	slices.SortFunc(s.Problems.Files, func(x, y FileProblem) int {
		return cmp.Or(cmp.Compare(x.Path, y.Path), cmp.Compare(x.Kind, y.Kind))
	})
}

func sortedGroups(m map[string]*GroupStats, top int) []GroupStats {
	out := make([]GroupStats, 0, len(m))
	for _, g := range m {
		g.SkipRate = rate(g.Skipped, g.Tests)
		out = append(out, *g)
	}
	slices.SortFunc(out, func(x, y GroupStats) int {
		return cmp.Or(-cmp.Compare(x.Skipped, y.Skipped), -cmp.Compare(x.Tests, y.Tests), cmp.Compare(x.Key, y.Key))
	})
	return limit(out, top)
}

func limit[T any](list []T, top int) []T {
	if top > 0 && len(list) > top {
		return list[:top]
	}
	return list
}

// nearestRank is the p-th percentile of sorted values by the nearest-rank
// method: the smallest value with at least p% of the values at or below it.
func nearestRank(sorted []int64, p int) int64 {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}
