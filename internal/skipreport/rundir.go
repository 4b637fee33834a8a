package skipreport

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/ktest-dev/ktest/internal/atomicfile"
)

// KeepRuns is how many run directories a base directory keeps; creating a
// run removes the oldest beyond it.
const KeepRuns = 50

// runStampLayout names run directories so that they sort by start time.
const runStampLayout = "20060102T150405Z"

var runDirName = regexp.MustCompile(`^\d{8}T\d{6}Z-[0-9a-f]{8}$`)

// RunDir is one run's sidecar directory, <base>/<run id>/, holding run.json
// and skips/. Tests receive its path as KTEST_SIDECAR_DIR.
type RunDir struct {
	ID   string
	Path string
	// lock is the run's flock on <Path>/.lock, held until Close.
	lock *os.File
}

// CreateRunDir makes a new run directory under base (creating base if
// needed), locked for the run's life (see runlock.go; Close releases it),
// and prunes base to the newest KeepRuns runs, skipping runs that are
// still going.
func CreateRunDir(base string, now time.Time) (*RunDir, error) {
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("create sidecar directory %s: %w (choose another with --sidecar-dir)", base, err)
	}
	dir, err := makeRunDir(base, now)
	if err != nil {
		return nil, err
	}
	pruneRuns(base, KeepRuns)
	return dir, nil
}

// PathOrEmpty is the directory's path, or "" for a nil RunDir (a run
// without sidecars).
func (d *RunDir) PathOrEmpty() string {
	if d == nil {
		return ""
	}
	return d.Path
}

// IDOrEmpty is the run id, or "" for a nil RunDir.
func (d *RunDir) IDOrEmpty() string {
	if d == nil {
		return ""
	}
	return d.ID
}

// WriteRun writes run.json atomically.
func (d *RunDir) WriteRun(rec RunRecord) error {
	rec.Schema = RunSchema
	if rec.RunID == "" {
		rec.RunID = d.ID
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("encode run.json: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(d.Path, "run.json"), append(data, '\n'), 0o644)
}

// ListRunDirs returns the run directories under base, oldest first. A
// missing base has no runs.
func ListRunDirs(base string) ([]string, error) {
	entries, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read sidecar directory %s: %w", base, err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && runDirName.MatchString(e.Name()) {
			dirs = append(dirs, filepath.Join(base, e.Name()))
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

// DefaultBase is where sidecars go without --sidecar-dir or
// KTEST_SIDECAR_DIR: .ktest/runs under the main module's root (the nearest
// directory above dir holding go.mod), or under dir when there is none.
func DefaultBase(dir string) string {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, ".ktest", "runs")
		}
		parent := filepath.Dir(d)
		if parent == d {
			return filepath.Join(dir, ".ktest", "runs")
		}
		d = parent
	}
}
