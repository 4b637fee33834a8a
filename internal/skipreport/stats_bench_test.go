package skipreport

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// writeSyntheticSidecars writes runs run directories of skipsPerRun skip
// sidecars each under base, shaped like real ones (full host snapshot,
// kernel record, holders on contention skips). It writes the bytes WriteRun
// and WriteSkip would write, with plain os.WriteFile: their fsync per file
// would make generating 100k files take minutes, and the reader cannot tell.
func writeSyntheticSidecars(tb testing.TB, base string, runs, skipsPerRun int) {
	tb.Helper()
	t0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	cats := []Category{Contention, NoKernel, NoKVM, NoQEMU}
	host := HostSnapshot{Hostname: "ci-runner-7", KernelRelease: "6.1.0-56-cloud-amd64",
		MemAvailable: 3 << 30, MemTotal: 8 << 30, Load1: 1.25, Load5: 0.9, Load15: 0.7,
		ProcsRunning: 3, ProcsTotal: 412, OnlineCPUs: 2, OpenFDs: 11, NoFileSoft: 1 << 20, NoFileHard: 1 << 20,
		FileNrAllocated: 2816, FileNrMax: 9223372036854775807}
	kernel := &KernelRecord{Path: "/root/.cache/ktstr/kernels/6.1.0-56-cloud-amd64/bzImage", CacheKey: "6.1.0-56-cloud-amd64",
		Version: "6.1.0-56-cloud-amd64", SHA256: "4b1c0e8a6f0e2d6c7b2a9f8e3d1c0b5a4f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c", Source: "cache"}
	holders := []HolderRecord{{PID: 4242, Mode: "LOCK_EX", Cmdline: "ktest kernel add /tmp/linux/arch/x86/boot/bzImage"}}
	for i := range runs {
		start := t0.Add(time.Duration(i) * 7 * time.Minute)
		id := fmt.Sprintf("%s-%08x", start.Format(runStampLayout), i)
		dir := filepath.Join(base, id)
		if err := os.MkdirAll(filepath.Join(dir, "skips"), 0o755); err != nil {
			tb.Fatal(err)
		}
		h := host
		h.TakenAt = start
		run := RunRecord{Schema: RunSchema, RunID: id, Start: start, End: start.Add(40 * time.Second),
			Argv: []string{"ktest", "./..."}, GoTestArgs: []string{"./..."}, Verdict: "PASS",
			Counts: RunCounts{Passed: 3 * skipsPerRun, Skipped: skipsPerRun,
				SkippedByCategory: map[string]int{}},
			Kernel: kernel, Lock: &LockRecord{Path: "/root/.cache/ktstr/kernels/.locks/x.lock", Mode: "LOCK_SH",
				WaitedMS: int64(i % 1000), Acquired: true, Holders: holders},
			Host: h, RunSource: []string{"ci", "local"}[i%2], GoVersion: "go1.26.8",
			Packages: []PackageRecord{{Name: "example.com/suite/boot", Result: "ok", ElapsedMS: 1200, Tests: 4 * skipsPerRun}}}
		for j := range skipsPerRun {
			run.Counts.SkippedByCategory[string(cats[(i+j)%len(cats)])]++
		}
		writeJSON(tb, filepath.Join(dir, "run.json"), run, true)
		for j := range skipsPerRun {
			cat := cats[(i+j)%len(cats)]
			rec := SkipRecord{Schema: SkipSchema, Time: start.Add(time.Duration(j) * time.Second), RunID: id,
				Package: "example.com/suite/boot", Test: fmt.Sprintf("TestBoot/case%03d", j), Category: cat,
				Reason: "KVM_CREATE_VM: device or resource busy (EBUSY)", Errno: "EBUSY", Host: h, Kernel: kernel, RunSource: run.RunSource}
			if cat == Contention {
				rec.Holders = holders
			}
			writeJSON(tb, filepath.Join(dir, "skips", fmt.Sprintf("%s-%08x.json", rec.Time.Format("20060102T150405.000000000Z"), j)), rec, false)
		}
	}
}

// writeJSON writes v as WriteRun (indented) or WriteSkip (compact) would.
func writeJSON(tb testing.TB, path string, v any, indent bool) {
	tb.Helper()
	data, err := json.Marshal(v)
	if indent {
		data, err = json.MarshalIndent(v, "", "  ")
	}
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// syntheticTree returns a base directory of 2,000 runs and 100,000 skip
// sidecars. Writing them takes a minute or more on a slow disk, so
// KTEST_STATS_BENCH_DIR=DIR keeps the tree in DIR across benchmark runs
// (written once, when DIR has no run directories yet); without it the tree
// goes in a temporary directory removed afterwards.
func syntheticTree(b *testing.B) string {
	b.Helper()
	base := os.Getenv("KTEST_STATS_BENCH_DIR")
	if base == "" {
		base = b.TempDir()
	} else if dirs, err := ListRunDirs(base); err == nil && len(dirs) == 2000 {
		return base
	}
	writeSyntheticSidecars(b, base, 2000, 50)
	return base
}

// BenchmarkStats100k is `ktest stats` without the printing: find, read and
// aggregate 2,000 runs holding 100,000 skip sidecars (warm page cache). The
// goal is under 1 s per op on 2 cores.
func BenchmarkStats100k(b *testing.B) {
	base := syntheticTree(b)
	cpu0 := processCPU(b)
	for b.Loop() {
		dirs, err := FindRunDirs([]string{base})
		if err != nil {
			b.Fatal(err)
		}
		runs := ReadRunDirs(dirs)
		s := ComputeStats(runs, StatsOptions{Dirs: []string{base}, Now: time.Now(), Top: 10})
		if s.SkipSidecars != 100000 || s.Runs.Complete != 2000 {
			b.Fatalf("read %d sidecars in %d runs, want 100000 in 2000", s.SkipSidecars, s.Runs.Complete)
		}
	}
	// On a shared machine wall time depends on the neighbours; the CPU
	// time (user+sys of the whole process, all threads) says what the
	// work costs.
	b.ReportMetric(float64((processCPU(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// processCPU is the user+sys CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReadRunDirSerial is the plain ReadRunDir over the same tree, one
// directory after another: the baseline ReadRunDirs improves on.
func BenchmarkReadRunDirSerial100k(b *testing.B) {
	base := syntheticTree(b)
	b.ResetTimer()
	for b.Loop() {
		dirs, err := ListRunDirs(base)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, d := range dirs {
			n += len(ReadRunDir(d).Skips)
		}
		if n != 100000 {
			b.Fatalf("read %d sidecars", n)
		}
	}
}
