package kernelfetch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/ktest-dev/ktest/internal/cache"
	"github.com/ktest-dev/ktest/internal/kmod"
)

// setExtras stores each value as a top-level metadata key.
func setExtras(m *cache.Metadata, extras map[string]any) error {
	if m.Extra == nil {
		m.Extra = map[string]json.RawMessage{}
	}
	for k, v := range extras {
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("metadata key %s: %w", k, err)
		}
		m.Extra[k] = raw
	}
	return nil
}

// writeKtestFiles fills an entry's ktest directory: modules/ with every
// file of the module directory plus generated modules.dep, modules.alias
// and modules.softdep, and the config. It returns the number of modules.
func writeKtestFiles(ctx context.Context, dir, release string, u *Unpacked, notes io.Writer) (int, error) {
	if u.Config != "" {
		if err := copyNew(u.Config, filepath.Join(dir, ConfigFile)); err != nil {
			return 0, err
		}
	}
	modDir := filepath.Join(dir, ModulesDir)
	if err := os.Mkdir(modDir, 0o755); err != nil {
		return 0, err
	}
	mods, err := writeModules(ctx, modDir, u)
	if err != nil {
		return 0, err
	}
	order, err := kmod.ReadOrder(filepath.Join(modDir, "modules.order"))
	if err != nil {
		return 0, err
	}
	ix, warnings := kmod.NewIndex(mods, order)
	for _, w := range warnings {
		if notes != nil {
			fmt.Fprintf(notes, "ktest: note: %s: %s\n", release, w)
		}
	}
	if err := ix.WriteIndexes(modDir); err != nil {
		return 0, err
	}
	return len(mods), nil
}

// writeModules writes the module tree into modDir and reads every module's
// .modinfo on the way, in parallel with the writing.
func writeModules(ctx context.Context, modDir string, u *Unpacked) ([]kmod.Module, error) {
	type job struct {
		rel  string
		data []byte
	}
	jobs := make(chan job, 64)
	var (
		mu     sync.Mutex
		mods   []kmod.Module
		badMod error
		wg     sync.WaitGroup
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				m, err := kmod.ReadModule(j.rel, j.data)
				mu.Lock()
				if err != nil && badMod == nil {
					badMod = err
				}
				if err == nil {
					mods = append(mods, m)
				}
				mu.Unlock()
			}
		}()
	}
	made := map[string]bool{modDir: true}
	walkErr := u.Modules(ctx, func(rel string, mode fs.FileMode, r io.Reader) error {
		if !filepath.IsLocal(rel) || strings.Contains(rel, "\\") {
			return fmt.Errorf("module tree entry %q escapes the module directory", rel)
		}
		dst := filepath.Join(modDir, rel)
		if d := filepath.Dir(dst); !made[d] {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			made[d] = true
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("read %s: %w", rel, err)
		}
		if err := writeNew(dst, data, mode|0o400); err != nil {
			return err
		}
		if kmod.IsModulePath(rel) {
			jobs <- job{rel, data}
		}
		return nil
	})
	close(jobs)
	wg.Wait()
	if walkErr != nil {
		return nil, fmt.Errorf("unpack modules: %w", walkErr)
	}
	if badMod != nil {
		return nil, badMod
	}
	return mods, nil
}

func writeNew(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode&0o755)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func copyNew(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return writeNew(dst, data, 0o644)
}
