package runner

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ktest-dev/ktest/internal/reaper"
	"github.com/ktest-dev/ktest/internal/termtext"
)

// childProcess is go test running under ktest's supervisor (package
// reaper), in its own process group. Its stdout and stderr are pipes whose
// read ends the caller drains.
type childProcess struct {
	proc   *reaper.Process
	stdout *os.File // read end; closed by the caller after draining
	stderr *os.File // read end; closed by the caller after draining

	grace   time.Duration
	notice  io.Writer // where the end of the grace period is announced
	started bool

	mu         sync.Mutex
	graceTimer *time.Timer
}

// prepareChild creates go test's output pipes and starts the supervisor
// that will run it, so that the supervisor's start-up overlaps ktest's lock
// and sidecar work; start runs go test. The pipes' write ends belong to the
// supervisor only: the parent closes its copies here so that EOF arrives
// once every process holding them has exited. When ctx is done, every
// process of the run is killed.
func prepareChild(ctx context.Context, grace time.Duration, notice io.Writer) (*childProcess, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("create stderr pipe: %w", err)
	}
	proc, startErr := reaper.Start(ctx, outW, errW)
	outW.Close()
	errW.Close()
	if startErr != nil {
		outR.Close()
		errR.Close()
		return nil, startErr
	}
	return &childProcess{proc: proc, stdout: outR, stderr: errR, grace: grace, notice: notice}, nil
}

// pendingChild is a supervisor being started in the background: the fork
// and exec of ktest's own binary overlap the preflight, instead of adding
// to the run's fixed cost.
type pendingChild struct {
	done  chan struct{}
	child *childProcess
	err   error
}

func prepareChildAsync(ctx context.Context, grace time.Duration, notice io.Writer) *pendingChild {
	p := &pendingChild{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.child, p.err = prepareChild(ctx, grace, notice)
	}()
	return p
}

// get waits for the supervisor's start.
func (p *pendingChild) get() (*childProcess, error) {
	<-p.done
	return p.child, p.err
}

// abandon stops the supervisor if go test never started; safe on nil.
func (p *pendingChild) abandon() {
	if p == nil {
		return
	}
	if c, err := p.get(); err == nil {
		c.abandon()
	}
}

// start runs go test in its own process group under the supervisor.
func (p *childProcess) start(c goCommand, env []string, dir string) error {
	if err := p.proc.Run(reaper.Command{Path: c.Path, Args: c.Args, Env: env, Dir: dir}); err != nil {
		return fmt.Errorf("start %s: %w", c.Path, err)
	}
	p.started = true
	return nil
}

// abandon stops the supervisor when go test never started; after a start,
// wait does that.
func (p *childProcess) abandon() {
	if !p.started {
		p.proc.Wait()
		p.stdout.Close()
		p.stderr.Close()
	}
}

// interrupt forwards sig to go test's process group and starts the grace
// period, after which every process of the run is killed.
func (p *childProcess) interrupt(sig os.Signal) {
	p.proc.Signal(sig)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.graceTimer == nil {
		p.graceTimer = time.AfterFunc(p.grace, func() {
			fmt.Fprintf(p.notice, "ktest: go test did not stop within %s: killing it and its processes\n", p.grace)
			p.kill()
		})
	}
}

// kill kills every process of the run at once.
func (p *childProcess) kill() {
	p.proc.Kill()
}

// wait waits until go test and every process below it are gone, whichever
// process group or session they are in, and returns go's exit code (128+N
// when signal N killed it).
func (p *childProcess) wait() (int, error) {
	res, err := p.proc.Wait()
	p.mu.Lock()
	if p.graceTimer != nil {
		p.graceTimer.Stop()
	}
	p.mu.Unlock()
	if err != nil {
		return -1, fmt.Errorf("wait for go test: %w", err)
	}
	if len(res.Left) > 0 {
		fmt.Fprintf(p.notice, "ktest: go test exited and left %d process(es) running; killed: %s\n", len(res.Left), termtext.Line(strings.Join(res.Left, ", ")))
	}
	return res.Code, nil
}
