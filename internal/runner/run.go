package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gotest.tools/gotestsum/testjson"

	"github.com/ktest-dev/ktest/internal/fdlimit"
	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/skipreport"
	"github.com/ktest-dev/ktest/internal/termtext"
	"github.com/ktest-dev/ktest/internal/vmenv"
)

// drainTimeout bounds the wait for go test's output pipes after every
// process of the run is gone; only a process outside the run's tree (one
// that opened the pipe through /proc, or got it over a socket) can still
// hold them.
const drainTimeout = 2 * time.Second

// Result describes a finished go test run.
type Result struct {
	Verdict  Verdict
	Counts   Counts
	GoExit   int
	Started  time.Time
	Elapsed  time.Duration
	Signal   os.Signal // the signal that interrupted the run, or nil
	Command  string    // the go test command line, shell-quoted
	Unfinish []string  // tests that never reported a verdict
	// BootFailures are the packages whose guest gave no verdict under
	// --vm (a vm-exec BOOT FAILURE).
	BootFailures []string
	// SkipCategories counts skipped tests by the SKIP banner category in
	// their skip message ("other" without one).
	SkipCategories map[string]int
	// RunDir is the run's sidecar directory ("" in a dry run).
	RunDir string
	// Policy is the skip policy in force and whether it fired.
	Policy *skipreport.PolicyRecord

	exec *testjson.Execution
}

// Run runs the pipeline of docs/spec.md §3: KVM preflight, kernel resolution, the
// shared lock on the kernel's cache entry, the sidecar directory, then go
// test as a child with the kernel exported, and finally the summary, JUnit
// and run.json. With several kernels (Options.Kernels), go test runs once
// per kernel in the order given, each pass under its own kernel's lock
// (docs/spec.md §14). The error is nil when go test passed, an *ExitError
// carrying go's exit code when it failed, an *InterruptedError after SIGINT
// or SIGTERM, and any other error when ktest could not do its own job.
func Run(ctx context.Context, opts Options) (*Result, error) {
	started := time.Now()
	goPath, err := lookupGo(opts.Env)
	if err != nil {
		return nil, err
	}
	if err := checkOutputs(opts); err != nil {
		return nil, err
	}
	goArgs, shardPkgs, shardBy, err := shardArgs(ctx, opts, goPath)
	if err != nil {
		return nil, err
	}
	cmd := buildGoCommand(goPath, goArgs)
	emptyShard := shardPkgs != nil && len(shardPkgs) == 0

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	signals := newSignalRouter(cancel, opts.Stderr, opts.gracePeriod())
	defer signals.stop()

	var children []*pendingChild
	defer func() {
		for _, c := range children {
			c.abandon()
		}
	}()
	if !opts.DryRun {
		// go test's supervisor starts first: its start-up overlaps the
		// preflight, the lock and the sidecar work.
		children = append(children, prepareChildAsync(ctx, opts.gracePeriod(), opts.Stderr))
	}

	var outs *outputs
	if !opts.DryRun {
		// Before the tests: an output that cannot be written fails
		// the run now, not after the suite.
		outs, err = openOutputs(ctx, opts)
		// Uncommitted outputs are dropped: the old reports stay.
		defer outs.abort()
		if ctx.Err() != nil {
			return interrupted(opts, started, signals)
		}
		if err != nil {
			return nil, err
		}
	}

	reports, err := preflight.CheckKernels(ctx, opts.preflightOptions(), opts.Kernels)
	if ctx.Err() != nil {
		return interrupted(opts, started, signals)
	}
	if err != nil {
		return nil, err
	}
	passes := newPasses(opts.Kernels, reports)
	multi := len(passes) > 1
	var vm *vmPlan
	if opts.VM != nil {
		if vm, err = planVM(opts, passes); err != nil {
			return nil, err
		}
		cmd = vm.withVM(cmd, opts)
	}
	warned := map[string]bool{}
	for _, p := range passes {
		for _, w := range p.pre.Resolution.Warnings {
			if !warned[w] {
				warned[w] = true
				fmt.Fprintf(opts.Stderr, "ktest: warning: %s\n", termtext.Line(w))
			}
		}
	}
	if opts.DryRun {
		// Before the lock: a dry run locks, creates and runs nothing, so it
		// never waits for another process's lock either.
		printDryRunPasses(opts, passes, vm, cmd, shardPkgs, shardBy)
		return &Result{Verdict: VerdictPass, Command: cmd.String()}, nil
	}

	if vm != nil {
		cleanup, err := vm.prepareSlots(passes)
		if err != nil {
			return nil, err
		}
		defer cleanup()
	}
	shared := newSharedOutputs(opts, outs)
	var (
		runDir  *skipreport.RunDir
		facts   *runFacts
		passErr error // a ktest error that stopped the passes
	)
	// The run directory stays locked until the run is over, so that
	// pruning by later runs leaves it alone.
	defer func() { runDir.Close() }()
	for i, p := range passes {
		if i > 0 {
			if signals.received() != nil {
				break // a signal came between two passes
			}
			children = append(children, prepareChildAsync(ctx, opts.gracePeriod(), opts.Stderr))
		}
		child := children[len(children)-1]
		lease, err := lockKernel(ctx, p.pre, opts.lockTimeout(), opts.Stderr, p.resolveAgain(opts, multi))
		if ctx.Err() != nil {
			if i == 0 {
				return interrupted(opts, started, signals)
			}
			break // the remaining passes do not run
		}
		if err != nil {
			if i == 0 {
				return nil, err
			}
			passErr = fmt.Errorf("kernel %s: %w", p.name(), err)
			break
		}
		p.lease = lease
		if multi && p.pre.Kernel() == nil {
			// The entry went away before the pass: its records still
			// name the kernel it was about.
			p.pre.Resolution.Kernel = p.resolved
		}
		p.digest = digestKernel(p.pre.Kernel())
		if i == 0 {
			// Sidecars are records, not the job: when their directory
			// cannot be made (a read-only checkout), the tests still
			// run, without them.
			runDir, err = skipreport.CreateRunDir(opts.sidecarBase(), started)
			if err != nil {
				fmt.Fprintf(opts.Stderr, "ktest: warning: %v; running without sidecars\n", err)
				if h := fdlimit.Hint(err); h != "" {
					fmt.Fprintf(opts.Stderr, "  hint: %s\n", h)
				}
				runDir = nil
			}
			facts = gatherRunFacts(opts)
		}
		if u := p.pre.Unavailable; u != nil {
			reportUnavailable(opts, p.pre, runDir)
		}
		set, unset := exportedEnv(p.pre, runDir.PathOrEmpty(), runDir.IDOrEmpty())
		// A KTEST_VM_CONFIG of ktest's own environment never reaches
		// go test: only --vm's own.
		env := mergeEnv(opts.Env, append(set, p.vmEnv()...), append(unset, vmenv.Env))

		if multi {
			printPassHeader(opts, cmd, shared, p)
		}
		p.sink, err = shared.newSink(opts, cmd, p.label, p.kernelPath())
		if err != nil {
			lease.release()
			return nil, err
		}
		p.started = time.Now()
		var res *Result
		if emptyShard {
			// An empty shard runs nothing: go test without packages would
			// test the current directory instead.
			if i == 0 {
				fmt.Fprintf(opts.Stderr, "ktest: shard %s has no packages\n", opts.Shard)
			}
			res = &Result{Verdict: VerdictPass}
		} else {
			res, err = runGoTest(ctx, opts, child, cmd, env, p.sink, signals)
		}
		// go test's whole process group is gone: the kernel's lock is
		// free for its writers, and the next pass takes its own.
		lease.release()
		signals.detach()
		p.elapsed = time.Since(p.started)
		if err != nil {
			if i == 0 {
				return nil, err
			}
			passErr = fmt.Errorf("kernel %s: %w", p.name(), err)
			break
		}
		res.SkipCategories = skipCategories(res.exec)
		p.res = res
		if res.Signal != nil {
			break // the remaining passes do not run
		}
	}
	res := combine(passes)
	res.Started, res.Command, res.RunDir = started, cmd.String(), runDir.PathOrEmpty()
	res.Elapsed = time.Since(started)
	if multi && res.Signal == nil {
		// A signal between passes, or while the next one waited for
		// its lock, stopped the run too.
		res.Signal = signals.received()
		if res.Signal != nil {
			res.Verdict = VerdictInterrupted
		}
	}
	runErr := finish(opts, res, passes, shared, outs, passErr)
	if runDir != nil {
		if err := writeRunRecord(runDir, opts, res, passes, vm, facts, runErr); err != nil {
			fmt.Fprintf(opts.Stderr, "ktest: warning: %v\n", err)
		}
	}
	return res, runErr
}

// interrupted ends a run stopped by a signal before go test started.
func interrupted(opts Options, started time.Time, signals *signalRouter) (*Result, error) {
	res := interruptedResult(signals)
	res.Started, res.Elapsed = started, time.Since(started)
	fmt.Fprintln(opts.Stderr, summaryLine(res.Verdict, res.Counts, res.Elapsed, []string{signalName(res.Signal) + " before go test started"}))
	return res, &InterruptedError{Signal: res.Signal}
}

// sharedOutputs are what every pass of a run writes to: ktest's stderr,
// the JUnit report and the --jsonfile.
type sharedOutputs struct {
	stderr   *lockedWriter
	junit    *junitBuilder // nil without --junitfile
	eventLog *bufio.Writer // nil without --jsonfile
}

func newSharedOutputs(opts Options, outs *outputs) *sharedOutputs {
	sh := &sharedOutputs{stderr: &lockedWriter{w: opts.Stderr}}
	if outs != nil && outs.junit != nil {
		sh.junit = newJUnitBuilder()
	}
	if w := outs.jsonWriter(); w != nil {
		sh.eventLog = bufio.NewWriterSize(w, 64<<10)
	}
	return sh
}

// newSink builds a pass's event sink for the run's format and outputs: a
// console or formatter of its own (each pass prints as a go test run of
// its own), the shared JUnit report, whose suites then carry the kernel's
// label, and the shared --jsonfile, whose events the stdoutPump marks with
// it. label and kernelPath are "" in a run on one kernel.
func (sh *sharedOutputs) newSink(opts Options, cmd goCommand, label, kernelPath string) (*eventSink, error) {
	sink := &eventSink{stdout: opts.Stdout, stderr: sh.stderr, formatName: opts.Format, raw: cmd.RawJSON, kernel: label, vm: opts.VM != nil}
	switch {
	case cmd.RawJSON:
	case opts.Format == "":
		live, finalFail := goOutputMode(cmd.Args[2:], cmd.Verbose) // after "test -json"
		sink.console = newGoConsole(opts.Stdout, cmd.Verbose, live, finalFail)
	default:
		f, err := newFormatter(opts.Stdout, opts.Format)
		if err != nil {
			return nil, err
		}
		sink.format = f
	}
	if sh.junit != nil {
		sh.junit.startPass(label, kernelPath)
		sink.junit = sh.junit
	}
	sink.eventLog = sh.eventLog
	return sink, nil
}

// printPassHeader starts a pass's output in a run over several kernels. It
// goes to stdout, between the passes' go test output, except under -json,
// where stdout is the event stream (whose events carry the kernel) and the
// header goes to stderr.
func printPassHeader(opts Options, cmd goCommand, sh *sharedOutputs, p *kernelPass) {
	if cmd.RawJSON {
		fmt.Fprintln(sh.stderr, p.header())
		return
	}
	fmt.Fprintln(opts.Stdout, p.header())
}

// runGoTest runs the child and streams its output until it and its process
// group are gone. Trouble reading the output is a warning: go's verdict
// stands (issue 9 §3).
func runGoTest(ctx context.Context, opts Options, pending *pendingChild, cmd goCommand, env []string, sink *eventSink, signals *signalRouter) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return interruptedResult(signals), nil
	}
	child, err := pending.get()
	if err == nil {
		err = child.start(cmd, env, opts.Dir)
	}
	if err != nil {
		if ctx.Err() != nil {
			// A signal killed the supervisor while go test was starting.
			return interruptedResult(signals), nil
		}
		return nil, err
	}
	signals.attach(child)

	stderrDone := make(chan struct{})
	var stderrErr error
	go func() {
		defer close(stderrDone)
		stderrErr = copyStderr(sink.stderr, child.stderr)
	}()

	// go's stdout: the pump reads it and feeds testjson's scanner through
	// a pipe, so that the scanner never sees a line too long for it.
	scanR, scanW := io.Pipe()
	pump := &stdoutPump{scan: scanW, kernel: kernelMark(sink.kernel)}
	if cmd.RawJSON {
		pump.raw = opts.Stdout
	}
	if sink.eventLog != nil {
		pump.log = sink.eventLog
	}
	pumpDone := make(chan struct{})
	var pumpErr error
	go func() {
		defer close(pumpDone)
		pumpErr = pump.run(child.stdout)
		scanW.Close()
	}()
	var exec *testjson.Execution
	var scanErr error
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		exec, scanErr = testjson.ScanTestOutput(testjson.ScanConfig{
			Stdout:                   scanR,
			Handler:                  sink,
			IgnoreNonJSONOutputLines: true,
		})
		// Keep the pipe drained if scanning stopped early, so that the
		// pump, and go test behind it, never block.
		io.Copy(io.Discard, scanR)
	}()

	goExit, waitErr := child.wait()
	cut := drain(drainPipe{pumpDone, child.stdout}, drainPipe{stderrDone, child.stderr})
	<-scanDone
	child.stdout.Close()
	child.stderr.Close()
	if waitErr != nil {
		return nil, waitErr
	}
	sig := signals.received()
	sink.finish(exec, goExit != 0 && sig == nil)
	if cut {
		// Go's verdict wins over output that a process outside the run's
		// tree kept open (issue 9 §3): closing the pipe ends the read with
		// ErrClosed, which is not a broken stream.
		fmt.Fprintf(sink.stderr, "ktest: warning: go test's output stayed open after it exited (a process outside its tree holds it); stopped reading after %s\n", drainTimeout)
	}
	for _, err := range []error{pumpErr, stderrErr, scanErr} {
		if err != nil && !(cut && errors.Is(err, os.ErrClosed)) {
			fmt.Fprintf(sink.stderr, "ktest: warning: read go test output: %v\n", err)
		}
	}
	if sink.writeErr != nil {
		fmt.Fprintf(sink.stderr, "ktest: warning: write output: %v\n", sink.writeErr)
	}
	res := &Result{GoExit: goExit, Counts: countExecution(exec), Signal: sig, Unfinish: sink.unfinished(), BootFailures: sink.bootFailures, exec: exec}
	res.Verdict = verdictOf(res.Counts, goExit, res.Signal != nil)
	return res, nil
}

func interruptedResult(signals *signalRouter) *Result {
	return &Result{Verdict: VerdictInterrupted, Signal: signals.received()}
}

// drain waits for the reader goroutines to see EOF; if a process outside
// the run's tree still holds the pipes, it closes their read ends to stop
// them, and reports that it did. The pipes share one deadline.
func drain(pipes ...drainPipe) (cut bool) {
	deadline := time.After(drainTimeout)
	for _, p := range pipes {
		select {
		case <-p.done:
		case <-deadline:
			for _, q := range pipes {
				q.r.Close()
			}
			cut = true
			<-p.done
		}
	}
	return cut
}

type drainPipe struct {
	done <-chan struct{}
	r    *os.File
}

// finish writes the JUnit file, commits the --jsonfile, writes the summary
// line, and turns the result into the run's error. passErr is a ktest
// error that stopped a run over several kernels before its last pass.
//
// Precedence (docs/spec.md §2): a signal; then a ktest error that kept a
// kernel's pass from running; then go's status (in a run over several
// kernels the first failing pass's); then an output that could not be
// written; then a line of go's output that was not test2json; then the
// skip policy, over the whole run.
func finish(opts Options, res *Result, passes []*kernelPass, sh *sharedOutputs, outs *outputs, passErr error) error {
	var errs []string
	if sh.eventLog != nil {
		if err := sh.eventLog.Flush(); err != nil {
			// The --jsonfile's own errors start with its path.
			errs = append(errs, fmt.Errorf("write event log: %w", err).Error())
		}
	}
	if outs != nil && outs.junit != nil {
		err := writeJUnit(outs.junit, sh.junit.report(res.Signal != nil))
		if err == nil {
			err = outs.junit.Commit()
		}
		if err != nil {
			errs = append(errs, outputError("--junitfile", opts.JUnitFile, err).Error())
		}
	}
	if err := outs.commitJSON(opts); err != nil {
		errs = append(errs, err.Error())
	}
	var extras []string
	if res.Signal != nil {
		extras = append(extras, signalName(res.Signal))
	}
	if n := len(res.BootFailures); n > 0 {
		extras = append(extras, fmt.Sprintf("%d boot failure(s): %s", n, strings.Join(res.BootFailures, ", ")))
	}
	if n := len(res.Unfinish); n > 0 {
		extras = append(extras, fmt.Sprintf("%d never finished: %s", n, strings.Join(res.Unfinish, ", ")))
	}
	if res.Counts.PackagesFailed > 0 {
		extras = append(extras, fmt.Sprintf("%d package(s) failed outside tests", res.Counts.PackagesFailed))
	}
	if s := formatSkipCategories(res.SkipCategories); s != "" {
		extras = append(extras, "skipped: "+s)
	}
	if opts.Shard.N > 0 {
		extras = append(extras, "shard "+opts.Shard.String())
	}
	if passErr != nil {
		extras = append(extras, "stopped by a ktest error")
	}
	policyErr := res.applyPolicy(opts)
	if res.Policy != nil && res.Policy.Fired != "" {
		extras = append(extras, "skip policy: "+res.Policy.Fired)
	}
	if len(passes) > 1 {
		fmt.Fprintln(opts.Stderr, multiSummaryLine(res.Verdict, passes, res.Elapsed, extras))
	} else {
		fmt.Fprintln(opts.Stderr, summaryLine(res.Verdict, res.Counts, res.Elapsed, extras))
	}

	var malformed *eventSink
	for _, p := range passes {
		if p.sink != nil && p.sink.malformedLine != "" {
			malformed = p.sink
			break
		}
	}
	// go's verdict wins over trouble with its output: a failure is go's
	// exit status (docs/spec.md §2) even when a line was not test2json or
	// a report could not be written; the report's error is still said. A
	// kernel's pass that a ktest error kept from running wins over it: the
	// run did not test every kernel it was asked to.
	switch {
	case res.Signal != nil:
		return &InterruptedError{Signal: res.Signal}
	case passErr != nil:
		for _, e := range errs {
			fmt.Fprintf(opts.Stderr, "ktest: error: %s\n", e)
		}
		return passErr
	case res.GoExit != 0 && len(res.BootFailures) > 0:
		// The run is incomplete, whatever else failed: CI retries a
		// boot failure, not a test's (docs/spec.md §2).
		for _, e := range errs {
			fmt.Fprintf(opts.Stderr, "ktest: error: %s\n", e)
		}
		return &BootFailureError{Release: "", Reason: strings.Join(res.BootFailures, ", ")}
	case res.GoExit != 0:
		for _, e := range errs {
			fmt.Fprintf(opts.Stderr, "ktest: error: %s\n", e)
		}
		return &ExitError{Code: res.GoExit}
	case len(errs) > 0:
		return errors.New(strings.Join(errs, "; "))
	case malformed != nil:
		return fmt.Errorf("read go test output: line %d is not a test2json event: %.200s; ktest needs `go test -json` output (check KTEST_GO or the go on PATH)", malformed.malformedAt, malformed.malformedLine)
	case policyErr != nil:
		return policyErr
	}
	return nil
}
