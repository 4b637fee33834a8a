package skipreport

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// -update-stats rewrites the stats fixtures (testdata/stats/shard-*) with
// the real writers and the stats golden files. It is not -update because
// other test files of the package may define that.
var updateStats = flag.Bool("update-stats", false, "rewrite testdata/stats fixtures and golden files")

const statsFixtures = "testdata/stats"

// statsNow is the fixed "now" of the golden reports.
var statsNow = time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)

// TestGenerateStatsFixtures writes testdata/stats/shard-a and shard-b with
// WriteRun and WriteSkip, plus the damaged files a real directory can hold:
// truncated and corrupt JSON, future schemas, unknown files, a run killed
// before run.json. It runs only with -update-stats; the files are checked in.
func TestGenerateStatsFixtures(t *testing.T) {
	if !*updateStats {
		t.Skip("fixtures are checked in; -update-stats regenerates them")
	}
	for _, shard := range []string{"shard-a", "shard-b"} {
		if err := os.RemoveAll(filepath.Join(statsFixtures, shard)); err != nil {
			t.Fatal(err)
		}
	}
	laptop := HostSnapshot{Hostname: "dev-laptop", KernelRelease: "6.1.0-56-cloud-amd64", MemAvailable: 6 << 30, MemTotal: 16 << 30,
		Load1: 0.5, OnlineCPUs: 8, OpenFDs: 9, NoFileSoft: 1 << 20, NoFileHard: 1 << 20}
	ci1, ci2 := laptop, laptop
	ci1.Hostname, ci2.Hostname = "ci-1", "ci-2"
	k61 := &KernelRecord{Path: "/root/.cache/ktstr/kernels/6.1.0-56-cloud-amd64/bzImage", CacheKey: "6.1.0-56-cloud-amd64",
		Version: "6.1.0-56-cloud-amd64", SHA256: "5d1e", Source: "cache"}
	kTree := &KernelRecord{Path: "/src/linux/arch/x86/boot/bzImage", Source: "build-tree"}
	adder := HolderRecord{PID: 4242, Mode: "LOCK_EX", Cmdline: "ktest kernel add /tmp/linux/arch/x86/boot/bzImage"}
	cleaner := HolderRecord{PID: 5151, Mode: "LOCK_EX", Cmdline: "cargo ktstr kernel clean"}
	const boot, net = "example.com/suite/boot", "example.com/suite/net"
	busy := "KVM_CREATE_VM: device or resource busy (EBUSY)"
	lockTimeout := "flock LOCK_SH on cache entry \"6.1.0-56-cloud-amd64\" timed out after 10s"

	type fixtureRun struct {
		shard, id string
		run       *RunRecord // nil: the run was killed before run.json
		skips     []SkipRecord
		files     map[string]string // damaged or foreign files, relative to the run dir
	}
	at := func(id string) time.Time {
		tm, ok := runDirTime(id)
		if !ok {
			t.Fatalf("bad fixture id %s", id)
		}
		return tm
	}
	runs := []fixtureRun{
		{shard: "shard-a", id: "20261120T090000Z-0000a001",
			run: &RunRecord{Verdict: "PASS", RunSource: "local", Host: laptop, Kernel: k61,
				Counts:   RunCounts{Passed: 8, Skipped: 2, SkippedByCategory: map[string]int{"contention": 2}},
				Lock:     &LockRecord{Mode: "LOCK_SH", WaitedMS: 120, Acquired: true, Holders: []HolderRecord{adder}},
				Packages: []PackageRecord{{Name: boot, Result: "ok", Tests: 6}, {Name: net, Result: "ok", Tests: 4}}},
			skips: []SkipRecord{
				{Package: boot, Test: "TestBoot", Category: Contention, Reason: busy, Errno: "EBUSY"},
				{Package: net, Test: "TestNet/ipv6", Category: Contention, Reason: busy, Errno: "EBUSY"},
			}},
		{shard: "shard-a", id: "20261121T100000Z-0000a002",
			run: &RunRecord{Verdict: "FAIL", ExitCode: 1, RunSource: "ci", Host: ci1,
				// One skip without a ktest banner: skipped_by_category
				// leaves it out, and stats counts it as "other".
				Counts:      RunCounts{Passed: 5, Failed: 1, Skipped: 4, SkippedByCategory: map[string]int{"no-kernel": 3}},
				Unavailable: &Unavailability{Category: NoKernel, Reason: "no kernel found"},
				Packages:    []PackageRecord{{Name: boot, Result: "FAIL", Tests: 6}, {Name: net, Result: "ok", Tests: 4}}},
			skips: []SkipRecord{
				{Category: NoKernel, Reason: "no kernel found"}, // run-level SKIP site, no test
				{Package: boot, Test: "TestBoot", Category: NoKernel, Reason: "no kernel found"},
				{Package: boot, Test: "TestBootSMP", Category: NoKernel, Reason: "no kernel found"},
				{Package: net, Test: "TestNet/ipv6", Category: NoKernel, Reason: "no kernel found"},
			}},
		{shard: "shard-a", id: "20261122T110000Z-0000a003", // killed: no run.json
			skips: []SkipRecord{
				{Package: boot, Test: "TestBoot", Category: Contention, Reason: lockTimeout, Holders: []HolderRecord{cleaner}},
			}},
		{shard: "shard-a", id: "20261123T120000Z-0000a004",
			skips: []SkipRecord{{Package: boot, Test: "TestBoot", Category: NoKVM, Reason: "open /dev/kvm: no such file or directory", Errno: "ENOENT"}},
			files: map[string]string{
				"run.json": `{"schema":"ktest.run/v1","run_id":"20261123T120000Z-0000a004","start":"2026-11-23T12:00:00Z","counts":{"pas`,
				"skips/20261123T120001.000000000Z-trunc.json": `{"schema":"ktest.skip/v1","package":"example.com/suite/boot","test":"TestBo`,
				"skips/20261123T120002.000000000Z-junk.json":  "\x00\x01 not json at all\n",
				"skips/20261123T120003.000000000Z-v9.json":    `{"schema":"ktest.skip/v9","package":"example.com/suite/boot","test":"TestBoot","category":"quantum-flux"}` + "\n",
				"skips/notes.txt": "left here by hand\n",
				"skips/.20261123T120004.000000000Z-tmp.json.tmp": "{\"schema\":\"ktest.sk",
				"core.4242": "\x7fELF",
			}},
		{shard: "shard-a", id: "20261124T130000Z-0000a005",
			files: map[string]string{
				"run.json": `{"schema":"ktest.run/v2","run_id":"20261124T130000Z-0000a005","start":"2026-11-24T13:00:00Z","counts":{"passed":"many"}}` + "\n",
			}},
		{shard: "shard-b", id: "20261125T140000Z-0000b001",
			run: &RunRecord{Verdict: "SKIP", RunSource: "ci", Host: ci2, Shard: "1/2",
				Counts:      RunCounts{Skipped: 5, SkippedByCategory: map[string]int{"no-kvm": 5}},
				Unavailable: &Unavailability{Category: NoKVM, Reason: "open /dev/kvm: no such file or directory", Errno: "ENOENT"},
				Packages:    []PackageRecord{{Name: boot, Result: "ok", Tests: 5}}},
			skips: []SkipRecord{
				{Package: boot, Test: "TestBoot", Category: NoKVM, Reason: "open /dev/kvm: no such file or directory", Errno: "ENOENT"},
				{Package: boot, Test: "TestBootSMP", Category: NoKVM, Reason: "open /dev/kvm: no such file or directory", Errno: "ENOENT"},
			}},
		{shard: "shard-b", id: "20261126T150000Z-0000b002",
			run: &RunRecord{Verdict: "INTERRUPTED", ExitCode: 130, RunSource: "local", Host: laptop, Kernel: kTree, Shard: "2/2",
				Counts:   RunCounts{Passed: 1, Skipped: 1, SkippedByCategory: map[string]int{"contention": 1}},
				Lock:     &LockRecord{Mode: "LOCK_SH", WaitedMS: 10000, Acquired: false, Holders: []HolderRecord{adder, cleaner}},
				Packages: []PackageRecord{{Name: boot, Result: "FAIL", Tests: 2}}},
			skips: []SkipRecord{
				{Package: boot, Test: "TestBoot", Category: Contention, Reason: lockTimeout, Holders: []HolderRecord{adder, cleaner}},
			}},
		{shard: "shard-b", id: "20261128T160000Z-0000b003",
			run: &RunRecord{Verdict: "PASS", RunSource: "ci", Host: ci1, Kernel: k61,
				Counts:   RunCounts{Passed: 10, SkippedByCategory: map[string]int{}},
				Lock:     &LockRecord{Mode: "LOCK_SH", WaitedMS: 5, Acquired: true},
				Packages: []PackageRecord{{Name: boot, Result: "ok", Tests: 6}, {Name: net, Result: "ok", Tests: 4}}}},
	}
	for _, fr := range runs {
		start := at(fr.id)
		d := &RunDir{ID: fr.id, Path: filepath.Join(statsFixtures, fr.shard, fr.id)}
		if err := os.MkdirAll(d.Path, 0o755); err != nil {
			t.Fatal(err)
		}
		if fr.run != nil {
			rec := *fr.run
			rec.Start, rec.End = start, start.Add(90*time.Second)
			rec.Argv = []string{"ktest", "./..."}
			rec.GoTestArgs = []string{"./..."}
			rec.GoVersion = "go1.26.8"
			rec.Host.TakenAt = start
			if err := d.WriteRun(rec); err != nil {
				t.Fatal(err)
			}
		}
		for i, sk := range fr.skips {
			sk.RunID = fr.id
			sk.Time = start.Add(time.Duration(i+1) * time.Second)
			sk.Host, sk.RunSource = laptop, "local"
			if fr.run != nil {
				sk.Host, sk.Kernel, sk.RunSource = fr.run.Host, fr.run.Kernel, fr.run.RunSource
			}
			sk.Host.TakenAt = sk.Time
			path, err := WriteSkip(d.Path, sk)
			if err != nil {
				t.Fatal(err)
			}
			// WriteSkip names files with a random suffix; fixtures get
			// stable names so that regenerating them changes nothing.
			stable := filepath.Join(filepath.Dir(path), sk.Time.Format("20060102T150405.000000000Z")+"-fixture.json")
			if err := os.Rename(path, stable); err != nil {
				t.Fatal(err)
			}
		}
		for name, content := range fr.files {
			path := filepath.Join(d.Path, name)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Not run directories: a base directory may hold other things, and
	// stats ignores them as pruning does.
	for _, path := range []string{"shard-a/README", "empty/README"} {
		if err := os.MkdirAll(filepath.Join(statsFixtures, filepath.Dir(path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(statsFixtures, path), []byte("not a run directory: ktest stats ignores this file\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
