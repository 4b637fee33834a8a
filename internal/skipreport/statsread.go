package skipreport

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// maxSidecarSize bounds what the stats reader reads of one file. Sidecars
// are a few KiB; anything this large is not one, and reading it whole would
// only cost memory.
const maxSidecarSize = 1 << 20

// FindRunDirs returns the run directories that dirs name, without
// duplicates, in the order found. Each of dirs is either a sidecar base
// directory holding run directories (<UTC stamp>-<hex>/), or a run directory
// itself: its name has the run-directory form, or it holds run.json or
// skips/. Entries of a base directory that are not run directories are
// ignored, as pruning ignores them. A dir that does not exist or is not a
// directory is an error; a base directory without runs gives none.
func FindRunDirs(dirs []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(d string) {
		key := d
		if abs, err := filepath.Abs(d); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, d)
		}
	}
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("read sidecar directory %s: %w", dir, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("read sidecar directory %s: not a directory", dir)
		}
		if isRunDir(dir) {
			add(filepath.Clean(dir))
			continue
		}
		runs, err := ListRunDirs(dir)
		if err != nil {
			return nil, err
		}
		for _, r := range runs {
			add(r)
		}
	}
	return out, nil
}

func isRunDir(dir string) bool {
	if runDirName.MatchString(filepath.Base(filepath.Clean(dir))) {
		return true
	}
	if fi, err := os.Stat(filepath.Join(dir, "run.json")); err == nil && !fi.IsDir() {
		return true
	}
	fi, err := os.Stat(filepath.Join(dir, "skips"))
	return err == nil && fi.IsDir()
}

// ReadRunDirs reads run directories concurrently and returns their contents
// in the order of dirs, for stats. It reads what ReadRunDir reads, with the
// same records and problem kinds, except that skip records carry only the
// fields stats uses (see skipForStats), and a file over 1 MiB is
// "malformed" unread. In addition it reports files that ktest does not write
// in a run directory or its skips/ as "unknown_file" problems (names
// starting with "." are in-progress atomic writes and are skipped).
//
// It is the fast path of `ktest stats`: a bounded pool of workers (several
// per CPU, since much of the time is spent in open and read system calls)
// takes directories in turn, and each worker reuses one read buffer.
func ReadRunDirs(dirs []string) []RunContents {
	out := make([]RunContents, len(dirs))
	workers := min(runtime.NumCPU()*4, len(dirs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			r := sidecarReader{buf: make([]byte, 0, 16<<10)}
			for {
				i := int(next.Add(1) - 1)
				if i >= len(dirs) {
					return
				}
				out[i] = r.readRunDir(dirs[i])
			}
		})
	}
	wg.Wait()
	return out
}

// sidecarReader is one worker's state: a buffer reused for every file.
type sidecarReader struct {
	buf []byte
}

func (r *sidecarReader) readRunDir(dir string) RunContents {
	rc := RunContents{Dir: dir}
	err := withDir(dir, func(dirfd int, entries []os.DirEntry) {
		for _, e := range entries {
			name := e.Name()
			path := filepath.Join(dir, name)
			switch {
			case strings.HasPrefix(name, "."):
				// an atomic write in progress
			case name == "run.json" && !e.IsDir():
				var rec RunRecord
				if p, ok := r.decodeAt(dirfd, dir, e, runSchemaFamily, &rec, &rec.Schema); !ok {
					rc.Problems = append(rc.Problems, p)
					continue
				}
				rc.Run = &rec
			case name == "skips" && e.IsDir():
				r.readSkips(&rc, path)
			case name == VMDumpsDir && e.IsDir():
				// ktest --vm's hard-bound dumps: text for people, not stats.
			default:
				rc.Problems = append(rc.Problems, FileProblem{Path: path, Kind: "unknown_file",
					Reason: "not a file ktest writes in a run directory (run.json, skips/, vm-dumps/)"})
			}
		}
	})
	if err != nil {
		rc.Problems = append(rc.Problems, FileProblem{Path: dir, Kind: "unreadable", Reason: err.Error()})
	}
	return rc
}

func (r *sidecarReader) readSkips(rc *RunContents, skipDir string) {
	err := withDir(skipDir, func(dirfd int, entries []os.DirEntry) {
		if len(entries) > 0 {
			rc.Skips = slices.Grow(rc.Skips, len(entries))
		}
		for _, e := range entries {
			name := e.Name()
			switch {
			case strings.HasPrefix(name, "."):
				continue // temp files of an atomic write in progress
			case e.IsDir() || !strings.HasSuffix(name, ".json"):
				rc.Problems = append(rc.Problems, FileProblem{Path: filepath.Join(skipDir, name), Kind: "unknown_file",
					Reason: "not a skip sidecar (skips/ holds only *.json files)"})
				continue
			}
			var rec skipForStats
			if p, ok := r.decodeAt(dirfd, skipDir, e, SkipSchema, &rec, &rec.Schema); !ok {
				rc.Problems = append(rc.Problems, p)
				continue
			}
			rc.Skips = append(rc.Skips, rec.skipRecord())
		}
	})
	if err != nil {
		rc.Problems = append(rc.Problems, FileProblem{Path: skipDir, Kind: "unreadable", Reason: err.Error()})
	}
}

// withDir opens dir, lists it sorted by name, and calls fn with the open
// directory's fd (for openat) and the entries. The fd is valid only during
// fn; withDir closes it.
func withDir(dir string, fn func(dirfd int, entries []os.DirEntry)) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	slices.SortFunc(entries, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	rawConn, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	return rawConn.Control(func(fd uintptr) { fn(int(fd), entries) })
}

// errTooLarge marks a file larger than maxSidecarSize.
var errTooLarge = errors.New("larger than any sidecar")

// readAt reads name relative to dirfd (the directory dir, for errors) into
// the reader's buffer. The result is valid until the next call. Plain
// openat/read/close skip the work os.ReadFile does that a small regular
// file does not need (fstat, poller registration).
func (r *sidecarReader) readAt(dirfd int, dir, name string, typ os.FileMode, whole bool) ([]byte, error) {
	var fd int
	var err error
	for {
		// O_NONBLOCK: a FIFO named *.json must not hang the report.
		fd, err = unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: filepath.Join(dir, name), Err: err}
	}
	defer unix.Close(fd)
	if !typ.IsRegular() {
		// d_type said symlink, something else, or nothing: only a
		// regular file can be a sidecar (a FIFO would read as empty).
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return nil, &os.PathError{Op: "fstat", Path: filepath.Join(dir, name), Err: err}
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil, &os.PathError{Op: "read", Path: filepath.Join(dir, name), Err: errors.New("not a regular file")}
		}
	}
	buf := r.buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf))
		}
		room := cap(buf) - len(buf)
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: filepath.Join(dir, name), Err: err}
		}
		buf = buf[:len(buf)+n]
		if len(buf) > maxSidecarSize {
			return nil, errTooLarge
		}
		if n == 0 || (n < room && !whole) {
			// A short read of a local regular file is its end; this
			// saves a read per file. Should it not be (a file system
			// that returns less), the file fails to decode and
			// decodeAt reads it again with whole set.
			break
		}
	}
	r.buf = buf
	return buf, nil
}

// decodeAt reads entry e of the directory dir, open as dirfd, and decodes it
// into v with decodeSidecar. When that fails it reads the file again whole and
// parses it the way ParseRun and ParseSkip do, so that the problem kind and
// reason are exactly theirs, and a short read can never be misreported.
func (r *sidecarReader) decodeAt(dirfd int, dir string, e os.DirEntry, want string, v any, schema *string) (FileProblem, bool) {
	data, err := r.readAt(dirfd, dir, e.Name(), e.Type(), false)
	if err == nil {
		if decodeSidecar(data, want, v, schema) == nil {
			return FileProblem{}, true
		}
		data, err = r.readAt(dirfd, dir, e.Name(), e.Type(), true)
	}
	path := filepath.Join(dir, e.Name())
	switch {
	case errors.Is(err, errTooLarge) || (err == nil && len(data) > maxSidecarSize):
		return FileProblem{Path: path, Kind: "malformed", Reason: fmt.Sprintf("larger than any sidecar (over %d bytes)", maxSidecarSize)}, false
	case err != nil:
		return FileProblem{Path: path, Kind: "unreadable", Reason: err.Error()}, false
	}
	if err := parseSidecar(data, want, v); err != nil {
		return problemOf(path, err), false
	}
	return FileProblem{}, true
}

// decodeSidecar is parseSidecar in one pass instead of two: it decodes data
// into v and checks the schema field (*schema, a field of v) afterwards.
// Only when that fails does it call parseSidecar for its exact error, so it
// accepts and rejects exactly what parseSidecar does (FuzzDecodeSidecar
// checks that).
func decodeSidecar(data []byte, want string, v any, schema *string) error {
	if json.Unmarshal(data, v) == nil && schemaAccepted(*schema, want) {
		return validateRecord(v)
	}
	return parseSidecar(data, want, v)
}

// skipForStats is the part of a skip sidecar stats uses. Leaving out the
// rest (host snapshot, kernel record, run id, errno, run source), most of a
// sidecar's bytes, lets the decoder skip it instead of building it, which
// halves decoding time. The price: the left-out fields' types are not
// checked, so a skip sidecar with, say, a wrongly typed host field counts,
// where ParseSkip would call it malformed. Its JSON must still be valid.
type skipForStats struct {
	Schema   string         `json:"schema"`
	Time     time.Time      `json:"time"`
	Package  string         `json:"package"`
	Test     string         `json:"test"`
	Category Category       `json:"category"`
	Reason   string         `json:"reason"`
	Holders  []HolderRecord `json:"holders"`
}

func (s *skipForStats) skipRecord() SkipRecord {
	return SkipRecord{Schema: s.Schema, Time: s.Time, Package: s.Package, Test: s.Test,
		Category: s.Category, Reason: s.Reason, Holders: s.Holders}
}

// VMDumpsDir is the run directory's directory of `ktest vm-exec`'s
// hard-bound dumps (docs/spec.md §8, §14).
const VMDumpsDir = "vm-dumps"
