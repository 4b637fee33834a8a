package reaper

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The tree code uses raw system calls, not package os: the supervisor must
// keep working when the open-file limit is nearly used up, and os would set
// up the runtime's poller (two more descriptors) on its first open.

// procEntry is one process as /proc/<pid>/stat shows it.
type procEntry struct {
	pid, ppid int
	state     byte   // R, S, D, Z, T, ...
	comm      string // the command name, at most 15 bytes, as the kernel keeps it
}

// readStat reads /proc/<pid>/stat. ok is false when the process is gone.
func readStat(pid int) (procEntry, bool) {
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return procEntry{}, false
	}
	defer unix.Close(fd)
	var buf [512]byte
	n, err := readRetry(fd, buf[:])
	if err != nil || n <= 0 {
		return procEntry{}, false
	}
	return parseStat(buf[:n])
}

// parseStat parses "pid (comm) state ppid ...". comm may hold spaces and
// parentheses, so it ends at the last ')'.
func parseStat(b []byte) (procEntry, bool) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procEntry{}, false
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return procEntry{}, false
	}
	fields := strings.Fields(string(b[end+1:]))
	if len(fields) < 2 || len(fields[0]) != 1 {
		return procEntry{}, false
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return procEntry{}, false
	}
	return procEntry{pid: pid, ppid: ppid, state: fields[0][0], comm: string(b[open+1 : end])}, true
}

func readRetry(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// listPids returns the pids of every process in /proc.
func listPids() ([]int, error) {
	fd, err := unix.Open("/proc", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /proc: %w", err)
	}
	defer unix.Close(fd)
	var pids []int
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read /proc: %w", err)
		}
		if n <= 0 {
			return pids, nil
		}
		var names []string
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
		for _, name := range names {
			if pid, err := strconv.Atoi(name); err == nil && pid > 0 {
				pids = append(pids, pid)
			}
		}
	}
}

// descendants returns the live (not zombie) processes below root: its
// children, their children, and so on. A process that left its parent's
// process group or session is still found, by its parent pid; an orphan
// below root was re-parented to root, which is a child subreaper.
func descendants(root int) ([]procEntry, error) {
	pids, err := listPids()
	if err != nil {
		return nil, err
	}
	children := map[int][]procEntry{}
	for _, pid := range pids {
		if e, ok := readStat(pid); ok {
			children[e.ppid] = append(children[e.ppid], e)
		}
	}
	var out []procEntry
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			queue = append(queue, c.pid)
			if c.state != 'Z' {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// killVerified sends SIGKILL to e.pid only if that pid still names a process
// whose parent is in tree: a pid that was reused by an unrelated process
// between the /proc scan and now is left alone. A pidfd pins the process
// while its parent is checked.
func killVerified(e procEntry, tree map[int]bool) {
	pidfd, err := unix.PidfdOpen(e.pid, 0)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) { // kernels before 5.3
			if now, ok := readStat(e.pid); ok && tree[now.ppid] {
				_ = unix.Kill(e.pid, unix.SIGKILL)
			}
		}
		return // ESRCH: gone already
	}
	defer unix.Close(pidfd)
	if now, ok := readStat(e.pid); ok && tree[now.ppid] {
		_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
	}
}

// reapResult is what reaping found.
type reapResult struct {
	goStatus *unix.WaitStatus // go test's status, once it was reaped
	none     bool             // no children are left at all
}

// reapAll collects every exited child without blocking; goPid's status is
// kept.
func reapAll(goPid int, r *reapResult) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case err == unix.EINTR:
			continue
		case errors.Is(err, unix.ECHILD):
			r.none = true
			return
		case err != nil || pid == 0:
			return
		}
		if pid == goPid {
			r.goStatus = &ws
		}
	}
}

// killTree kills go test's process group and every process below this one,
// repeating until none is left (a process may fork while it is being
// killed; its orphans come to this subreaper), and reaps them all. It
// returns the processes it found alive on the first pass and gives up after
// bound, naming what would not die (a process in uninterruptible sleep).
func killTree(goPid int, bound time.Duration, r *reapResult) ([]procEntry, error) {
	self := unix.Getpid()
	deadline := time.Now().Add(bound)
	var first []procEntry
	pause := time.Millisecond
	for pass := 0; ; pass++ {
		reapAll(goPid, r)
		if r.none {
			return first, nil
		}
		live, err := descendants(self)
		if err != nil {
			return first, err
		}
		if pass == 0 {
			first = live
		}
		if goPid > 0 {
			_ = unix.Kill(-goPid, unix.SIGKILL)
		}
		tree := map[int]bool{self: true}
		for _, e := range live {
			tree[e.pid] = true
		}
		for _, e := range live {
			killVerified(e, tree)
		}
		if time.Now().After(deadline) {
			var names []string
			for _, e := range live {
				names = append(names, fmt.Sprintf("pid %d (%s, state %c)", e.pid, e.comm, e.state))
			}
			return first, fmt.Errorf("processes still alive %s after SIGKILL: %s", bound, strings.Join(names, ", "))
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}
