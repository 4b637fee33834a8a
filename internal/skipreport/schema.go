package skipreport

import "time"

// RunSchema identifies run.json. A reader accepts it and SkipSchema and
// reports any other value as an unknown schema rather than guessing.
const RunSchema = "ktest.run/v1"

// RunRecord is run.json: one per ktest run (docs/spec.md §8).
type RunRecord struct {
	Schema     string    `json:"schema"`
	RunID      string    `json:"run_id"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Argv       []string  `json:"argv"`
	GoTestArgs []string  `json:"go_test_args"`
	// Shard is "K/N" when the run was one shard of several, else "".
	Shard    string `json:"shard"`
	ExitCode int    `json:"exit_code"`
	// Verdict is PASS, FAIL, SKIP or INTERRUPTED.
	Verdict string    `json:"verdict"`
	Counts  RunCounts `json:"counts"`
	// Kernel is the kernel the tests were given; nil when none was.
	Kernel *KernelRecord `json:"kernel"`
	// Unavailable says why no kernel or KVM was usable; nil when all was.
	Unavailable *Unavailability `json:"unavailable"`
	// Lock is the cache lock held around go test; nil when the kernel did
	// not come from the cache.
	Lock *LockRecord  `json:"lock"`
	KVM  *KVMRecord   `json:"kvm"`
	Host HostSnapshot `json:"host"`
	// RunSource is "ci" when KTSTR_CI or CI is non-empty, else "local".
	RunSource     string `json:"run_source"`
	ProjectCommit string `json:"project_commit"`
	GoVersion     string `json:"go_version"`
	// Packages are per-package results and durations; --shard-by time
	// balances shards with them.
	Packages []PackageRecord `json:"packages"`
	Policy   *PolicyRecord   `json:"policy"`
}

// RunCounts are test results, subtests included. Skipped tests are never
// counted as passed.
type RunCounts struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	// SkippedByCategory counts skips whose message carried a ktest banner,
	// by category; skips without a banner are under "other".
	SkippedByCategory map[string]int `json:"skipped_by_category"`
}

// Unavailability is why tests that need a kernel or KVM were skipped.
type Unavailability struct {
	Category Category `json:"category"`
	Reason   string   `json:"reason"`
	// Errno is the symbolic errno (e.g. "EBUSY") when a system call said
	// why, else "".
	Errno string `json:"errno"`
}

// LockRecord describes the cache lock ktest took (or waited for).
type LockRecord struct {
	Path     string         `json:"path"`
	Mode     string         `json:"mode"`
	WaitedMS int64          `json:"waited_ms"`
	Acquired bool           `json:"acquired"`
	Holders  []HolderRecord `json:"holders"`
}

// KVMRecord is the KVM preflight's outcome.
type KVMRecord struct {
	Device     string `json:"device"`
	Status     string `json:"status"`
	APIVersion int    `json:"api_version"`
	// Probe is "ok", "failed" or "skipped".
	Probe          string  `json:"probe"`
	Accel          string  `json:"accel"`
	NsPerIteration float64 `json:"ns_per_iteration"`
	Cached         bool    `json:"cached"`
}

// PackageRecord is one package's result in a run.
type PackageRecord struct {
	Name      string `json:"name"`
	Result    string `json:"result"`
	ElapsedMS int64  `json:"elapsed_ms"`
	Tests     int    `json:"tests"`
	Passed    int    `json:"passed"`
	Failed    int    `json:"failed"`
	Skipped   int    `json:"skipped"`
}

// PolicyRecord is the skip policy in force for a run.
type PolicyRecord struct {
	MaxSkipRate  *float64 `json:"max_skip_rate"`
	SkipExitCode *int     `json:"skip_exit_code"`
	SkipRate     float64  `json:"skip_rate"`
	Fired        string   `json:"fired"`
}
