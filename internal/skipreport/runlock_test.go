package skipreport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/reexec"
)

// The test binary doubles as a second process (role "hold-run"): it
// creates a run directory under the base envChildBase names (as a running
// ktest does), prints its
// path, and holds it until killed or until its stdin closes.
const envChildBase = "KTEST_SKIPREPORT_CHILD_RUN_BASE"

func TestMain(m *testing.M) {
	os.Exit(reexec.Main(m, map[string]func() int{"hold-run": childHoldRun}))
}

func childHoldRun() int {
	base := os.Getenv(envChildBase)
	d, err := CreateRunDir(base, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(d.Path)
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent says or dies
	d.Close()
	return 0
}

// startRun starts a second process that holds a run directory under base
// and returns it with the directory's path.
func startRun(t *testing.T, base string) (*exec.Cmd, string) {
	t.Helper()
	cmd := reexec.Command(context.Background(), "hold-run", envChildBase+"="+base)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	return cmd, strings.TrimSpace(line)
}

// finishedRun creates a run directory and ends its run at once, as a short
// ktest run does.
func finishedRun(t *testing.T, base string, start time.Time) string {
	t.Helper()
	d, err := CreateRunDir(base, start)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteRun(RunRecord{Start: start, Verdict: "PASS"}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	return d.Path
}

// TestPruneKeepsARunThatIsStillGoing: a long run (another process, holding
// its run directory) survives KeepRuns+10 short runs started after it;
// once that process is gone (killed: it never wrote run.json), the next
// run prunes it.
func TestPruneKeepsARunThatIsStillGoing(t *testing.T) {
	base := t.TempDir()
	long, longDir := startRun(t, base)
	t0 := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	for i := range KeepRuns + 10 {
		finishedRun(t, base, t0.Add(time.Duration(i)*time.Second))
	}
	if _, err := os.Stat(longDir); err != nil {
		t.Fatalf("the directory of a run still going was pruned: %v", err)
	}
	dirs, _ := ListRunDirs(base)
	if len(dirs) != KeepRuns+1 || dirs[0] != longDir {
		t.Errorf("%d run dirs kept (oldest %s), want the %d newest and the running one", len(dirs), dirs[0], KeepRuns)
	}

	long.Process.Signal(syscall.SIGKILL)
	long.Wait()
	finishedRun(t, base, t0.Add(time.Hour))
	if _, err := os.Stat(longDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the run directory of a killed run survived pruning: %v", err)
	}
	if dirs, _ := ListRunDirs(base); len(dirs) != KeepRuns {
		t.Errorf("%d run dirs kept, want %d", len(dirs), KeepRuns)
	}
}

// TestPruneOrderWithinOneSecond: runs that start within the same second
// are pruned oldest first, whatever order they were created in.
func TestPruneOrderWithinOneSecond(t *testing.T) {
	base := t.TempDir()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	starts := make([]time.Time, KeepRuns+10)
	for i := range starts {
		starts[i] = t0.Add(time.Duration(i) * time.Millisecond)
	}
	byStart := map[string]time.Time{}
	for _, i := range rand.Perm(len(starts)) {
		byStart[finishedRun(t, base, starts[i])] = starts[i]
	}
	// A run never prunes itself (it holds its own directory while it
	// prunes), so when the last run created is one of the oldest it is
	// still there; the next run's prune, done here, removes it.
	pruneRuns(base, KeepRuns)
	dirs, err := ListRunDirs(base)
	if err != nil {
		t.Fatal(err)
	}
	var kept []time.Time
	for _, d := range dirs {
		if _, ok := byStart[d]; !ok {
			t.Fatalf("unexpected dir %s", d)
		}
		kept = append(kept, byStart[d])
	}
	if !slices.IsSortedFunc(kept, func(a, b time.Time) int { return a.Compare(b) }) {
		t.Errorf("ListRunDirs is not in start order within a second: %v", kept)
	}
	// The oldest 10 are the ones gone.
	if len(kept) != KeepRuns || !kept[len(kept)-1].Equal(starts[len(starts)-1]) {
		t.Errorf("kept %d runs, newest %v", len(kept), kept[len(kept)-1])
	}
	for _, s := range starts[len(starts)-KeepRuns:] {
		if !slices.ContainsFunc(kept, s.Equal) {
			t.Errorf("run started at %v (among the newest %d) was pruned", s.Format(time.StampMilli), KeepRuns)
		}
	}
}

// TestPruneLeavesWhatItCannotProve: a directory without a lockfile (an
// older ktest) goes only once it has run.json or is old; a lockfile that is
// a symlink keeps its directory; a half-made directory is swept when old.
func TestPruneLeavesWhatItCannotProve(t *testing.T) {
	base := t.TempDir()
	mk := func(name string) string {
		dir := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Join(dir, "skips"), 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	legacyDone := mk("20250101T000000Z-00000001")
	os.WriteFile(filepath.Join(legacyDone, "run.json"), []byte("{}"), 0o644)
	legacyRunning := mk("20250101T000000Z-00000002")
	legacyOld := mk("20250101T000000Z-00000003")
	old := time.Now().Add(-2 * legacyRunAge)
	os.Chtimes(legacyOld, old, old)
	linked := mk("20250101T000000Z-00000004")
	os.Symlink("/dev/null", filepath.Join(linked, runLockName))
	halfMade := mk(tempRunPrefix + "deadbeef")
	os.Chtimes(halfMade, old, old)
	halfMadeNew := mk(tempRunPrefix + "feedface")

	pruneRuns(base, 0)
	for dir, want := range map[string]bool{legacyDone: false, legacyRunning: true, legacyOld: false, linked: true, halfMade: false, halfMadeNew: true} {
		_, err := os.Stat(dir)
		if exists := err == nil; exists != want {
			t.Errorf("%s: exists=%v after pruning, want %v", filepath.Base(dir), exists, want)
		}
	}
}
