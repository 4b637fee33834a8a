package kerneltest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/guestevent"
	"github.com/ktest-dev/ktest/internal/testproto"
	"github.com/ktest-dev/ktest/internal/vmm"
	"github.com/ktest-dev/ktest/internal/vmproto"
)

// Config describes the guest a kerneltest.Run body runs in.
type Config struct {
	// Kernel is the kernel image; "" takes the one ktest gave the test
	// (Kernel(t), which skips when there is none).
	Kernel string
	// CPUs and MemoryMB size the guest (defaults 2 and 1024, or what
	// Topology says).
	CPUs     int
	MemoryMB int
	// Topology lays out the CPUs and memory; CPUs and MemoryMB must then
	// be 0 or agree with it.
	Topology *Topology
	// Modules are kernel modules (names or aliases) loaded in the guest
	// before the body runs.
	Modules []string
	// Timeout bounds the body (default 2 minutes, and never past the test
	// binary's -timeout); booting has a bound of its own on top. A body
	// that runs out of time fails its test with every guest goroutine's
	// stack.
	Timeout time.Duration
}

// Topology is the guest's CPU and memory layout, mapped onto QEMU's -smp
// and -numa: Sockets × Cores × Threads CPUs, and optionally NUMA nodes,
// each with the next Node.CPUs CPUs in order and Node.MemoryMB of memory
// (the nodes share out all CPUs and memory).
type Topology struct {
	Sockets, Cores, Threads int
	NUMA                    []Node
}

// Node is one NUMA node of a Topology.
type Node struct {
	CPUs     int
	MemoryMB int
}

// CPUs is the number of CPUs of the topology.
func (t Topology) CPUs() int { return t.Sockets * t.Cores * t.Threads }

func (t Topology) vmm() *vmm.Topology {
	v := &vmm.Topology{Sockets: t.Sockets, Cores: t.Cores, Threads: t.Threads}
	for _, n := range t.NUMA {
		v.NUMA = append(v.NUMA, vmm.NUMANode{CPUs: n.CPUs, MemoryMB: n.MemoryMB})
	}
	return v
}

// Result is what a guest body left for the host test.
type Result struct {
	values map[string]json.RawMessage
	// Output is the guest test binary's own output (its stdout without
	// the events, and its stderr), at most its last 256 KiB.
	Output string
	// Console is the guest kernel's console.
	Console string
	// Boot is the time from starting the VM until the test binary ran,
	// Total until the VM was gone.
	Boot, Total time.Duration
}

// Value decodes the value the body reported under key (G.Report) into v,
// as json.Unmarshal does.
func (r *Result) Value(key string, v any) error {
	raw, ok := r.values[key]
	if !ok {
		return fmt.Errorf("kerneltest: the guest reported no value %q (it reported %s)", key, r.keyList())
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("kerneltest: value %q: %w", key, err)
	}
	return nil
}

// Keys lists the keys the body reported, sorted.
func (r *Result) Keys() []string {
	keys := make([]string, 0, len(r.values))
	for k := range r.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (r *Result) keyList() string {
	if len(r.values) == 0 {
		return "none"
	}
	return strings.Join(r.Keys(), ", ")
}

// launch runs a guest; tests of this package run the test binary as a
// plain child process instead.
var launch = vmm.Run

// ran are the tests that have called Run, which may be called once per
// test.
var ran sync.Map

// Run runs body inside a guest kernel booted for the test, as root, with
// the host's filesystem visible read-only at the same paths and a fresh
// /tmp. The guest runs this very test binary again (`-test.run` selecting
// this test only), so a body is plain Go in the test file: no second
// program, no build at test time, and a `go test -c` binary works on a
// machine without Go.
//
// The body's results become the test's: its logs and errors are the
// test's (at the body's lines), a g.Run subtest is a subtest of the same
// name, a g.Skipf skips the test with the SKIP banner (category guest), a
// panic fails it with the guest's stack, and a body that runs out of time
// fails it with every guest goroutine's stack. Values the body reports
// (G.Report) come back typed through the returned Result. When the body
// stopped (Fatalf, panic, timeout) or the guest did not run it to its end,
// the test stops too (t.FailNow); when it skipped, the test is skipped.
// A boot that fails is the test's failure, with the kernel console.
//
// Code before Run in the test function runs on the host and again in the
// guest, on the way to the body; code after Run runs on the host only.
// Run may be called once per test; for several guests, use subtests
// (t.Run, or Gauntlet). Like t.Fatal, Run must be called from the
// goroutine running the test.
//
// Run skips the test as Kernel does when there is no kernel, and with the
// no-qemu banner when QEMU is not installed. A test that already runs in
// a ktest guest (ktest --vm) runs the body in place, in that guest, with
// the same mapping of results (Config's machine is then not applied).
func Run(t *testing.T, cfg Config, body func(g *G)) *Result {
	t.Helper()
	if s, ok := os.LookupEnv(guestevent.EnvRun); ok {
		req, err := guestevent.ParseRequest(s)
		if err != nil {
			t.Fatalf("kerneltest: %v", err)
		}
		switch {
		case req.Test == t.Name():
			runGuest(t, req, body)
		case strings.HasPrefix(req.Test, t.Name()+"/"):
			// On the way to a subtest's body: this test's own guest
			// runs on the host only.
			return &Result{}
		}
		t.SkipNow()
	}
	if _, loaded := ran.LoadOrStore(t, true); loaded {
		t.Fatalf("kerneltest: Run called twice in test %s; use subtests (t.Run) for several guests", t.Name())
	}
	if os.Getenv(vmproto.GuestEnv) == "1" {
		return runDirect(t, body)
	}
	return runHost(t, cfg, body)
}

// bootAllowance bounds the boot, on top of the body's timeout.
const bootAllowance = 2 * time.Minute

// defaultTimeout bounds a body when Config.Timeout is 0.
const defaultTimeout = 2 * time.Minute

func runHost(t *testing.T, cfg Config, body func(*G)) *Result {
	t.Helper()
	spec, timeout, err := hostSpec(t, cfg)
	if err != nil {
		t.Fatalf("kerneltest: %v", err)
	}
	if spec.Kernel == "" {
		spec.Kernel = Kernel(t)
	}
	nonce := randomNonce()
	req, _ := json.Marshal(guestevent.Request{V: guestevent.Version, Test: t.Name(), Nonce: nonce, TimeoutMS: timeout.Milliseconds()})
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("kerneltest: find the test binary: %v", err)
	}
	spec.Argv = append([]string{exe, "-test.run=" + runPattern(t.Name()), "-test.count=1",
		"-test.timeout=" + (timeout + 30*time.Second).String()}, coverArgs(&spec)...)
	spec.Env = guestEnv(os.Environ(), string(req))
	if spec.Dir, err = os.Getwd(); err != nil {
		t.Fatalf("kerneltest: %v", err)
	}
	spec.Timeout = bootAllowance + timeout + 30*time.Second
	spec.CacheDir = os.Getenv(testproto.EnvVMCacheDir)

	rep := newReplay(t.Name())
	pr, pw := io.Pipe()
	spec.Stdout = pw
	spec.Stderr = &rep.output
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		rep.read(guestevent.NewReader(pr, nonce))
		_, _ = io.Copy(io.Discard, pr)
	}()
	type outcome struct {
		res *vmm.Result
		err error
	}
	ran := make(chan outcome, 1)
	go func() {
		res, err := launch(context.Background(), spec)
		pw.Close()
		ran <- outcome{res, err}
	}()

	ht := realT{t}
	rep.play(ht, rep.root, true)
	o := <-ran
	<-readDone
	return finish(t, ht, rep, o.res, o.err)
}

// finish checks the run's end against the events, reports what went
// wrong on the root test and returns the result; it stops or skips the
// test as the body did.
func finish(t *testing.T, ht hostT, rep *replay, res *vmm.Result, err error) *Result {
	t.Helper()
	w := ht.Output()
	out := &Result{values: rep.values, Output: rep.output.String()}
	if res != nil {
		out.Console, out.Boot, out.Total = res.Console, res.Boot, res.Total
	}
	for _, p := range rep.problems {
		fmt.Fprintf(w, "kerneltest: %s\n", p)
		ht.Fail()
	}
	var se *vmm.SetupError
	var be *vmm.BootError
	switch {
	case errors.As(err, &se) && isNoQEMU(se):
		skipTest(t, skipSite{category: testproto.NoQEMU, reason: se.Error(), hints: []string{"install QEMU (apt-get install qemu-system-x86)"}})
	case err != nil && !rep.ended && !rep.stopped:
		fmt.Fprintf(w, "kerneltest: the guest did not run the body to its end: %v\n", err)
		if !errors.As(err, &be) && out.Console != "" {
			fmt.Fprintf(w, "--- kernel console (last lines) ---\n%s\n", tail(out.Console, 100))
		}
		if res != nil && res.Dump != "" {
			fmt.Fprintf(w, "--- guest dump at the hard bound (blocked tasks, CPU backtraces) ---\n%s\n", strings.TrimRight(res.Dump, "\n"))
		}
		ht.Fail()
	case !rep.ended && !rep.stopped:
		code := -1
		if res != nil {
			code = res.ExitCode
		}
		fmt.Fprintf(w, "kerneltest: the guest test binary ended (exit status %d) before the body did\n", code)
		ht.Fail()
	case rep.ended && !rep.stopped && rep.status != guestevent.Fail && res != nil && res.ExitCode != 0:
		fmt.Fprintf(w, "kerneltest: the guest test binary exited with status %d after the body ended (%s)\n", res.ExitCode, rep.status)
		ht.Fail()
	}
	if s := strings.TrimSpace(out.Output); s != "" && s != "PASS" && (ht.Failed() || testing.Verbose()) {
		fmt.Fprintf(w, "--- guest test binary output ---\n%s\n", strings.TrimSuffix(out.Output, "\n"))
	}
	switch {
	case ht.Failed() && (rep.stopped || !rep.ended):
		t.FailNow()
	case rep.ended && rep.status == guestevent.Skipped && !ht.Failed():
		ht.Skip(skipReason(rep.skip))
	}
	return out
}

func isNoQEMU(e *vmm.SetupError) bool {
	return strings.Contains(strings.ToLower(e.What), "qemu") && errors.Is(e.Err, exec.ErrNotFound)
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// hostSpec is the machine part of the spec, and the body's timeout.
func hostSpec(t *testing.T, cfg Config) (vmm.Spec, time.Duration, error) {
	s := vmm.Spec{Kernel: cfg.Kernel, CPUs: cfg.CPUs, MemoryMB: cfg.MemoryMB, Modules: slices.Clone(cfg.Modules)}
	if cfg.Topology != nil {
		top := cfg.Topology.vmm()
		if err := top.Validate(cfg.MemoryMB); err != nil {
			return s, 0, err
		}
		if cfg.CPUs != 0 && cfg.CPUs != top.CPUs() {
			return s, 0, fmt.Errorf("Config.CPUs is %d, its topology has %d CPUs", cfg.CPUs, top.CPUs())
		}
		s.Topology, s.CPUs = top, top.CPUs()
		if m := top.MemoryMB(); m != 0 {
			s.MemoryMB = m
		}
	}
	if s.CPUs == 0 {
		s.CPUs = 2
	}
	if s.MemoryMB == 0 {
		s.MemoryMB = 1024
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	if dl, ok := t.Deadline(); ok {
		// Leave the boot and a margin before go's own timeout.
		left := time.Until(dl) - bootAllowance/4 - 30*time.Second
		if left < timeout {
			timeout = max(left, 5*time.Second)
		}
	}
	return s, timeout, nil
}

// runPattern is the -test.run pattern that selects exactly the test
// named name (a test or subtest's full name).
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// guestEnv is the guest test binary's environment: the host's, with the
// request, and TMPDIR on the guest's own /tmp.
func guestEnv(env []string, req string) []string {
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if k == guestevent.EnvRun || k == "TMPDIR" {
			continue
		}
		out = append(out, kv)
	}
	return append(out, guestevent.EnvRun+"="+req, "TMPDIR=/tmp")
}

// coverArgs passes go test's coverage directory on, so that the guest's
// counters join the host's profile; the directory becomes writable in
// the guest.
func coverArgs(s *vmm.Spec) []string {
	f := flag.Lookup("test.gocoverdir")
	if f == nil || f.Value.String() == "" {
		return nil
	}
	dir := f.Value.String()
	s.Writable = append(s.Writable, dir)
	return []string{"-test.gocoverdir=" + dir}
}

func randomNonce() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// InGuest reports whether this process is a guest of kerneltest.Run: the
// test binary run again inside the VM. Code before Run runs on the host
// and again in the guest, on the way to the body; what only the host
// needs (finding files to boot, building Config) can be skipped there,
// where Run ignores its Config.
func InGuest() bool {
	_, ok := os.LookupEnv(guestevent.EnvRun)
	return ok
}
