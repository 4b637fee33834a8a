package vmconfig

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/ktest-dev/ktest/internal/regularfile"
)

// FileName is the configuration file's name, next to go.mod.
const FileName = ".ktest.toml"

// maxFileBytes bounds the file read.
const maxFileBytes = 1 << 20

// File is a parsed configuration file.
type File struct {
	Path string // the file, as found
	VM   VM     // its settings; unset fields are zero
}

// validKeys are the keys a file may have, for error messages.
var validKeys = []string{"vm.cpus", "vm.memory", "vm.modules", "vm.setup", "vm.pack"}

// Find returns the configuration file that applies to the package in
// dir: FileName in the directory of the nearest go.mod at or above dir,
// or "" when that directory has none, or there is no go.mod.
func Find(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find %s: %w", FileName, err)
	}
	for {
		if _, err := os.Lstat(filepath.Join(dir, "go.mod")); err == nil {
			path := filepath.Join(dir, FileName)
			if _, err := os.Lstat(path); err == nil {
				return path, nil
			} else if !errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("find %s: %w", FileName, err)
			}
			return "", nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", nil
		}
		dir = parent
	}
}

// Load finds (Find) and parses the configuration file of the package in
// dir. It returns nil and no error when there is none.
func Load(dir string) (*File, error) {
	path, err := Find(dir)
	if err != nil || path == "" {
		return nil, err
	}
	f, _, err := regularfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", FileName, err)
	}
	defer f.Close() // read-only
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFileBytes)
	}
	return Parse(path, data)
}

// Resolve returns the settings of a guest for the package in dir:
// Defaults(), overridden by the configuration file (if any), overridden by
// flags. It also returns the file's path ("" when none).
func Resolve(dir string, flags VM) (VM, string, error) {
	f, err := Load(dir)
	if err != nil {
		return VM{}, "", err
	}
	vm := Defaults()
	path := ""
	if f != nil {
		vm, path = vm.Override(f.VM), f.Path
	}
	return vm.Override(flags), path, nil
}

// Parse parses a configuration file's content; path names it in errors,
// which read "path:line: ...".
func Parse(path string, data []byte) (*File, error) {
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d: %s", path, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%s:0: %v", path, err)
	}
	// Values are checked by hand, from the generic decoding, so that every
	// error can name its line.
	var unknown []toml.Key
	for k := range raw {
		if k != "vm" {
			unknown = append(unknown, toml.Key{k})
		}
	}
	v, isTable := raw["vm"].(map[string]any)
	if _, ok := raw["vm"]; ok && !isTable {
		return nil, fmt.Errorf("%s:%d: vm: want a table ([vm]), got %s", path, keyLine(data, toml.Key{"vm"}), md.Type("vm"))
	}
	for k := range v {
		if !slices.Contains(validKeys, "vm."+k) {
			unknown = append(unknown, toml.Key{"vm", k})
		}
	}
	if len(unknown) > 0 {
		// The first in the file, so that the message is the same every time.
		slices.SortFunc(unknown, func(a, b toml.Key) int {
			if la, lb := keyLine(data, a), keyLine(data, b); la != lb {
				return la - lb
			}
			return strings.Compare(a.String(), b.String())
		})
		k := unknown[0]
		msg := fmt.Sprintf("unknown key %q; valid keys: %s", k.String(), strings.Join(validKeys, ", "))
		if len(k) == 1 && slices.Contains([]string{"cpus", "memory", "modules", "setup", "smp", "kernel"}, k[0]) {
			msg += "; guest settings go in the [vm] table, e.g. [vm] memory = \"1G\""
		}
		return nil, fmt.Errorf("%s:%d: %s", path, keyLine(data, k), msg)
	}
	f := &File{Path: path}
	errAt := func(key string, format string, args ...any) error {
		return fmt.Errorf("%s:%d: vm.%s: %s", path, keyLine(data, toml.Key{"vm", key}), key, fmt.Sprintf(format, args...))
	}
	if cpus, ok := v["cpus"]; ok {
		n, ok := cpus.(int64)
		if !ok {
			return nil, errAt("cpus", "want a number, got %s", md.Type("vm", "cpus"))
		}
		if err := checkCPUs(n); err != nil {
			return nil, errAt("cpus", "%v", err)
		}
		f.VM.CPUs = int(n)
	}
	if mem, ok := v["memory"]; ok {
		switch m := mem.(type) {
		case string:
			mb, err := ParseMemory(m)
			if err != nil {
				return nil, errAt("memory", "%v", err)
			}
			f.VM.MemoryMB = mb
		case int64:
			if m < MinMemoryMB || m > MaxMemoryMB {
				return nil, errAt("memory", "%d MiB: want %d to %d MiB", m, MinMemoryMB, MaxMemoryMB)
			}
			f.VM.MemoryMB = m
		default:
			return nil, errAt("memory", "want a size such as \"1G\" or a number of MiB, got %s", md.Type("vm", "memory"))
		}
	}
	if mods, ok := v["modules"]; ok {
		mods, err := stringList(mods)
		if err != nil {
			return nil, errAt("modules", "%v", err)
		}
		for _, m := range mods {
			if m == "" || strings.ContainsAny(m, " \t\n\r/\x00") {
				return nil, errAt("modules", "%q is not a module name or alias", m)
			}
		}
		f.VM.Modules = mods
	}
	if cmds, ok := v["setup"]; ok {
		cmds, err := stringList(cmds)
		if err != nil {
			return nil, errAt("setup", "%v", err)
		}
		for _, c := range cmds {
			if strings.TrimSpace(c) == "" || strings.ContainsRune(c, 0) {
				return nil, errAt("setup", "%q is not a shell command line", c)
			}
		}
		f.VM.Setup = cmds
	}
	if pack, ok := v["pack"]; ok {
		pack, err := stringList(pack)
		if err != nil {
			return nil, errAt("pack", "%v", err)
		}
		for _, p := range pack {
			if !validPackPath(p) {
				return nil, errAt("pack", "%q: want an absolute path (/usr/share/zoneinfo) or a command name looked up in PATH (ip)", p)
			}
		}
		f.VM.Pack = pack
	}
	return f, nil
}

// validPackPath reports whether p is an absolute clean path or a command
// name (no slash).
func validPackPath(p string) bool {
	if p == "" || strings.ContainsRune(p, 0) {
		return false
	}
	if strings.HasPrefix(p, "/") {
		return path.Clean(p) == p
	}
	return !strings.Contains(p, "/") && p != "." && p != ".."
}

// stringList converts a decoded TOML array of strings.
func stringList(v any) ([]string, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want an array of strings")
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("want an array of strings, got an element %v", e)
		}
		out = append(out, s)
	}
	return out, nil
}
