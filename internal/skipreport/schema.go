package skipreport

import "time"

// RunSchema identifies run.json, as written. A reader accepts its major
// version with any minor one ("ktest.run/v1", "ktest.run/v1.1", a later
// "ktest.run/v1.2"): a minor version only adds fields (docs/spec.md §8);
// the same holds for SkipSchema. Any other value is reported as an unknown
// schema rather than guessed at. v1.1 added kernels, the passes of a run
// over several kernels (--kernel repeated); v1.2 added vm and each pass's
// transport (ktest --vm).
const RunSchema = "ktest.run/v1.2"

// runSchemaFamily is what readers of run.json accept, with any minor
// version.
const runSchemaFamily = "ktest.run/v1"

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
	// Kernels are the run's passes, one per kernel in the order of
	// --kernel (v1.1; absent from v1 files). A run on one kernel has one
	// pass, repeating the top-level kernel, lock and counts. In a run over
	// several kernels the top-level kernel, unavailable and lock are nil
	// (no single kernel was the run's), counts, verdict and exit_code are
	// the whole run's, and packages sum each package over the passes.
	Kernels []KernelPass `json:"kernels,omitempty"`
	// VM is how --vm ran the test binaries (v1.2); nil without --vm.
	VM *VMRecord `json:"vm,omitempty"`
}

// VMRecord is --vm's part of run.json (v1.2): the guests' shape and the
// host programs that booted them.
type VMRecord struct {
	CPUs     int `json:"cpus"`
	MemoryMB int `json:"memory_mb"`
	// Jobs is the most guests of the run at once (--vm-jobs, else go
	// test's -p).
	Jobs      int    `json:"jobs"`
	QEMU      string `json:"qemu"`
	Virtiofsd string `json:"virtiofsd"`
	// Transport is how the host's files reached the guests: "virtiofs",
	// or "initramfs" when virtiofsd was missing or the kernel has no
	// virtio-fs. In a run over several kernels it is set when every pass
	// used the same one; each pass's is in kernels[].transport.
	Transport string `json:"transport"`
}

// KernelPass is one kernel's pass in run.json (v1.1): go test run once
// with that kernel exported, under its cache lock.
type KernelPass struct {
	// ID is the --kernel ID as given; "" when the kernel was found
	// without one (docs/spec.md §5).
	ID string `json:"id"`
	// Label names the kernel in the console, JUnit and --jsonfile: its
	// release, unique within the run.
	Label string `json:"label"`
	// Kernel is the kernel of the pass; unlike the top-level kernel it is
	// set also when the tests did not get it (see Unavailable). nil only
	// when nothing was resolved.
	Kernel *KernelRecord `json:"kernel"`
	// Unavailable says why the pass's tests got no kernel (contention on
	// its lock, its entry gone, KVM); nil when they got it.
	Unavailable *Unavailability `json:"unavailable"`
	Lock        *LockRecord     `json:"lock"`
	// Verdict is PASS, FAIL, SKIP or INTERRUPTED, or NOT_RUN for a pass
	// that never started (a signal or a ktest error stopped the run).
	Verdict string `json:"verdict"`
	// GoExitCode is go test's exit status in this pass (128+N for a
	// signal death); 0 when it passed or did not run.
	GoExitCode int       `json:"go_exit_code"`
	Start      time.Time `json:"start"`
	ElapsedMS  int64     `json:"elapsed_ms"`
	Counts     RunCounts `json:"counts"`
	// Packages are the pass's per-package results.
	Packages []PackageRecord `json:"packages"`
	// Transport is the pass's --vm transport (v1.2), "" without --vm.
	Transport string `json:"transport,omitempty"`
}

// VerdictNotRun is a KernelPass that never started.
const VerdictNotRun = "NOT_RUN"

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
