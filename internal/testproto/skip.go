package testproto

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ktest-dev/ktest/internal/atomicfile"
	"github.com/ktest-dev/ktest/internal/filekind"
)

// SkipSchema identifies a skip sidecar (docs/spec.md §8). Within the
// version fields are only added; a reader reports another value as an
// unknown schema rather than guessing.
const SkipSchema = "ktest.skip/v1"

// SkipRecord is one skips/*.json: one per SKIP site (docs/spec.md §8).
type SkipRecord struct {
	Schema   string        `json:"schema"`
	Time     time.Time     `json:"time"`
	RunID    string        `json:"run_id"`
	Package  string        `json:"package"`
	Test     string        `json:"test"`
	Category Category      `json:"category"`
	Reason   string        `json:"reason"`
	Errno    string        `json:"errno"`
	Host     HostSnapshot  `json:"host"`
	Kernel   *KernelRecord `json:"kernel"`
	// Holders are the lock holders for a lock-timeout contention skip.
	Holders []HolderRecord `json:"holders"`
	// RunSource is "ci" or "local", as in run.json.
	RunSource string `json:"run_source"`
}

// KernelRecord identifies a kernel image.
type KernelRecord struct {
	Path     string `json:"path"`
	CacheKey string `json:"cache_key"`
	Version  string `json:"version"`
	SHA256   string `json:"sha256"`
	// Source says how it was found: flag, KTSTR_TEST_KERNEL, KTSTR_KERNEL,
	// cache, build-tree or host.
	Source string `json:"source"`
}

// HolderRecord is another process holding a lock.
type HolderRecord struct {
	PID     int    `json:"pid"`
	Mode    string `json:"mode"`
	Cmdline string `json:"cmdline"`
}

// WriteSkip writes one skip sidecar into runDir/skips atomically and returns
// its path. runDir is a RunDir's Path (KTEST_SIDECAR_DIR in tests).
func WriteSkip(runDir string, rec SkipRecord) (string, error) {
	rec.Schema = SkipSchema
	if rec.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	// Compact: stats reads tens of thousands of these, and every byte
	// costs; run.json, one per run, stays indented for people.
	data, err := json.Marshal(rec)
	if err != nil {
		return "", fmt.Errorf("encode skip sidecar: %w", err)
	}
	dir := filepath.Join(runDir, "skips")
	if err := skipsDir(dir); err != nil {
		return "", err
	}
	path := filepath.Join(dir, rec.Time.UTC().Format("20060102T150405.000000000Z")+"-"+randomHex(4)+".json")
	if err := atomicfile.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// skipsDir makes sure dir (a run's skips/) is a real directory, creating
// it (and the run directory) when missing. A symlink or other file planted
// under that name is refused: the sidecar would land wherever it points.
func skipsDir(dir string) error {
	st, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return fmt.Errorf("create skip sidecar directory %s: %w", dir, err)
		}
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create skip sidecar directory %s: %w", dir, err)
		}
		st, err = os.Lstat(dir)
	}
	if err != nil {
		return fmt.Errorf("skip sidecar directory %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("skip sidecar directory %s is a %s, not a directory: not writing through it; remove it", dir, filekind.Of(st.Mode()))
	}
	return nil
}

// randomHex returns n random bytes in hex, for unique file names.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}
