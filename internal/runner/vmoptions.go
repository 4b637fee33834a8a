package runner

// VMOptions are --vm's settings (docs/spec.md §14).
type VMOptions struct {
	// CPUs and MemoryMB size each guest (--vm-cpus, --vm-memory).
	CPUs     int
	MemoryMB int
	// Jobs is --vm-jobs: at most this many guests of the run at once; 0
	// leaves it to go test's -p.
	Jobs int
	// Modules and Setup are loaded and run in every guest before the test
	// binary (.ktest.toml).
	Modules []string
	Setup   []string
	// Exe is the ktest binary go test runs as its -exec wrapper ("" =
	// os.Executable()).
	Exe string
}

// MaxVMJobs bounds --vm-jobs: far more guests than any host runs at once.
const MaxVMJobs = 1024
