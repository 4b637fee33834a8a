package debian

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"

	"github.com/ktest-dev/ktest/internal/atomicfile"
)

// indexSchema names the format of index.json.
const indexSchema = "ktest.debian-index/v1"

// Package is one binary package of a suite's Packages index.
type Package struct {
	Name     string `json:"package"`
	Version  string `json:"version"`
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	Depends  string `json:"depends,omitempty"`
}

// SuiteIndex is what the index knows of one suite: its kernel packages, or
// why the last update could not use it.
type SuiteIndex struct {
	Error    string    `json:"error,omitempty"`
	Packages []Package `json:"packages,omitempty"`
}

// Index is the kernel packages of every configured suite, written after
// each private apt-get update so that a fetch whose answer is known needs
// no apt call at all.
type Index struct {
	Schema  string                 `json:"schema"`
	Mirror  string                 `json:"mirror"`
	Keyring string                 `json:"keyring"`
	Arch    string                 `json:"arch"`
	Updated time.Time              `json:"updated"`
	Suites  map[string]*SuiteIndex `json:"suites"`
}

// fresh reports whether the index describes this configuration and is
// younger than ttl.
func (ix *Index) fresh(cfg *Config, now time.Time) bool {
	if ix == nil || ix.Schema != indexSchema || ix.Mirror != cfg.Mirror || ix.Keyring != cfg.Keyring || ix.Arch != cfg.Arch {
		return false
	}
	for _, s := range cfg.Suites {
		if ix.Suites[s] == nil {
			return false
		}
	}
	age := now.Sub(ix.Updated)
	return age >= 0 && age < cfg.TTL
}

// loadIndex reads index.json; a missing or unreadable one is nil.
func loadIndex(path string) *Index {
	data, err := readPrivateFile(path)
	if err != nil {
		return nil
	}
	var ix Index
	if json.Unmarshal(data, &ix) != nil || ix.Schema != indexSchema {
		return nil
	}
	return &ix
}

func saveIndex(path string, ix *Index) error {
	data, err := json.Marshal(ix)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o644)
}

// isKernelPackage says whether an index keeps a package: the image, binary,
// modules and base packages of every flavour of arch (and their metas).
func isKernelPackage(name, arch string) bool {
	if !strings.HasSuffix(name, "-"+arch) {
		return false
	}
	for _, p := range []string{"linux-image-", "linux-binary-", "linux-modules-", "linux-base-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// readPackages parses a Packages index file (compressed as its name says)
// and returns its kernel packages for arch.
func readPackages(path, arch string) ([]Package, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := decompressIndex(path, f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	pkgs, err := parsePackages(r, arch)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return pkgs, nil
}

func decompressIndex(path string, r io.Reader) (io.Reader, error) {
	switch {
	case strings.HasSuffix(path, ".lz4"):
		return lz4.NewReader(r), nil
	case strings.HasSuffix(path, ".gz"):
		return gzip.NewReader(r)
	case strings.HasSuffix(path, ".xz"):
		return xz.NewReader(r)
	case strings.HasSuffix(path, ".zst"):
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	}
	return r, nil
}

// parsePackages reads a Packages index and keeps the kernel packages.
func parsePackages(r io.Reader, arch string) ([]Package, error) {
	var pkgs []Package
	keep := func(name, value string) bool { return name == "Package" && isKernelPackage(value, arch) }
	err := ParseStanzas(r, keep, func(s Stanza) (bool, error) {
		size, _ := strconv.ParseInt(s["Size"], 10, 64)
		p := Package{Name: s["Package"], Version: s["Version"], Filename: s["Filename"], Size: size, SHA256: s["SHA256"], Depends: s["Depends"]}
		if p.Version == "" || p.Filename == "" {
			return false, fmt.Errorf("package %s has no Version or Filename", p.Name)
		}
		pkgs = append(pkgs, p)
		return true, nil
	})
	return pkgs, err
}

// indexTargets parses `apt-get indextargets` output into the Packages file
// of each suite (the Release field, as sources.list names it).
func indexTargets(out string) (map[string]string, error) {
	files := map[string]string{}
	err := ParseStanzas(strings.NewReader(out), nil, func(s Stanza) (bool, error) {
		if s["Identifier"] == "Packages" && s["Release"] != "" && s["Filename"] != "" {
			files[s["Release"]] = s["Filename"]
		}
		return true, nil
	})
	return files, err
}

// buildIndex reads the Packages files apt left and marks the suites apt
// complained about. problems are the E:/W: lines of apt-get update.
func buildIndex(cfg *Config, targets map[string]string, problems []string, now time.Time) *Index {
	ix := &Index{Schema: indexSchema, Mirror: cfg.Mirror, Keyring: cfg.Keyring, Arch: cfg.Arch, Updated: now.UTC(), Suites: map[string]*SuiteIndex{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, suite := range cfg.Suites {
		si := &SuiteIndex{}
		ix.Suites[suite] = si
		if lines := suiteLines(problems, suite); len(lines) > 0 {
			si.Error = strings.Join(lines, "; ")
			continue
		}
		file := targets[suite]
		if file == "" {
			si.Error = "apt-get update left no Packages index for it"
			continue
		}
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			si.Error = "apt-get update left no Packages index for it"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pkgs, err := readPackages(file, cfg.Arch)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				si.Error = err.Error()
				return
			}
			si.Packages = pkgs
		}()
	}
	wg.Wait()
	return ix
}

// usable returns the suites of ix without an error, in cfg's order.
func (ix *Index) usable(cfg *Config) []string {
	var out []string
	for _, s := range cfg.Suites {
		if si := ix.Suites[s]; si != nil && si.Error == "" {
			out = append(out, s)
		}
	}
	return out
}

// find returns the package name=version of suite, if the index has it.
func (si *SuiteIndex) find(name, version string) (Package, bool) {
	i := slices.IndexFunc(si.Packages, func(p Package) bool { return p.Name == name && p.Version == version })
	if i < 0 {
		return Package{}, false
	}
	return si.Packages[i], true
}
