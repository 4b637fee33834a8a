package kernelfetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/bzimage"
	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/kernelimage"
)

// Names of ktest's files inside an entry's cache.KtestDir, recorded in the
// metadata as paths relative to the entry.
const (
	ModulesDir = "modules" // the module directory (what /lib/modules/RELEASE holds)
	ConfigFile = "config"  // the kernel's .config
)

// Metadata keys the Fetcher writes besides the source's own.
const (
	MetaModules = "ktest_modules" // "ktest/modules"
	MetaConfig  = "ktest_config"  // "ktest/config"
	MetaSource  = "ktest_source"  // the Source's Name
)

// DefaultLockTimeout bounds the wait for another fetch (or a run) holding
// the entry's lock.
const DefaultLockTimeout = 10 * time.Minute

// Fetcher fetches kernels from a Source into a Cache.
type Fetcher struct {
	Cache  *cache.Cache
	Source Source
	// Refresh makes the source renew its index before resolving.
	Refresh bool
	// LockTimeout bounds the wait for the entry's LOCK_EX (default
	// DefaultLockTimeout).
	LockTimeout time.Duration
	// WorkDir is where download directories are made (a private directory
	// of the source's; removed after each fetch).
	WorkDir string
	// Notes receives one-line progress notes; nil discards them.
	Notes io.Writer
}

// Result is one fetched (or already cached) kernel.
type Result struct {
	Key   string
	Entry cache.Entry
	// Downloaded is false when the entry was already in the cache.
	Downloaded bool
	// Bytes is what was downloaded.
	Bytes int64
	// Candidate is what was resolved (zero when the cache answered alone).
	Candidate Candidate
	// Vmlinux describes the stored vmlinux (zero Size when none).
	Vmlinux bzimage.Vmlinux
	// Modules is the number of modules stored.
	Modules int
}

// Complete reports whether an entry holds everything a fetch stores: a
// valid entry with its modules index. Entries made by kernel add or by the
// old scripts/fetch-kernel.sh are valid but not complete.
func Complete(e cache.Entry) bool {
	if !e.Valid() {
		return false
	}
	_, err := os.Stat(filepath.Join(e.Dir, cache.KtestDir, ModulesDir, "modules.dep"))
	return err == nil
}

func (f *Fetcher) notef(format string, args ...any) {
	if f.Notes != nil {
		fmt.Fprintf(f.Notes, format, args...)
	}
}

// Fetch resolves spec and stores the kernel unless a complete entry of it
// is cached already. The download happens under the entry's LOCK_EX, and
// the cache is checked again once the lock is held, so that of several
// concurrent fetches of one kernel only the first downloads.
func (f *Fetcher) Fetch(ctx context.Context, spec Spec) (Result, error) {
	var fallback string // an incomplete cached entry of an exact version
	if spec.Kind == SpecPackageVersion {
		entries, err := f.Cache.List()
		if err != nil {
			return Result{}, err
		}
		if key := f.Source.Cached(entries, spec); key != "" {
			if e, err := f.Cache.Lookup(key); err == nil && Complete(e) {
				return Result{Key: key, Entry: e}, nil
			}
			fallback = key
		}
	}
	cands, err := f.Source.Resolve(ctx, spec, f.Refresh)
	if err != nil {
		if fallback != "" && ctx.Err() == nil {
			if e, lerr := f.Cache.Lookup(fallback); lerr == nil {
				f.notef("ktest: note: %s is cached without modules or vmlinux (an older fetch made it) and cannot be completed: %v\n", fallback, err)
				return Result{Key: fallback, Entry: e}, nil
			}
		}
		return Result{}, err
	}
	c := cands[0]
	if e, err := f.Cache.Lookup(c.Key); err == nil && Complete(e) {
		return Result{Key: c.Key, Entry: e, Candidate: c}, nil
	}
	timeout := f.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	lock, err := f.Cache.LockEntry(ctx, c.Key, cache.Exclusive, timeout)
	if err != nil {
		var busy *cache.LockTimeoutError
		if errors.As(err, &busy) {
			return Result{}, hint.Wrap(fmt.Errorf("fetch %s: %w", c.Key, err), "another fetch or a test run holds this kernel; `ktest locks` shows who")
		}
		return Result{}, fmt.Errorf("fetch %s: %w", c.Key, err)
	}
	defer lock.Unlock()
	if e, err := f.Cache.Lookup(c.Key); err == nil && Complete(e) {
		f.notef("ktest: %s was fetched by another process meanwhile\n", c.Key)
		return Result{Key: c.Key, Entry: e, Candidate: c}, nil
	}
	return f.download(ctx, lock, c)
}

// sweepWork removes the work directories ("PID-KEY-*") of processes that
// no longer exist: a fetch killed by SIGKILL leaves its downloads there.
// WorkDir is a private directory of this user's, so whatever is in it with
// that name form is a fetch's.
func sweepWork(dir string) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range des {
		pidText, _, ok := strings.Cut(de.Name(), "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || !de.IsDir() {
			continue
		}
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			os.RemoveAll(filepath.Join(dir, de.Name()))
		}
	}
}

// download fetches c into a work directory and stores it under lock.
func (f *Fetcher) download(ctx context.Context, lock *cache.Lock, c Candidate) (Result, error) {
	if err := os.MkdirAll(f.WorkDir, 0o700); err != nil {
		return Result{}, fmt.Errorf("fetch %s: %w", c.Key, err)
	}
	sweepWork(f.WorkDir)
	work, err := os.MkdirTemp(f.WorkDir, strconv.Itoa(os.Getpid())+"-"+c.Key+"-")
	if err != nil {
		return Result{}, fmt.Errorf("fetch %s: %w", c.Key, err)
	}
	defer os.RemoveAll(work)
	start := time.Now()
	u, err := f.Source.Download(ctx, c, work)
	if err != nil {
		return Result{}, fmt.Errorf("fetch %s: %w", c.Key, err)
	}
	elapsed := time.Since(start)
	f.notef("ktest: downloaded %s in %.1fs (%s/s)\n", HumanBytes(u.Downloaded), elapsed.Seconds(), HumanBytes(int64(float64(u.Downloaded)/max(elapsed.Seconds(), 0.001))))

	info, err := kernelimage.Inspect(u.Image)
	if err != nil {
		return Result{}, fmt.Errorf("fetch %s: the downloaded image: %w", c.Key, err)
	}
	if info.Release != c.Release {
		return Result{}, fmt.Errorf("fetch %s: the image's header says release %q, the package %q; not storing a kernel under the wrong name", c.Key, info.Release, c.Release)
	}
	res := Result{Key: c.Key, Downloaded: true, Bytes: u.Downloaded, Candidate: c}
	vmlinux := filepath.Join(work, cache.VmlinuxFile)
	res.Vmlinux, err = bzimage.ExtractVmlinux(u.Image, vmlinux)
	switch {
	case bzimage.IsUnsupported(err):
		f.notef("ktest: note: no vmlinux stored: %v\n", err)
		vmlinux = ""
	case err != nil:
		return Result{}, fmt.Errorf("fetch %s: %w", c.Key, err)
	}

	meta := cache.Metadata{
		Version: cache.StringPtr(c.Release),
		// A downloaded, prebuilt kernel: ktstr's "tarball" (a kernel
		// that came from an archive rather than a local tree or a git
		// checkout) carries no payload that would be untrue of it.
		Source:          cache.Source{Type: cache.SourceTarball},
		Arch:            info.Arch,
		ImageName:       cache.DefaultImageName(info.Arch),
		VmlinuxStripped: res.Vmlinux.Stripped,
	}
	extras := map[string]any{MetaSource: f.Source.Name(), MetaModules: cache.KtestDir + "/" + ModulesDir}
	if u.Config != "" {
		extras[MetaConfig] = cache.KtestDir + "/" + ConfigFile
	}
	for k, v := range u.Metadata {
		extras[k] = v
	}
	if err := setExtras(&meta, extras); err != nil {
		return Result{}, fmt.Errorf("fetch %s: %w", c.Key, err)
	}
	src := cache.StoreSource{Image: u.Image, Vmlinux: vmlinux, Metadata: meta, Files: func(dir string) error {
		n, err := writeKtestFiles(ctx, dir, c.Release, u, f.Notes)
		res.Modules = n
		return err
	}}
	e, err := f.Cache.StoreLocked(ctx, lock, c.Key, src)
	if err != nil {
		return Result{}, hint.Wrap(fmt.Errorf("fetch %s: %w", c.Key, err),
			"nothing was stored; check the space and permissions of the cache ("+f.Cache.Root+"; KTSTR_CACHE_DIR moves it)")
	}
	res.Entry = e
	return res, nil
}
