// Package modload loads Linux kernel modules the way modprobe does, from a
// module directory's text indexes (modules.dep, modules.alias,
// modules.builtin, as depmod or ktest kernel fetch writes them). It runs
// inside guests: vm/guest and the --vm init (internal/vminit) use it, and
// the host reads the same indexes to choose what an initramfs carries.
package modload

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"
)

// moduleInitCompressedFile is finit_module's MODULE_INIT_COMPRESSED_FILE
// flag (Linux 5.17+ with CONFIG_MODULE_DECOMPRESS): the kernel decompresses
// the file itself.
const moduleInitCompressedFile = 4

// Load loads the module name, and the modules it depends on first, from
// the module directory dir, like modprobe: name is a module name ("dummy",
// "nf-tables" and "nf_tables" alike) or an alias ("rtnl-link-dummy",
// "fs-overlay"); params are the module's parameters ("key=value k2=v2",
// "" for none). A module that is built in or already loaded is not an
// error. Modules compressed with xz, zstd or gzip are handed to the kernel
// as they are when it can decompress them (finit_module with
// MODULE_INIT_COMPRESSED_FILE), else decompressed here and loaded with
// init_module.
func Load(dir, name, params string) error {
	idx, err := ReadIndex(dir)
	if err != nil {
		return fmt.Errorf("load module %s: %w", name, err)
	}
	order, err := idx.LoadOrder(name)
	if err != nil {
		return fmt.Errorf("load module %s: %w", name, err)
	}
	for i, rel := range order {
		p := ""
		if i == len(order)-1 {
			p = params
		}
		if err := insert(dir, rel, p); err != nil {
			if i < len(order)-1 {
				return fmt.Errorf("load module %s: dependency %s: %w", name, rel, err)
			}
			return fmt.Errorf("load module %s: %w", name, err)
		}
	}
	return nil
}

// LoadOrder returns the files (relative to the directory) to load for
// name, dependencies first and the module itself last; none when it is
// built in.
func (idx *Index) LoadOrder(name string) ([]string, error) {
	mod, ok := idx.resolve(name)
	if !ok {
		if idx.builtin[normalizeModule(name)] {
			return nil, nil
		}
		return nil, fmt.Errorf("not in %s/modules.dep, modules.alias or modules.builtin (is it built for this kernel, and were the indexes generated?)", idx.dir)
	}
	if idx.builtin[mod] {
		return nil, nil
	}
	deps := idx.deps[idx.paths[mod]]
	order := make([]string, 0, len(deps)+1)
	for i := len(deps) - 1; i >= 0; i-- {
		order = append(order, deps[i])
	}
	return append(order, idx.paths[mod]), nil
}

// Builtin reports whether the module name is built into the kernel.
func (idx *Index) Builtin(name string) bool { return idx.builtin[normalizeModule(name)] }

// Insert loads one module file (params as for Load) unless a module of its
// name is loaded already.
func Insert(path, params string) error {
	return insertModule(filepath.Dir(path), filepath.Base(path), params)
}

// insert loads one module file; tests replace it to see the order.
var insert = insertModule

// Index is what Load reads of a module directory.
type Index struct {
	dir     string
	paths   map[string]string   // module name → path relative to dir
	deps    map[string][]string // path → dependency paths, modules.dep order
	aliases [][2]string         // pattern, module name
	builtin map[string]bool     // built-in module names
}

func normalizeModule(name string) string { return strings.ReplaceAll(name, "-", "_") }

// moduleName is the name a module file implies.
func moduleName(p string) string {
	base := path.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		base = strings.TrimSuffix(base, ext)
	}
	return normalizeModule(strings.TrimSuffix(base, ".ko"))
}

// ReadIndex reads the indexes of the module directory dir.
func ReadIndex(dir string) (*Index, error) {
	idx := &Index{dir: dir, paths: map[string]string{}, deps: map[string][]string{}, builtin: map[string]bool{}}
	dep, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("read the module index: %w", err)
	}
	defer dep.Close()
	if err := parseModulesDep(dep, idx); err != nil {
		return nil, fmt.Errorf("read %s/modules.dep: %w", dir, err)
	}
	if f, err := os.Open(filepath.Join(dir, "modules.alias")); err == nil {
		parseModulesAlias(f, idx)
		f.Close()
	}
	if data, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(data)) {
			idx.builtin[moduleName(l)] = true
		}
	}
	return idx, nil
}

// parseModulesDep reads modules.dep lines: "path: dep dep ...".
func parseModulesDep(r io.Reader, idx *Index) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		p, rest, ok := strings.Cut(line, ":")
		if !ok || p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "..") {
			return fmt.Errorf("line %d: %q is not \"path: dependencies\"", n, line)
		}
		deps := strings.Fields(rest)
		for _, d := range deps {
			if strings.HasPrefix(d, "/") || strings.Contains(d, "..") {
				return fmt.Errorf("line %d: dependency %q is not a path inside the module directory", n, d)
			}
		}
		name := moduleName(p)
		if _, dup := idx.paths[name]; !dup {
			idx.paths[name] = p
		}
		idx.deps[p] = deps
	}
	return sc.Err()
}

// parseModulesAlias reads modules.alias lines: "alias PATTERN NAME".
func parseModulesAlias(r io.Reader, idx *Index) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "alias" {
			idx.aliases = append(idx.aliases, [2]string{f[1], normalizeModule(f[2])})
		}
	}
}

// resolve turns a name or alias into a module name of the index.
func (idx *Index) resolve(name string) (string, bool) {
	if n := normalizeModule(name); idx.paths[n] != "" {
		return n, true
	}
	for _, a := range idx.aliases {
		if ok, _ := path.Match(a[0], name); ok && idx.paths[a[1]] != "" {
			return a[1], true
		}
	}
	return "", false
}

// insertModule loads one module file, unless it is loaded already.
func insertModule(dir, rel, params string) error {
	if st, err := os.ReadFile(filepath.Join("/sys/module", moduleName(rel), "initstate")); err == nil && strings.TrimSpace(string(st)) == "live" {
		return nil
	}
	p := filepath.Join(dir, rel)
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	compressed := strings.HasSuffix(rel, ".xz") || strings.HasSuffix(rel, ".zst") || strings.HasSuffix(rel, ".gz")
	flags := 0
	if compressed {
		flags = moduleInitCompressedFile
	}
	err = unix.FinitModule(int(f.Fd()), params, flags)
	if compressed && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS)) {
		// This kernel cannot decompress this format itself.
		var data []byte
		if data, err = decompressModule(f, rel); err != nil {
			return fmt.Errorf("decompress %s: %w", p, err)
		}
		err = unix.InitModule(data, params)
	}
	switch {
	case err == nil, errors.Is(err, unix.EEXIST):
		return nil
	case errors.Is(err, unix.ENOEXEC):
		return fmt.Errorf("%s: %w (built for another kernel, or not a module; the kernel log says which)", p, err)
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%s: %w (an unknown symbol: a dependency missing from modules.dep? the kernel log names it)", p, err)
	}
	return fmt.Errorf("%s: %w", p, err)
}

func decompressModule(f *os.File, rel string) ([]byte, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	var r io.Reader
	switch {
	case strings.HasSuffix(rel, ".xz"):
		zr, err := xz.NewReader(f)
		if err != nil {
			return nil, err
		}
		r = zr
	case strings.HasSuffix(rel, ".zst"):
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	default:
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		r = zr
	}
	var b bytes.Buffer
	_, err := io.Copy(&b, r)
	return b.Bytes(), err
}
