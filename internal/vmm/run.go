package vmm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ktest-dev/ktest/internal/vmproto"
)

// Timings of the run's end.
const (
	// afterExitGrace is how long the guest may take to power off after
	// reporting the program's exit; past it QEMU is killed, verdict kept.
	afterExitGrace = 10 * time.Second
	// dumpWait bounds each step of the hard bound's dump.
	dumpWait = 5 * time.Second
	// consoleQuiet is how long the console must stay silent for a dump to
	// count as complete.
	consoleQuiet = 500 * time.Millisecond
	// drainWait bounds reading what QEMU wrote before it exited.
	drainWait = 5 * time.Second
	// socketWait bounds virtiofsd's start.
	socketWait = 10 * time.Second
)

// Run boots s.Kernel, runs s.Argv inside the guest, and returns when QEMU
// has been reaped. The error is nil when the program produced a verdict
// (whatever its exit code); *BootError when it did not; *SetupError for
// bad input found before booting.
func Run(ctx context.Context, s Spec) (*Result, error) {
	p, err := prepare(ctx, s)
	if err != nil {
		return nil, err
	}
	return p.boot(ctx)
}

// conns are QEMU's connections to the run's sockets.
type conns struct {
	console, ctl, out, err, qmp *os.File
}

func (p *prepared) boot(ctx context.Context) (*Result, error) {
	s := p.spec
	scratch, err := os.MkdirTemp("", "ktest-vm-")
	if err != nil {
		return nil, fmt.Errorf("create vm scratch directory: %w", err)
	}
	defer os.RemoveAll(scratch)
	p.machine.scratch = scratch

	names := []string{sockConsole, sockCtl, sockOut, sockErr, sockQMP}
	listeners := make([]*listener, len(names))
	for i, n := range names {
		l, err := listenUnix(filepath.Join(scratch, n))
		if err != nil {
			for _, l := range listeners[:i] {
				l.close()
			}
			return nil, err
		}
		listeners[i] = l
	}
	defer func() {
		for _, l := range listeners {
			l.close()
		}
	}()

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()

	var vfs *child
	var vfsDone <-chan struct{}
	var back *writeBack
	if p.payload != nil {
		if p.machine.initrd, err = p.writeInitrd(scratch); err != nil {
			return nil, &SetupError{What: "pack the initramfs transport", Err: err}
		}
		back = newWriteBack(p.req.Binds)
	} else {
		fsSock := filepath.Join(scratch, sockFS)
		vfs, err = startChild(runCtx, p.virtiofsd, virtiofsdArgs(p.rustFS, fsSock))
		if err != nil {
			return nil, &SetupError{What: "start virtiofsd", Err: err}
		}
		defer vfs.kill()
		if err := waitSocket(fsSock, vfs, socketWait); err != nil {
			return nil, &BootError{Reason: fmt.Sprintf("virtiofsd did not start: %v: %s", err, strings.TrimSpace(vfs.stderr.String()))}
		}
		vfsDone = vfs.done
	}

	args := p.machine.args()
	res := &Result{ExitCode: -1, Transport: p.spec.Transport, Channels: "virtio-console", Command: append([]string{p.qemu}, args...)}
	if os.Getenv("KTEST_VMDEBUG") == "1" {
		fmt.Fprintf(os.Stderr, "ktest vm: %q\n", res.Command)
	}
	start := time.Now()
	q, err := startChild(runCtx, p.qemu, args)
	if err != nil {
		return nil, &SetupError{What: "start QEMU", Err: err}
	}
	defer q.kill()

	// Accept QEMU's connections as they come (it makes them at start).
	var c conns
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		slots := []**os.File{&c.console, &c.ctl, &c.out, &c.err, &c.qmp}
		var wg sync.WaitGroup
		for i, l := range listeners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := l.accept(q.done)
				if err == nil {
					*slots[i] = conn
				}
			}()
		}
		wg.Wait()
	}()
	select {
	case <-accepted:
	case <-q.done:
		<-accepted
	}
	for _, conn := range []*os.File{c.console, c.ctl, c.out, c.err, c.qmp} {
		if conn != nil {
			defer conn.Close()
		}
	}

	p.consoleConn = c.console
	con := newConsole(s.Console)
	var consoleDone <-chan struct{} = closedChan()
	if c.console != nil {
		consoleDone, _ = spool(con, c.console)
	}
	stdout, stderr := s.Stdout, s.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	outDone, errDone := closedChan(), closedChan()
	outRead, errRead := new(atomic.Int64), new(atomic.Int64)
	if c.out != nil {
		outDone, outRead = spool(stdout, c.out)
	}
	if c.err != nil {
		errDone, errRead = spool(stderr, c.err)
	}
	msgs := make(chan vmproto.Msg, 16)
	var ctlW *vmproto.Writer
	if c.ctl != nil {
		ctlW = vmproto.NewWriter(c.ctl)
		go func() {
			defer close(msgs)
			r := vmproto.NewReader(c.ctl)
			for {
				m, err := r.Read()
				if err != nil {
					if os.Getenv("KTEST_VMDEBUG") == "1" {
						fmt.Fprintf(os.Stderr, "ktest vm: control channel: %v\n", err)
					}
					return
				}
				if os.Getenv("KTEST_VMDEBUG") == "1" {
					fmt.Fprintf(os.Stderr, "ktest vm: message %s\n", m.Type)
				}
				msgs <- m
			}
		}()
	} else {
		close(msgs)
	}

	var (
		started, exited bool
		failReason      string
		pending         []int
		timedOut        bool
		grace           <-chan time.Time
		bound           <-chan time.Time
		ctxDone         = ctx.Done()
		qDone           = q.done
		finish          <-chan time.Time
		vfsDied         bool
		backErr         error  // the host's write-back failures
		backGuest       string // the guest's
		flushed         <-chan struct{}
	)
	if s.Timeout > 0 {
		t := time.NewTimer(s.Timeout)
		defer t.Stop()
		bound = t.C
	}
	send := func(m vmproto.Msg) {
		if ctlW != nil {
			_ = ctlW.Write(m)
		}
	}
	sigs := s.Signals
loop:
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				msgs = nil
				if qDone == nil {
					break loop // QEMU is gone and so is what it had sent
				}
				continue
			}
			switch m.Type {
			case vmproto.TypeHello:
				debugTimeline("hello", start, m.Uptime)
				send(vmproto.Msg{Type: vmproto.TypeRun, Run: &p.req})
			case vmproto.TypeStarted:
				debugTimeline("started", start, m.Uptime)
				started = true
				res.Boot = time.Since(start)
				for _, n := range pending {
					send(vmproto.Msg{Type: vmproto.TypeSignal, Signal: n})
				}
				pending = nil
			case vmproto.TypeFile:
				if back != nil && m.File != nil {
					back.piece(m.File)
				}
			case vmproto.TypeExit:
				exited = true
				if back != nil {
					backErr, backGuest = back.close(), m.Error
					back = nil
				}
				res.ExitCode, res.Signal = m.Code, m.Signal
				grace = time.After(afterExitGrace)
				bound = nil
				// The guest has synced: once its output is here, the VM
				// may end without waiting for its power-off.
				flushed = outputArrived(outRead, m.Stdout, errRead, m.Stderr, afterExitGrace)
			case vmproto.TypeFail:
				failReason = m.Error
				grace = time.After(afterExitGrace)
			}
		case sig, ok := <-sigs:
			if !ok {
				sigs = nil
				continue
			}
			n, isSys := sig.(syscall.Signal)
			if !isSys {
				continue
			}
			if started {
				send(vmproto.Msg{Type: vmproto.TypeSignal, Signal: int(n)})
			} else {
				pending = append(pending, int(n))
			}
		case <-qDone:
			// What the guest sent before it powered off may still be
			// queued (file pieces ahead of exit, on a slow host): read
			// it to the end of the stream, bounded.
			if msgs == nil {
				break loop
			}
			qDone, finish = nil, time.After(drainWait)
			vfsDone = nil // it ends with QEMU
		case <-finish:
			break loop
		case <-vfsDone:
			// It exits when QEMU closes its socket: QEMU's exit is the
			// news then. Otherwise every file access in the guest hangs.
			select {
			case <-q.done:
			case <-time.After(2 * time.Second):
				vfsDied = true
			}
			break loop
		case <-grace:
			break loop
		case <-flushed:
			break loop
		case <-bound:
			timedOut = true
			res.Dump = p.collectDump(con, send, msgs, c.qmp, q)
			break loop
		case <-ctxDone:
			break loop
		}
	}
	q.kill()
	res.Total = time.Since(start)
	drained := time.After(drainWait)
	for _, d := range []<-chan struct{}{outDone, errDone, consoleDone} {
		select {
		case <-d:
		case <-drained:
		}
	}
	if back != nil {
		_ = back.close() // no exit: the verdict says what went wrong
	}
	// After the drain: the stderr spool is done writing.
	reportWriteBack(stderr, backErr, backGuest)
	res.Console = con.String()
	if os.Getenv("KTEST_VMDEBUG") != "" {
		if vfs != nil {
			vfs.kill()
			res.Console += "\n--- virtiofsd ---\n" + vfs.stderr.String()
		}
		res.Console += "\n--- qemu ---\n" + q.stderr.String()
	}

	tail := consoleTail(res.Console)
	switch {
	case exited:
		return res, nil
	case timedOut:
		return res, &BootError{Reason: fmt.Sprintf("the hard bound of %v expired before the program's verdict (blocked tasks and backtraces in the dump)", s.Timeout), ConsoleTail: tail, TimedOut: true}
	case ctx.Err() != nil:
		return res, fmt.Errorf("run in vm: stopped QEMU because the context ended: %w", context.Cause(ctx))
	case vfsDied:
		vfs.kill()
		return res, &BootError{Reason: "virtiofsd exited during the run: " + lastLine(vfs.stderr.String()), ConsoleTail: tail}
	case failReason != "":
		return res, &BootError{Reason: "the guest init could not run the program: " + failReason, ConsoleTail: tail}
	}
	return res, &BootError{Reason: classify(res.Console, q, started), ConsoleTail: tail}
}

// collectDump asks the guest for sysrq w and l, else makes QEMU inject an
// NMI, and returns the console from the request on.
func (p *prepared) collectDump(con *console, send func(vmproto.Msg), msgs <-chan vmproto.Msg, qmp *os.File, q *child) string {
	from := con.Len()
	send(vmproto.Msg{Type: vmproto.TypeDump})
	answered := false
	deadline := time.After(dumpWait)
wait:
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				break wait
			}
			if m.Type == vmproto.TypeDumped {
				answered = true
				break wait
			}
		case <-deadline:
			break wait
		case <-q.done:
			break wait
		}
	}
	if !answered && qmp != nil && !q.exited() {
		// The init is stuck: sysrq over the serial line, then an NMI.
		qc := newQMP(qmp)
		err := serialSysrq(qc, p.consoleConn, "8wl")
		if err == nil {
			con.waitQuiet(consoleQuiet, dumpWait, q.done)
			err = qc.execute("inject-nmi", nil)
		}
		if err != nil {
			con.Write([]byte(fmt.Sprintf("\n[ktest: dump through QEMU: %v]\n", err)))
		}
	}
	con.waitQuiet(consoleQuiet, dumpWait, q.done)
	return con.String()[from:]
}

// classify says why a boot without verdict ended.
func classify(console string, q *child, started bool) string {
	if i := strings.Index(console, "Kernel panic"); i >= 0 {
		line, _, _ := strings.Cut(console[i:], "\n")
		return "kernel panic: " + strings.TrimSpace(line)
	}
	var ee interface{ ExitCode() int }
	if errors.As(q.err, &ee) && ee.ExitCode() != 0 {
		return fmt.Sprintf("QEMU exited with status %d: %s", ee.ExitCode(), lastLine(q.stderr.String()))
	}
	if q.err != nil {
		return fmt.Sprintf("QEMU ended: %v: %s", q.err, lastLine(q.stderr.String()))
	}
	if started {
		return "the guest stopped while the program ran, without its exit status"
	}
	return "the guest stopped before the program started"
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// consoleTail is the end of the console shown with a boot failure: the
// last 40 lines, reaching back to a kernel panic's line (and the 20 lines
// before it) when one is printed earlier.
func consoleTail(console string) string {
	tail := tailLines(console, 40)
	i := strings.LastIndex(console, "Kernel panic")
	if i < 0 || strings.Contains(tail, "Kernel panic") {
		return tail
	}
	before := strings.Count(console[:i], "\n")
	all := strings.Count(strings.TrimRight(console, "\n"), "\n") + 1
	return tailLines(console, min(all-before+20, 200))
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// debugTimeline reports, with KTEST_VMDEBUG=1, when a control message
// arrived on the host and the guest's uptime when it was sent.
func debugTimeline(what string, start time.Time, uptimeMS int64) {
	if os.Getenv("KTEST_VMDEBUG") == "1" {
		fmt.Fprintf(os.Stderr, "ktest vm: %s at %v (guest uptime %d ms)\n", what, time.Since(start).Round(time.Millisecond), uptimeMS)
	}
}

// outputArrived is closed once the two counters reach their counts, or
// after max.
func outputArrived(out *atomic.Int64, nout int64, err *atomic.Int64, nerr int64, max time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		end := time.Now().Add(max)
		for (out.Load() < nout || err.Load() < nerr) && time.Now().Before(end) {
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return ch
}

func closedChan() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// waitSocket waits until path exists (virtiofsd listens there) or c exits.
func waitSocket(path string, c *child, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		if st, err := os.Stat(path); err == nil && st.Mode().Type() == os.ModeSocket {
			return nil
		}
		if c.exited() {
			return fmt.Errorf("it exited (%v)", c.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no socket %s after %v", path, wait)
		}
		time.Sleep(time.Millisecond)
	}
}
