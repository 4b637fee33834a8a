package vmm

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// libDirs are where a dynamic loader without its cache (the initramfs has
// none) looks for libraries, and so where they are put.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// elfRuntime lists what a dynamically linked executable needs to start in
// an initramfs: its ELF interpreter and the shared libraries it and they
// need (transitively), as host paths; nil for a static executable. A
// -race test binary, which is also its guests' init, is dynamic.
func elfRuntime(path string) ([]string, error) {
	interp, needed, err := elfDeps(path)
	if err != nil || interp == "" {
		return nil, err
	}
	files := []string{interp}
	seen := map[string]bool{}
	for len(needed) > 0 {
		name := needed[0]
		needed = needed[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		lib := findLib(name)
		if lib == "" {
			return nil, fmt.Errorf("%s needs %s, which is in none of %s", path, name, strings.Join(libDirs, ", "))
		}
		if lib != interp {
			files = append(files, lib)
		}
		_, more, err := elfDeps(lib)
		if err != nil {
			return nil, err
		}
		needed = append(needed, more...)
	}
	return files, nil
}

// elfDeps is an ELF file's interpreter ("" if none) and DT_NEEDED names.
func elfDeps(path string) (string, []string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	interp := ""
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return "", nil, fmt.Errorf("read the interpreter of %s: %w", path, err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return "", nil, fmt.Errorf("read the libraries of %s: %w", path, err)
	}
	return interp, needed, nil
}

func findLib(name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	for _, d := range libDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
