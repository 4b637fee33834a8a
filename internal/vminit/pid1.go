package vminit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/modload"
	"github.com/ktest-dev/ktest/internal/vmproto"
)

// bootModules are loaded from ModDir before the ports are looked for, in
// order; the host ships those that are not built in.
var bootModules = []string{"virtio_mmio", "virtio_pci", "virtio_console", "virtiofs"}

// runPID1 does one run. Failures before the control port is open can only
// be logged to the console; later ones are reported as fail.
func runPID1() {
	if err := mountBase(); err != nil {
		logf("%v", err)
	}
	attachConsole()
	loadBootModules()
	debugf("modules loaded")
	ports, err := findPorts(10 * time.Second)
	if err != nil {
		logf("%v", err)
		return
	}
	ctlFile, err := os.OpenFile(ports[vmproto.CtlPort], os.O_RDWR, 0)
	if err != nil {
		logf("open control port: %v", err)
		return
	}
	debugf("ports %v", ports)
	ctl := vmproto.NewWriter(ctlFile)
	in := vmproto.NewReader(ctlFile)
	if err := ctl.Write(vmproto.Msg{Type: vmproto.TypeHello, Uptime: uptimeMS()}); err != nil {
		logf("%v", err)
		return
	}
	var req *vmproto.Run
	for req == nil {
		m, err := in.Read()
		if err != nil {
			logf("read run request: %v", err)
			return
		}
		if m.Type == vmproto.TypeRun {
			req = m.Run
		}
	}
	debugf("request received")
	fail := func(err error) {
		logf("%v", err)
		_ = ctl.Write(vmproto.Msg{Type: vmproto.TypeFail, Error: err.Error()})
	}
	if err := prepareRoot(req); err != nil {
		fail(err)
		return
	}
	if err := prepareProcess(req); err != nil {
		fail(err)
		return
	}
	runProgram(req, ports, ctl, in, fail)
}

// mountBase mounts what the init itself needs in the initramfs.
func mountBase() error {
	var errs []error
	for _, m := range []struct{ src, dst, fstype, data string }{
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
		{"devtmpfs", "/dev", "devtmpfs", "mode=0755"},
		{"tmpfs", scratchDir, "tmpfs", "mode=0700"},
	} {
		if err := os.MkdirAll(m.dst, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := unix.Mount(m.src, m.dst, m.fstype, unix.MS_NOSUID, m.data); err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.dst, err))
		}
	}
	return errors.Join(errs...)
}

// attachConsole makes /dev/console the init's fds 0-2 (the kernel opened
// it only if the initramfs had the node).
func attachConsole() {
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	for i := 0; i <= 2; i++ {
		_ = unix.Dup3(fd, i, 0)
	}
	if fd > 2 {
		_ = unix.Close(fd)
	}
}

// loadBootModules loads the transport modules the host shipped, with the
// parameters the command line gives them (as modprobe would: QEMU's
// microvm describes its virtio-mmio devices as virtio_mmio.device=...).
func loadBootModules() {
	if _, err := os.Stat(filepath.Join(ModDir, "modules.dep")); err != nil {
		return // everything is built in
	}
	idx, err := modload.ReadIndex(ModDir)
	if err != nil {
		logf("%v", err)
		return
	}
	cmdline, _ := os.ReadFile("/proc/cmdline")
	for _, name := range bootModules {
		order, err := idx.LoadOrder(name)
		if err != nil {
			continue // not shipped: built in, or not needed for this machine
		}
		for i, rel := range order {
			params := ""
			if i == len(order)-1 {
				params = cmdlineParams(string(cmdline), name)
			}
			if err := modload.Insert(filepath.Join(ModDir, rel), params); err != nil {
				logf("load %s: %v", rel, err)
			}
		}
	}
}

// cmdlineParams returns the "name.key=value" parameters of the command
// line as "key=value ..." for module name.
func cmdlineParams(cmdline, name string) string {
	var ps []string
	for _, f := range strings.Fields(cmdline) {
		if k, ok := strings.CutPrefix(f, name+"."); ok && k != "" {
			ps = append(ps, k)
		}
	}
	return strings.Join(ps, " ")
}

// findPorts waits until the three virtio-console ports exist and returns
// their device paths by name.
func findPorts(wait time.Duration) (map[string]string, error) {
	deadline := time.Now().Add(wait)
	for {
		ports := map[string]string{}
		dirs, _ := filepath.Glob("/sys/class/virtio-ports/vport*")
		for _, d := range dirs {
			name, err := os.ReadFile(filepath.Join(d, "name"))
			if err != nil {
				continue
			}
			dev := "/dev/" + filepath.Base(d)
			if _, err := os.Stat(dev); err == nil {
				ports[strings.TrimSpace(string(name))] = dev
			}
		}
		if ports[vmproto.CtlPort] != "" && ports[vmproto.OutPort] != "" && ports[vmproto.ErrPort] != "" {
			return ports, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("find the virtio-console ports %s, %s, %s: found %v after %v (is virtio_console loaded?)", vmproto.CtlPort, vmproto.OutPort, vmproto.ErrPort, ports, wait)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// prepareProcess sets what the program inherits from the init.
func prepareProcess(req *vmproto.Run) error {
	inf := &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, inf); err != nil {
		return fmt.Errorf("set RLIMIT_MEMLOCK unlimited: %w", err)
	}
	if err := loopbackUp(); err != nil {
		logf("%v", err)
	}
	for _, m := range req.Modules {
		if err := modload.Load(hostDir+req.ModuleDir, m, ""); err != nil {
			return err
		}
	}
	for _, cmdline := range req.Setup {
		out, err := runSetup(req, cmdline)
		if err != nil {
			return fmt.Errorf("setup command %q: %w\n%s", cmdline, err, out)
		}
	}
	return nil
}

// runSetup runs one setup command as the program would run.
func runSetup(req *vmproto.Run, cmdline string) ([]byte, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	devnull, err := os.Open("/dev/null")
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	p, err := os.StartProcess("/bin/sh", []string{"/bin/sh", "-c", cmdline}, &os.ProcAttr{
		Dir: req.Dir, Env: req.Env, Files: []*os.File{devnull, w, w},
		Sys: &syscall.SysProcAttr{Chroot: rootDir},
	})
	w.Close()
	if err != nil {
		r.Close()
		return nil, err
	}
	out, _ := io.ReadAll(io.LimitReader(r, 1<<20))
	r.Close()
	st, err := p.Wait()
	if err != nil {
		return out, err
	}
	if !st.Success() {
		return out, fmt.Errorf("%s", st)
	}
	return out, nil
}

// loopbackUp brings up lo.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	return nil
}

// exitLinger bounds how long the init waits, after reporting the exit,
// for the host to end the VM before it powers off itself.
const exitLinger = 5 * time.Second

// runProgram starts the program, serves the host's requests while it
// runs, and reports its exit status.
func runProgram(req *vmproto.Run, ports map[string]string, ctl *vmproto.Writer, in *vmproto.Reader, fail func(error)) {
	devnull, err := os.Open("/dev/null")
	if err != nil {
		fail(err)
		return
	}
	// The program writes to pipes the init copies to the ports, counting:
	// exit says how much there was (see vmproto.Msg.Stdout).
	outCopy, stdout, err := portCopier(ports[vmproto.OutPort])
	if err != nil {
		fail(err)
		return
	}
	errCopy, stderr, err := portCopier(ports[vmproto.ErrPort])
	if err != nil {
		fail(err)
		return
	}
	// SIGCHLD wakes the reaper; subscribe before anything can exit.
	chld := make(chan os.Signal, 16)
	signal.Notify(chld, unix.SIGCHLD)

	var before snapshot
	if req.Transport == vmproto.TransportInitramfs {
		before = takeSnapshot(req.Binds)
	}
	p, err := os.StartProcess(req.Argv[0], req.Argv, &os.ProcAttr{
		Dir: req.Dir, Env: append(slices.Clip(req.Env), vmproto.GuestEnv+"=1"), Files: []*os.File{devnull, stdout, stderr},
		Sys: &syscall.SysProcAttr{Chroot: rootDir, Setpgid: true},
	})
	devnull.Close()
	stdout.Close()
	stderr.Close()
	if err != nil {
		outCopy.stop()
		errCopy.stop()
		fail(fmt.Errorf("start %s: %w", req.Argv[0], err))
		return
	}
	pid := p.Pid
	_ = ctl.Write(vmproto.Msg{Type: vmproto.TypeStarted, PID: pid, Uptime: uptimeMS()})

	hostGone := make(chan struct{})
	go func() {
		defer close(hostGone)
		for {
			m, err := in.Read()
			if err != nil {
				return
			}
			switch m.Type {
			case vmproto.TypeSignal:
				if err := unix.Kill(-pid, unix.Signal(m.Signal)); err != nil && !errors.Is(err, unix.ESRCH) {
					logf("forward signal %d: %v", m.Signal, err)
				}
			case vmproto.TypeDump:
				dump()
				_ = ctl.Write(vmproto.Msg{Type: vmproto.TypeDumped})
			}
		}
	}()

	code, sig := reapUntil(pid, chld)
	// What the program left behind goes with it.
	_ = unix.Kill(-pid, unix.SIGKILL)
	nout, nerr := outCopy.wait(time.Second), errCopy.wait(time.Second)
	problem := ""
	if before != nil {
		n, err := sendChanged(ctl, req.Binds, before)
		if err != nil {
			logf("%v", err)
			problem = err.Error()
		}
		debugf("sent %d files back", n)
	}
	unix.Sync()
	_ = ctl.Write(vmproto.Msg{Type: vmproto.TypeExit, Code: code, Signal: sig, Stdout: nout, Stderr: nerr, Error: problem})
	// The host ends the VM once it has read everything; powering off
	// first could drop what QEMU has not passed on yet (file pieces and
	// exit behind them, on a slow host). Bounded, for a host that is gone.
	select {
	case <-hostGone:
	case <-time.After(exitLinger):
	}
}

// copier copies a pipe's read end to a port, counting bytes.
type copier struct {
	r    *os.File
	n    atomic.Int64
	done chan struct{}
}

// portCopier opens the port and returns the copier and the pipe's write
// end for the program.
func portCopier(port string) (*copier, *os.File, error) {
	dst, err := os.OpenFile(port, os.O_WRONLY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open port %s: %w", port, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		dst.Close()
		return nil, nil, err
	}
	c := &copier{r: r, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer dst.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				m, _ := dst.Write(buf[:n])
				c.n.Add(int64(m))
			}
			if err != nil {
				return
			}
		}
	}()
	return c, w, nil
}

// wait waits for the copy to reach the pipe's end (every writer gone), at
// most d (a writer outside the program's group may hold it), and returns
// the count.
func (c *copier) wait(d time.Duration) int64 {
	select {
	case <-c.done:
	case <-time.After(d):
		c.r.Close()
		<-c.done
	}
	return c.n.Load()
}

// stop ends the copy.
func (c *copier) stop() {
	c.r.Close()
	<-c.done
}

// reapUntil reaps every child (PID 1 inherits orphans) until pid exits,
// and returns its status: the exit code, or 128+signal and the signal.
func reapUntil(pid int, chld <-chan os.Signal) (code, sig int) {
	for {
		for {
			var ws unix.WaitStatus
			got, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || got <= 0 {
				break
			}
			if got != pid {
				continue
			}
			switch {
			case ws.Exited():
				return ws.ExitStatus(), 0
			case ws.Signaled():
				return 128 + int(ws.Signal()), int(ws.Signal())
			}
		}
		<-chld
	}
}

// dump writes the blocked tasks and every CPU's backtrace to the kernel
// log (and so the console).
func dump() {
	// The boot is quiet (loglevel=4); sysrq's reports are KERN_INFO.
	_ = os.WriteFile("/proc/sys/kernel/printk", []byte("8"), 0)
	for _, c := range []string{"w", "l"} {
		if err := os.WriteFile("/proc/sysrq-trigger", []byte(c), 0); err != nil {
			logf("sysrq %s: %v", c, err)
		}
	}
}
