package runner

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// signalRouter owns ktest's SIGINT/SIGTERM/SIGHUP handling for one run. Before go
// test starts, the first signal cancels the run's context so that preflight
// and lock waits stop. While go test runs, the first signal is forwarded to
// its process group and starts the grace period; a second one kills the group.
type signalRouter struct {
	ch     chan os.Signal
	stderr io.Writer
	grace  time.Duration
	cancel context.CancelCauseFunc

	mu    sync.Mutex
	first os.Signal
	child *childProcess
	done  chan struct{}
}

func newSignalRouter(cancel context.CancelCauseFunc, stderr io.Writer, grace time.Duration) *signalRouter {
	r := &signalRouter{ch: make(chan os.Signal, 4), stderr: stderr, grace: grace, cancel: cancel, done: make(chan struct{})}
	sigs := []os.Signal{syscall.SIGINT, syscall.SIGTERM}
	// A hangup (terminal closed, ssh session dropped) would otherwise kill
	// ktest alone: go test runs in its own process group, so it would keep
	// running without ktest and without the kernel's lock. Under nohup
	// SIGHUP stays ignored (Notify would un-ignore it).
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	signal.Notify(r.ch, sigs...)
	go r.loop()
	return r
}

func (r *signalRouter) loop() {
	for {
		select {
		case sig := <-r.ch:
			r.handle(sig)
		case <-r.done:
			return
		}
	}
}

func (r *signalRouter) handle(sig os.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first != nil {
		if r.child != nil {
			fmt.Fprintf(r.stderr, "ktest: %s again: killing go test and its processes\n", signalName(sig))
			r.child.kill()
		}
		return
	}
	r.first = sig
	if r.child == nil {
		r.cancel(signalCause{sig})
		return
	}
	r.stopChild(sig)
}

// stopChild announces and forwards the first signal to the child. r.mu is held.
func (r *signalRouter) stopChild(sig os.Signal) {
	fmt.Fprintf(r.stderr, "ktest: %s: stopping go test (waiting up to %s; send it again to kill at once)\n", signalName(sig), r.grace)
	r.child.interrupt(sig)
}

// attach routes later signals to the child. A signal that arrived while the
// child was starting (go test may already run, and print, by then) is
// announced and forwarded at once, as if it had come just now.
func (r *signalRouter) attach(child *childProcess) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.child = child
	if r.first != nil {
		r.stopChild(r.first)
	}
}

// detach ends the routing to the child once it is gone: a signal between
// two passes of a run over several kernels then cancels the run's context,
// as one before go test started does, and stops the next pass's lock
// wait.
func (r *signalRouter) detach() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.child = nil
}

// received returns the first signal, or nil.
func (r *signalRouter) received() os.Signal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first
}

// stop restores default signal handling.
func (r *signalRouter) stop() {
	signal.Stop(r.ch)
	close(r.done)
}

// signalCause is the cause of the run's context when a signal stopped the
// run before go test started.
type signalCause struct{ sig os.Signal }

func (s signalCause) Error() string { return "stopped by " + signalName(s.sig) }
