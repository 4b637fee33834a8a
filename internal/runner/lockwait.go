package runner

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/termtext"
)

// lockWaitNoticeAfter is how long a wait for the kernel's cache lock stays
// silent before ktest says who holds the lock (issue 10 item 11): long
// enough that an uncontended run never prints it, short next to the default
// --lock-timeout.
var lockWaitNoticeAfter = time.Second

// lockWaitNotice prints, once, after lockWaitNoticeAfter of waiting, who
// holds the lock and how long ktest will wait. Stop ends it; after Stop
// returns nothing is printed.
type lockWaitNotice struct {
	mu      sync.Mutex
	stopped bool
	timer   *time.Timer
}

// noticeLockWait arms the notice for the lock on what at path. A wait bound
// that ends before the notice would be due arms nothing: the timeout's SKIP
// banner names the holders.
func noticeLockWait(w io.Writer, path, what string, timeout time.Duration) *lockWaitNotice {
	n := &lockWaitNotice{}
	if timeout <= lockWaitNoticeAfter {
		return n
	}
	started := time.Now()
	n.timer = time.AfterFunc(lockWaitNoticeAfter, func() {
		// Read the holders before taking the mutex: Stop must not wait
		// for /proc.
		holders, _ := cache.LockHolders(path)
		more := max(timeout-time.Since(started), 0).Round(100 * time.Millisecond)
		text := fmt.Sprintf("ktest: waiting for the lock on %s (lockfile %s), held by %s; ktest waits %s more (--lock-timeout %s), then skips the kernel's tests as contention",
			what, termtext.Line(path), describeHolders(holders), more, timeout)
		n.mu.Lock()
		defer n.mu.Unlock()
		if !n.stopped {
			fmt.Fprintln(w, text)
		}
	})
	return n
}

// Stop disarms the notice; safe on a notice that never fired.
func (n *lockWaitNotice) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopped = true
	if n.timer != nil {
		n.timer.Stop()
	}
}

// describeHolders lists holders as "pid=N user=NAME cmd=CMDLINE", joined.
func describeHolders(hs []cache.Holder) string {
	if len(hs) == 0 {
		return "a process ktest could not identify (`ktest locks` lists the holders it can see)"
	}
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = fmt.Sprintf("pid=%d user=%s cmd=%s", h.PID, processUser(h.PID), termtext.Line(h.Cmdline))
	}
	return strings.Join(parts, ", ")
}

// processUser names the owner of process pid (the owner of /proc/<pid>),
// from /etc/passwd, else as uid=N. os/user is not used: with cgo it would
// make ktest a dynamically linked binary, slower at every start.
func processUser(pid int) string {
	if pid <= 0 {
		return "?"
	}
	st, err := os.Stat("/proc/" + strconv.Itoa(pid))
	if err != nil {
		return "?"
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return "?"
	}
	uid := strconv.FormatUint(uint64(sys.Uid), 10)
	if name := passwdName(uid); name != "" {
		return termtext.Line(name)
	}
	return "uid=" + uid
}

// passwdName finds the login name of uid in /etc/passwd ("" when absent).
func passwdName(uid string) string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// name:password:uid:gid:gecos:home:shell
		fields := strings.SplitN(sc.Text(), ":", 4)
		if len(fields) >= 3 && fields[2] == uid {
			return fields[0]
		}
	}
	return ""
}
