// Package kmod reads what depmod(8) reads from kernel modules and writes
// depmod's text indexes, so that a module tree from a Debian package (which
// ships no modules.dep) can be loaded by name without kmod on the host.
//
// A module's metadata is its .modinfo ELF section: NUL-terminated
// "key=value" strings (name, depends, alias, softdep, vermagic, license,
// ...), possibly with NUL padding between them.
package kmod

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// KV is one "key=value" entry of .modinfo.
type KV struct{ Key, Value string }

// ParseModinfo splits the content of a .modinfo section into its entries,
// in order. Empty strings (alignment padding) are skipped; an entry without
// "=" is an error, as is a last entry that is not NUL-terminated.
func ParseModinfo(data []byte) ([]KV, error) {
	var kvs []KV
	for len(data) > 0 {
		i := bytes.IndexByte(data, 0)
		if i < 0 {
			return nil, fmt.Errorf("modinfo: %q is not NUL-terminated", truncate(data))
		}
		s := data[:i]
		data = data[i+1:]
		if len(s) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(s, []byte("="))
		if !ok || len(k) == 0 {
			return nil, fmt.Errorf("modinfo: entry %q is not key=value", truncate(s))
		}
		kvs = append(kvs, KV{string(k), string(v)})
	}
	return kvs, nil
}

func truncate(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// Module is what depmod needs of one module.
type Module struct {
	// Name is the module's name: modinfo "name" when present, else the
	// file name without ".ko" and compression suffix, "-" folded to "_".
	Name string
	// Path is the module file relative to the module directory
	// (kernel/drivers/net/dummy.ko.xz).
	Path string
	// Depends are the names of the modules it needs (modinfo "depends").
	Depends []string
	// Aliases are its alias patterns (modinfo "alias").
	Aliases []string
	// Softdeps are its soft dependencies, verbatim ("pre: a post: b").
	Softdeps []string
	// Vermagic is modinfo "vermagic"; its first word is the kernel release
	// the module was built for.
	Vermagic string
}

// NameFromPath returns the module name a file name implies:
// "drivers/net/dummy.ko.xz" → "dummy", "nf-tables.ko" → "nf_tables".
func NameFromPath(path string) string {
	base := path[strings.LastIndexByte(path, '/')+1:]
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		base = strings.TrimSuffix(base, ext)
	}
	base = strings.TrimSuffix(base, ".ko")
	return Normalize(base)
}

// Normalize folds "-" to "_", as the kernel and kmod do for module names.
func Normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }

// IsModulePath reports whether a file name is a kernel module, compressed
// or not.
func IsModulePath(path string) bool {
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(path, ext) {
			return true
		}
	}
	return false
}

// maxModuleSize bounds a decompressed module (the largest real ones are a
// few tens of MiB).
const maxModuleSize = 256 << 20

// Decompress returns the ELF of a module file's content, decompressing
// .ko.xz, .ko.zst and .ko.gz by the file name.
func Decompress(path string, data []byte) ([]byte, error) {
	var r io.Reader
	switch {
	case strings.HasSuffix(path, ".ko"):
		return data, nil
	case strings.HasSuffix(path, ".xz"):
		zr, err := xz.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		r = zr
	case strings.HasSuffix(path, ".zst"):
		zr, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(path, ".gz"):
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		r = zr
	default:
		return nil, fmt.Errorf("%s is not a module file (.ko, .ko.xz, .ko.zst, .ko.gz)", path)
	}
	out, err := io.ReadAll(io.LimitReader(r, maxModuleSize+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxModuleSize {
		return nil, fmt.Errorf("decompresses to more than %d MiB", maxModuleSize>>20)
	}
	return out, nil
}

// ReadModule reads the module at path (relative to the module directory)
// from its file content data, compressed or not.
func ReadModule(path string, data []byte) (Module, error) {
	raw, err := Decompress(path, data)
	if err != nil {
		return Module{}, fmt.Errorf("read module %s: %w", path, err)
	}
	m, err := parseModuleELF(raw)
	if err != nil {
		return Module{}, fmt.Errorf("read module %s: %w", path, err)
	}
	m.Path = path
	if m.Name == "" {
		m.Name = NameFromPath(path)
	}
	return m, nil
}

func parseModuleELF(raw []byte) (Module, error) {
	ef, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		return Module{}, fmt.Errorf("not an ELF file: %w", err)
	}
	if ef.Type != elf.ET_REL {
		return Module{}, fmt.Errorf("ELF type %v, want a relocatable module (ET_REL)", ef.Type)
	}
	sec := ef.Section(".modinfo")
	if sec == nil {
		return Module{}, errors.New("no .modinfo section")
	}
	if sec.Type == elf.SHT_NOBITS || sec.Size > uint64(len(raw)) {
		return Module{}, errors.New("the .modinfo section has no contents in the file")
	}
	data, err := sec.Data()
	if err != nil {
		return Module{}, fmt.Errorf("read .modinfo: %w", err)
	}
	kvs, err := ParseModinfo(data)
	if err != nil {
		return Module{}, err
	}
	var m Module
	for _, kv := range kvs {
		switch kv.Key {
		case "name":
			m.Name = Normalize(kv.Value)
		case "depends":
			for _, d := range strings.Split(kv.Value, ",") {
				if d = strings.TrimSpace(d); d != "" {
					m.Depends = append(m.Depends, Normalize(d))
				}
			}
		case "alias":
			m.Aliases = append(m.Aliases, kv.Value)
		case "softdep":
			m.Softdeps = append(m.Softdeps, kv.Value)
		case "vermagic":
			m.Vermagic = kv.Value
		}
	}
	return m, nil
}
