package kmod

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Names of the files WriteIndexes writes into a module directory, in
// depmod's text formats (modules.dep(5)).
const (
	DepFile     = "modules.dep"
	AliasFile   = "modules.alias"
	SoftdepFile = "modules.softdep"
)

// Index is a module tree's dependency graph, as depmod builds it.
type Index struct {
	byName map[string]*Module
	lines  []*Module // in modules.dep order
}

// NewIndex builds the index of mods. order holds the lines of
// modules.order (paths ending in .ko, as the build wrote them) and sets the
// order of modules.dep's lines, as depmod does; modules not in it follow,
// sorted by path. A name given by two files keeps the first in that order;
// dependencies on unknown modules and dependency cycles are dropped. Each
// such case is returned as a warning, so a tree with a broken module still
// gets indexes for the others.
func NewIndex(mods []Module, order []string) (*Index, []string) {
	rank := make(map[string]int, len(order))
	for i, p := range order {
		rank[strings.TrimSpace(p)] = i
	}
	sorted := make([]*Module, len(mods))
	for i := range mods {
		sorted[i] = &mods[i]
	}
	rankOf := func(m *Module) (int, bool) {
		r, ok := rank[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m.Path, ".xz"), ".zst"), ".gz")]
		return r, ok
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		ri, oki := rankOf(sorted[i])
		rj, okj := rankOf(sorted[j])
		switch {
		case oki && okj:
			return ri < rj
		case oki != okj:
			return oki
		}
		return sorted[i].Path < sorted[j].Path
	})
	ix := &Index{byName: map[string]*Module{}}
	var warnings []string
	for _, m := range sorted {
		if prev, dup := ix.byName[m.Name]; dup {
			warnings = append(warnings, fmt.Sprintf("module %s: %s and %s have the same name; using %s", m.Name, prev.Path, m.Path, prev.Path))
			continue
		}
		ix.byName[m.Name] = m
		ix.lines = append(ix.lines, m)
	}
	for _, m := range ix.lines {
		kept := m.Depends[:0:0]
		for _, d := range m.Depends {
			if _, ok := ix.byName[d]; !ok {
				warnings = append(warnings, fmt.Sprintf("module %s (%s) depends on %s, which is not in the tree", m.Name, m.Path, d))
				continue
			}
			kept = append(kept, d)
		}
		m.Depends = kept
	}
	warnings = append(warnings, ix.breakCycles()...)
	return ix, warnings
}

// breakCycles drops dependency edges that close a cycle (the kernel could
// not load such modules anyway) and says which.
func (ix *Index) breakCycles() []string {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var warnings []string
	var visit func(m *Module)
	visit = func(m *Module) {
		state[m.Name] = active
		kept := m.Depends[:0:0]
		for _, d := range m.Depends {
			switch state[d] {
			case active:
				warnings = append(warnings, fmt.Sprintf("module %s: dependency on %s closes a cycle; dropped", m.Name, d))
				continue
			case unseen:
				visit(ix.byName[d])
			}
			kept = append(kept, d)
		}
		m.Depends = kept
		state[m.Name] = done
	}
	for _, m := range ix.lines {
		if state[m.Name] == unseen {
			visit(m)
		}
	}
	return warnings
}

// Lookup returns the module called name ("-" and "_" alike).
func (ix *Index) Lookup(name string) (*Module, bool) {
	m, ok := ix.byName[Normalize(name)]
	return m, ok
}

// Deps returns the paths of every module m needs, directly or not, in
// modules.dep order: each module comes before the modules it depends on, so
// loading from the last to the first satisfies every dependency.
func (ix *Index) Deps(m *Module) []string {
	seen := map[string]bool{m.Name: true}
	var post []string
	var visit func(*Module)
	visit = func(x *Module) {
		for _, d := range x.Depends {
			if seen[d] {
				continue
			}
			seen[d] = true
			dm := ix.byName[d]
			visit(dm)
			post = append(post, dm.Path)
		}
	}
	visit(m)
	slices.Reverse(post)
	return post
}

// WriteDep writes modules.dep: "path: dep dep ..." per module.
func (ix *Index) WriteDep(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, m := range ix.lines {
		bw.WriteString(m.Path)
		bw.WriteByte(':')
		for _, d := range ix.Deps(m) {
			bw.WriteByte(' ')
			bw.WriteString(d)
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// WriteAlias writes modules.alias: "alias PATTERN NAME" per alias.
func (ix *Index) WriteAlias(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("# Aliases extracted from modules themselves.\n")
	for _, m := range ix.lines {
		for _, a := range m.Aliases {
			if strings.ContainsAny(a, " \t\n") {
				continue // cannot be written in this format; depmod skips them too
			}
			fmt.Fprintf(bw, "alias %s %s\n", a, m.Name)
		}
	}
	return bw.Flush()
}

// WriteSoftdep writes modules.softdep: "softdep NAME pre: ... post: ...".
func (ix *Index) WriteSoftdep(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("# Soft dependencies extracted from modules themselves.\n")
	for _, m := range ix.lines {
		for _, s := range m.Softdeps {
			fmt.Fprintf(bw, "softdep %s %s\n", m.Name, strings.ReplaceAll(s, "\n", " "))
		}
	}
	return bw.Flush()
}

// WriteIndexes writes modules.dep, modules.alias and modules.softdep into
// dir as new files (it refuses to replace existing ones). Durability is the
// caller's: the fetcher writes into a cache staging directory, which the
// cache makes durable before publishing it.
func (ix *Index) WriteIndexes(dir string) error {
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{{DepFile, ix.WriteDep}, {AliasFile, ix.WriteAlias}, {SoftdepFile, ix.WriteSoftdep}} {
		var b strings.Builder
		if err := f.write(&b); err != nil {
			return err
		}
		if err := writeNew(filepath.Join(dir, f.name), b.String()); err != nil {
			return err
		}
	}
	return nil
}

func writeNew(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write module index: %w", err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return fmt.Errorf("write module index %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write module index %s: %w", path, err)
	}
	return nil
}

// ReadOrder reads a modules.order file; a missing one is empty.
func ReadOrder(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(data)), nil
}
