package runner

import (
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/skipreport"
)

// runFacts are run.json fields that cost a process or a file hash to learn.
// They are gathered while the tests run, off the critical path.
type runFacts struct {
	done          chan struct{}
	kernelSHA256  string
	projectCommit string
	goVersion     string
}

func gatherRunFacts(opts Options, k *preflight.Kernel) *runFacts {
	f := &runFacts{done: make(chan struct{})}
	go func() {
		defer close(f.done)
		if k != nil {
			f.kernelSHA256 = kernelSHA256(k)
		}
		f.projectCommit = commandLine(opts, "git", "rev-parse", "HEAD")
		f.goVersion = goVersionOf(opts)
	}()
	return f
}

// kernelSHA256 takes the hash ktest recorded when it stored the entry, and
// hashes the image otherwise.
func kernelSHA256(k *preflight.Kernel) string {
	if k.Entry != nil && k.Entry.Metadata != nil {
		if sum, ok := k.Entry.Metadata.ExtraString("sha256"); ok && sum != "" {
			return sum
		}
	}
	f, err := os.Open(k.Path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

func goVersionOf(opts Options) string {
	_, v, _ := GoVersion(opts.Env)
	return v
}

// GoVersion finds the go command for env (KTEST_GO, else PATH) and reads its
// version from its build info (the go command is built by its own
// toolchain), without running it: running the user's go again could have
// side effects, and could hang.
func GoVersion(env []string) (path, version string, err error) {
	path, err = lookupGo(env)
	if err != nil {
		return "", "", err
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return path, "", fmt.Errorf("read go version from %s: %w", path, err)
	}
	return path, info.GoVersion, nil
}

// commandLine runs a short command in the run's directory and returns its
// first output line, or "" when it fails.
func commandLine(opts Options, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = opts.Dir, opts.Env
	cmd.WaitDelay = time.Second // a straggler holding stdout must not hang the run
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

func kernelRecord(k *preflight.Kernel, sum string) *skipreport.KernelRecord {
	if k == nil {
		return nil
	}
	rec := &skipreport.KernelRecord{Path: k.Path, Version: k.Image.Release, SHA256: sum, Source: k.Source}
	if k.Entry != nil {
		rec.CacheKey = k.Entry.Key
	}
	return rec
}

// runSource is "ci" when KTSTR_CI or CI is non-empty, else "local".
func runSource(opts Options) string {
	if opts.getenv("KTSTR_CI") != "" || opts.getenv("CI") != "" {
		return "ci"
	}
	return "local"
}

// writeRunRecord writes run.json for a finished run.
func writeRunRecord(dir *skipreport.RunDir, opts Options, res *Result, pre *preflight.Report, lease *kernelLease, facts *runFacts, runErr error) error {
	<-facts.done
	rec := skipreport.RunRecord{
		RunID:      dir.ID,
		Start:      res.Started.UTC(),
		End:        res.Started.Add(res.Elapsed).UTC(),
		Argv:       opts.Argv,
		GoTestArgs: opts.GoArgs,
		ExitCode:   ExitCode(runErr),
		Verdict:    string(res.Verdict),
		Counts: skipreport.RunCounts{
			Passed: res.Counts.Passed, Failed: res.Counts.Failed, Skipped: res.Counts.Skipped,
			SkippedByCategory: res.SkipCategories,
		},
		Host:          pre.Host,
		RunSource:     runSource(opts),
		ProjectCommit: facts.projectCommit,
		GoVersion:     facts.goVersion,
		Packages:      packageRecords(res),
		Shard:         opts.Shard.String(),
		Policy:        res.Policy,
		KVM: &skipreport.KVMRecord{
			Device: pre.KVM.Device, Status: pre.KVM.Status, APIVersion: pre.KVM.APIVersion,
			Probe: probeOutcome(pre.KVM), Accel: pre.KVM.Accel, NsPerIteration: pre.KVM.NsPerIteration, Cached: pre.KVM.Cached,
		},
	}
	if pre.Unavailable == nil {
		rec.Kernel = kernelRecord(pre.Kernel(), facts.kernelSHA256)
	}
	if u := pre.Unavailable; u != nil {
		rec.Unavailable = &skipreport.Unavailability{Category: u.Category, Reason: u.Reason, Errno: u.Errno}
	}
	if lease != nil {
		rec.Lock = lease.record
	}
	return dir.WriteRun(rec)
}

func probeOutcome(r preflight.KVMReport) string {
	switch {
	case r.HLTProbePassed:
		return "ok"
	case r.APIVersion == 0:
		return "skipped"
	}
	return "failed"
}

func packageRecords(res *Result) []skipreport.PackageRecord {
	if res.exec == nil {
		return nil
	}
	var out []skipreport.PackageRecord
	for _, name := range res.exec.Packages() {
		if name == "" {
			continue // build output, which testjson files under no package
		}
		p := res.exec.Package(name)
		out = append(out, skipreport.PackageRecord{
			Name: name, Result: string(p.Result()), ElapsedMS: p.Elapsed().Milliseconds(),
			Tests:  len(p.Passed) + len(p.Failed) + len(p.Skipped),
			Passed: len(p.Passed), Failed: len(p.Failed), Skipped: len(p.Skipped),
		})
	}
	return out
}
