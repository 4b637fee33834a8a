package skipreport

import (
	"time"
)

// StatsSchema identifies the document `ktest stats --json` prints. A change
// that removes or renames a field, or changes a field's meaning, gets a new
// version; new fields may be added within v1. docs/stats-schema.md is the
// field-by-field reference.
const StatsSchema = "ktest.stats/v1"

// Stats is the `ktest stats` report over run and skip sidecars (schema
// ktest.stats/v1). ComputeStats builds it; the text, JSON and HTML outputs all
// render it. Rates are fractions between 0 and 1 and are null when their
// denominator is zero. Lists are sorted so that the same sidecars always give
// the same document.
type Stats struct {
	// Schema is always StatsSchema, "ktest.stats/v1".
	Schema string `json:"schema"`
	// GeneratedAt is when the report was made (UTC, RFC 3339).
	GeneratedAt time.Time `json:"generated_at"`
	// Dirs are the sidecar directories read, as given on the command line
	// (or the default), in order.
	Dirs []string `json:"dirs"`
	// Since is the cutoff of --since: runs that started before it are left
	// out entirely. Null when every run counts.
	Since *time.Time `json:"since"`
	// Top is the --top limit applied to by_package, by_kernel, by_host,
	// most_skipped and lock_holders; 0 means no limit. Distinct says how
	// many entries there were before the limit.
	Top      int           `json:"top"`
	Distinct DistinctCount `json:"distinct"`
	// Runs counts run directories and verdicts.
	Runs RunTotals `json:"runs"`
	// Tests sums the test counts of every complete run.
	Tests TestTotals `json:"tests"`
	// SkipSidecars is the number of usable skip sidecars in the runs
	// counted (complete or not).
	SkipSidecars int `json:"skip_sidecars"`
	// ByCategory is the skip rate by SKIP category (see CategoryStats).
	ByCategory []CategoryStats `json:"by_category"`
	// ByPackage is the skip rate by Go package (see GroupStats for how
	// tests and skips are counted per package).
	ByPackage []GroupStats `json:"by_package"`
	// ByKernel groups complete runs by kernel: its version, else its cache
	// key, else its path; "(none)" when the run had no kernel. A run over
	// several kernels (run.json kernels[]) counts each pass under its own
	// kernel.
	ByKernel []GroupStats `json:"by_kernel"`
	// ByHost groups complete runs by the host snapshot's hostname.
	ByHost []GroupStats `json:"by_host"`
	// ByRunSource groups complete runs by run_source ("ci" or "local").
	ByRunSource []GroupStats `json:"by_run_source"`
	// MostSkipped are the tests with the most skip sidecars.
	MostSkipped []SkippedTest `json:"most_skipped"`
	// LockWait is the distribution of the cache-lock wait of complete runs
	// that took the lock.
	LockWait LockWaitStats `json:"lock_wait"`
	// LockHolders are the processes most often seen holding the cache lock,
	// from run.json lock.holders and skip sidecars' holders.
	LockHolders []HolderCount `json:"lock_holders"`
	// Daily is the per-UTC-day trend, oldest day first; days without runs
	// are absent.
	Daily []DayStats `json:"daily"`
	// RunList is every run counted, oldest first (by start time, then
	// directory).
	RunList []RunSummary `json:"run_list"`
	// Problems are the files and run directories that could not be used.
	Problems ProblemReport `json:"problems"`
}

// DistinctCount says how many distinct keys each limited list had before
// --top cut it.
type DistinctCount struct {
	Packages     int `json:"packages"`
	Kernels      int `json:"kernels"`
	Hosts        int `json:"hosts"`
	SkippedTests int `json:"skipped_tests"`
	LockHolders  int `json:"lock_holders"`
}

// RunTotals counts the run directories read.
type RunTotals struct {
	// Total is every run directory counted: Complete + Incomplete +
	// Unusable.
	Total int `json:"total"`
	// Complete runs have a usable run.json; only they have test counts.
	Complete int `json:"complete"`
	// Incomplete runs have no run.json: the run was killed, or is still
	// going. Their skip sidecars still count.
	Incomplete int `json:"incomplete"`
	// Unusable runs have a run.json that could not be used (it is listed in
	// problems.files). Their skip sidecars still count.
	Unusable int `json:"unusable"`
	// Verdicts counts complete runs by verdict. PASS, FAIL, SKIP and
	// INTERRUPTED are always present; any other verdict appears under its
	// own name ("" as "(none)").
	Verdicts map[string]int `json:"verdicts"`
	// First and Last are the start times of the earliest and latest run
	// counted; null when there are none.
	First *time.Time `json:"first"`
	Last  *time.Time `json:"last"`
}

// TestTotals sums run.json counts over complete runs.
type TestTotals struct {
	// Total is Passed + Failed + Skipped.
	Total   int `json:"total"`
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	// SkipRate is Skipped / Total.
	SkipRate *float64 `json:"skip_rate"`
}

// CategoryStats is the skip rate of one SKIP category.
type CategoryStats struct {
	// Category is a SKIP category (contention, no-kernel, no-kvm, no-qemu),
	// "other" for skips without a ktest banner, or "(none)" for skip
	// sidecars with an empty category.
	Category string `json:"category"`
	// Skipped sums counts.skipped_by_category over complete runs. Skipped
	// tests a run did not attribute to any category count as "other".
	Skipped int `json:"skipped"`
	// Tests is every test of every complete run: the denominator.
	Tests int `json:"tests"`
	// SkipRate is Skipped / Tests.
	SkipRate *float64 `json:"skip_rate"`
	// Sidecars counts skip sidecars of this category in all runs counted,
	// including incomplete ones and sidecars without a test name.
	Sidecars int `json:"sidecars"`
	// Runs counts runs in which the category appears (in counts or
	// sidecars).
	Runs int `json:"runs"`
}

// GroupStats is the skip rate of one group of runs or tests.
//
// For by_host and by_run_source the group is a set of complete runs and
// Tests and Skipped are their run.json counts; for by_kernel, the passes
// on the kernel (run.json kernels[], or a v1 run's counts under its
// kernel).
//
// For by_package, a complete run's tests in the package are the larger of
// run.json packages[].tests and the number of skip sidecars naming the
// package (a test that skipped did run), and Skipped is that number of skip
// sidecars. Sidecars of incomplete runs are not counted here (they have no
// denominator); see most_skipped.
type GroupStats struct {
	// Key is the kernel, host, run source or package.
	Key string `json:"key"`
	// Runs counts complete runs in the group.
	Runs    int `json:"runs"`
	Tests   int `json:"tests"`
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	// SkipRate is Skipped / Tests.
	SkipRate *float64 `json:"skip_rate"`
}

// SkippedTest is one test's skip history, from skip sidecars.
type SkippedTest struct {
	Package string `json:"package"`
	Test    string `json:"test"`
	// Count is the number of skip sidecars for the test in all runs
	// counted.
	Count int `json:"count"`
	// Runs counts complete runs in which the test could have run: its
	// package is in run.json packages, or it skipped. SkippedRuns counts
	// those in which it skipped at least once, and SkipRate is
	// SkippedRuns / Runs.
	Runs        int      `json:"runs"`
	SkippedRuns int      `json:"skipped_runs"`
	SkipRate    *float64 `json:"skip_rate"`
	// Categories counts the test's skip sidecars by category.
	Categories map[string]int `json:"categories"`
	// LastReason and LastTime are the reason and time of the newest skip
	// sidecar.
	LastReason string    `json:"last_reason"`
	LastTime   time.Time `json:"last_time"`
}

// LockWaitStats summarises run.json lock.waited_ms over complete runs that
// have a lock record. Percentiles use the nearest-rank method; all are 0
// when Samples is 0.
type LockWaitStats struct {
	Samples int   `json:"samples"`
	P50MS   int64 `json:"p50_ms"`
	P95MS   int64 `json:"p95_ms"`
	MaxMS   int64 `json:"max_ms"`
	// NotAcquired counts runs whose lock wait ended without the lock
	// (lock.acquired false: the wait timed out).
	NotAcquired int `json:"not_acquired"`
}

// HolderCount is one lock-holding command line.
type HolderCount struct {
	// Cmdline is the holder's command line as recorded (cut at 100
	// characters by the lock helper); "(unknown)" when it was empty.
	Cmdline string `json:"cmdline"`
	// Sightings counts the records (run.json lock records and skip
	// sidecars) naming it.
	Sightings int `json:"sightings"`
	// Runs counts the runs in which it was seen.
	Runs int `json:"runs"`
}

// DayStats is one UTC day of complete runs, by start time.
type DayStats struct {
	// Day is the UTC date, YYYY-MM-DD.
	Day     string `json:"day"`
	Runs    int    `json:"runs"`
	Tests   int    `json:"tests"`
	Passed  int    `json:"passed"`
	Failed  int    `json:"failed"`
	Skipped int    `json:"skipped"`
	// SkipRate is Skipped / Tests.
	SkipRate *float64 `json:"skip_rate"`
	// SkippedByCategory splits Skipped by category, as in by_category.
	SkippedByCategory map[string]int `json:"skipped_by_category"`
	// Incomplete counts runs of the day without a usable run.json (dated
	// by their directory name).
	Incomplete int `json:"incomplete"`
}

// RunSummary is one run in run_list.
type RunSummary struct {
	// ID is run.json run_id, else the directory name.
	ID  string `json:"id"`
	Dir string `json:"dir"`
	// Start is run.json start, else the time in the directory name, else
	// the earliest skip sidecar's time; null when none is known.
	Start *time.Time `json:"start"`
	// Complete is true when run.json was usable; the fields below that
	// come from it are zero otherwise.
	Complete bool   `json:"complete"`
	Verdict  string `json:"verdict"`
	Passed   int    `json:"passed"`
	Failed   int    `json:"failed"`
	Skipped  int    `json:"skipped"`
	Shard    string `json:"shard"`
	// SkipSidecars counts the run's usable skip sidecars.
	SkipSidecars int `json:"skip_sidecars"`
}

// ProblemReport lists what could not be used. Problems never stop the
// report.
type ProblemReport struct {
	// Files are unusable or unexpected files, by path. Kind is
	// "unreadable", "malformed", "unknown_schema" (such as a newer ktest's
	// sidecar), "invalid" (a value that cannot be true, such as a negative
	// count) or "unknown_file" (a file ktest does not write in a run
	// directory).
	Files []FileProblem `json:"files"`
	// ByKind counts Files by kind.
	ByKind map[string]int `json:"by_kind"`
	// IncompleteRuns are the run directories without run.json.
	IncompleteRuns []string `json:"incomplete_runs"`
}
