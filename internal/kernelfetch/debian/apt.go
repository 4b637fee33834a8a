package debian

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// aptRunner runs apt-get under the private configuration in dir: its own
// sources list, lists, caches, status file and an empty directory for
// every configuration part, so neither the host's apt state nor its
// configuration (apt.conf.d hooks, pinning, keys) is read or written.
type aptRunner struct {
	aptGet string // the apt-get binary
	dir    string // the private apt directory
	// live, when set, is a terminal: apt's stdout goes to it directly so
	// that apt draws its own progress (bytes, rate, time left), and its
	// stderr is copied there too. Otherwise apt runs quietly and its output
	// is only shown when it fails.
	live io.Writer
}

// Paths inside the private apt directory.
const (
	aptConfName    = "apt.conf"
	sourcesName    = "sources.list"
	statusName     = "status"
	emptyDirName   = "empty.d"
	listsDirName   = "lists"
	cacheDirName   = "cache"
	stateDirName   = "state"
	workDirName    = "work"
	indexName      = "index.json"
	aptLockName    = "apt.lock"
	aptWaitDelay   = 5 * time.Second
	aptTimeoutHint = "the archive may be slow or unreachable; check the network (http_proxy) or KTEST_DEBIAN_MIRROR"
)

// privateSubdirs are created under the private apt directory.
var privateSubdirs = []string{
	emptyDirName, listsDirName, filepath.Join(listsDirName, "partial"), cacheDirName,
	filepath.Join(cacheDirName, "archives"), filepath.Join(cacheDirName, "archives", "partial"),
	stateDirName, workDirName,
}

// aptConfig is the content of the private apt.conf.
func aptConfig(dir, arch string, minValid time.Duration) (string, error) {
	if strings.ContainsAny(dir, "\"\n;{}") {
		return "", fmt.Errorf("the apt directory %q contains a character apt's configuration syntax cannot quote; set XDG_CACHE_HOME to a plainer path", dir)
	}
	empty := filepath.Join(dir, emptyDirName)
	var b strings.Builder
	set := func(k, v string) { fmt.Fprintf(&b, "%s \"%s\";\n", k, v) }
	// Configuration: only what is written here.
	set("Dir::Etc::Parts", empty)
	set("Dir::Etc::Main", filepath.Join(empty, "apt.conf"))
	set("Dir::Etc::SourceList", filepath.Join(dir, sourcesName))
	set("Dir::Etc::SourceParts", empty)
	set("Dir::Etc::Preferences", filepath.Join(empty, "preferences"))
	set("Dir::Etc::PreferencesParts", empty)
	set("Dir::Etc::Trusted", filepath.Join(empty, "trusted.gpg"))
	set("Dir::Etc::TrustedParts", empty)
	// State: all of it private.
	set("Dir::State", filepath.Join(dir, stateDirName))
	set("Dir::State::Lists", filepath.Join(dir, listsDirName))
	set("Dir::State::status", filepath.Join(dir, statusName))
	set("Dir::Cache", filepath.Join(dir, cacheDirName))
	set("Dir::Cache::srcpkgcache", "")
	set("Dir::Log", filepath.Join(dir, stateDirName))
	set("APT::Architecture", arch)
	fmt.Fprintf(&b, "APT::Architectures { \"%s\"; };\n", arch)
	// Only the Packages indexes: no translations, contents or DEP-11, and
	// kept compressed (apt stores them lz4-compressed).
	set("Acquire::Languages", "none")
	for _, t := range []string{"Contents-deb", "Contents-udeb", "DEP-11", "DEP-11-icons", "DEP-11-icons-small", "DEP-11-icons-hidpi"} {
		set("Acquire::IndexTargets::deb::"+t+"::DefaultEnabled", "false")
	}
	set("Acquire::GzipIndexes", "true")
	set("Acquire::Retries", "2")
	if minValid > 0 {
		set("Acquire::Min-ValidTime", strconv.FormatInt(int64(minValid/time.Second), 10))
	}
	if os.Geteuid() == 0 {
		// As root apt drops to _apt for downloads, who cannot write into
		// a private directory under root's home.
		set("APT::Sandbox::User", "root")
	}
	return b.String(), nil
}

// AptError is a failed apt-get command, with the lines of its output that
// say why.
type AptError struct {
	Args   []string
	Status string // "exit status 100", "signal: killed", ...
	Lines  []string
}

func (e *AptError) Error() string {
	msg := fmt.Sprintf("apt-get %s failed (%s)", strings.Join(e.Args, " "), e.Status)
	if len(e.Lines) > 0 {
		msg += ": " + strings.Join(e.Lines, "; ")
	}
	return msg
}

// run runs apt-get args in workdir and returns its combined output. apt
// runs in its own process group, is killed with it when ctx ends, and gets
// LC_ALL=C so that its messages can be matched.
func (a *aptRunner) run(ctx context.Context, workdir string, args ...string) (string, error) {
	full := args
	if a.live == nil {
		full = append([]string{"-q"}, args...)
	}
	cmd := exec.CommandContext(ctx, a.aptGet, full...)
	cmd.Dir = workdir
	cmd.Env = append(os.Environ(), "APT_CONFIG="+filepath.Join(a.dir, aptConfName), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdin = nil
	// Its own process group (a terminal's ^C reaches ktest, which stops
	// it), and SIGKILL when ktest dies: Pdeathsig follows the thread that
	// started the child, so that thread stays locked until Wait returns.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = aptWaitDelay
	var out bytes.Buffer
	if a.live != nil {
		cmd.Stdout = a.live
		cmd.Stderr = io.MultiWriter(&out, a.live)
	} else {
		cmd.Stdout = &out
		cmd.Stderr = &out
	}
	err := cmd.Run()
	if err != nil {
		if ctx.Err() != nil {
			return out.String(), fmt.Errorf("apt-get %s: %w", strings.Join(args, " "), ctx.Err())
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return out.String(), fmt.Errorf("run apt-get: %w", err)
		}
		return out.String(), &AptError{Args: args, Status: ee.String(), Lines: problemLines(out.String())}
	}
	return out.String(), nil
}

// problemLines picks apt's error and warning lines (E:, W:, Err:) out of
// its output, without the noise of progress lines.
func problemLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(l, "\r"))
		if i := strings.LastIndexByte(l, '\r'); i >= 0 {
			l = strings.TrimSpace(l[i+1:])
		}
		switch {
		case strings.HasPrefix(l, "E: "), strings.HasPrefix(l, "W: "), strings.HasPrefix(l, "Err:"):
			lines = append(lines, l)
		}
	}
	return lines
}

// suiteLines returns the problem lines that name suite: apt names an index
// either by URL (.../dists/SUITE/InRelease) or as "MIRROR SUITE InRelease".
func suiteLines(lines []string, suite string) []string {
	re := regexp.MustCompile(`(/dists/|\s)` + regexp.QuoteMeta(suite) + `(/|\s|$)`)
	var out []string
	for _, l := range lines {
		if re.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}
