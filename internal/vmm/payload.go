package vmm

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ktest-dev/ktest/internal/initramfs"
	"github.com/ktest-dev/ktest/internal/vminit"
	"github.com/ktest-dev/ktest/internal/vmproto"
)

// The initramfs transport (docs/spec.md §16.3): without virtio-fs, the
// host packs what the program needs into the initramfs, each file under
// vminit.HostRoot at its host path, and the init builds the same root from
// it as from the virtio-fs mount. What is packed:
//
//   - the program and its ELF runtime (loader and libraries);
//   - its working directory and the Go module around it (testdata, golden
//     files), without .git;
//   - the directories of the writable binds (their files are not packed,
//     as GOCACHE or go's $WORK may be huge; what the program writes there
//     travels back in file messages);
//   - the kernel's module tree, the modprobe indexes and the config;
//   - modprobe and, when there are setup commands, /bin/sh, each with its
//     runtime; a few files of /etc (passwd, group, hosts, nsswitch.conf,
//     localtime).
//
// Anything else the program reaches for (GOROOT, the go command, other
// tools) is missing in the guest: virtiofsd gives it the whole host.

// payloadEtc are the small files of /etc that programs commonly read.
var payloadEtc = []string{"/etc/passwd", "/etc/group", "/etc/hosts", "/etc/nsswitch.conf", "/etc/localtime"}

// maxSkeletonDirs bounds the directories packed for one writable bind.
const maxSkeletonDirs = 20000

// packEntry is one archive entry of the payload.
type packEntry struct {
	path   string      // host path, absolute and clean
	mode   fs.FileMode // the host's type and permissions
	target string      // a symlink's target
	size   int64       // a regular file's size
}

// payload collects the entries of the initramfs transport.
type payload struct {
	entries []packEntry
	seen    map[string]bool
	size    int64
}

// ModuleRoot is the directory of the Go module that contains dir: the
// nearest ancestor (or dir itself) holding a go.mod, else dir.
func ModuleRoot(dir string) string {
	for d := dir; ; {
		if fi, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && fi.Mode().IsRegular() {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}

// collectPayload lists what the initramfs transport packs for req on
// kernel k (see above). Files that vanish or cannot be read are left out
// (the program then finds them missing, as it would on a changed host);
// what cannot be packed at all (the program) is an error.
func collectPayload(req vmproto.Run, k kernelFiles, shell bool, extra []string) (*payload, error) {
	p := &payload{seen: map[string]bool{}}
	if err := p.add(req.Argv[0], false); err != nil {
		return nil, fmt.Errorf("pack the program %s: %w", req.Argv[0], err)
	}
	runtime, err := elfRuntime(req.Argv[0])
	if err != nil && isELF(req.Argv[0]) {
		return nil, fmt.Errorf("pack the program's runtime: %w", err)
	}
	// modprobe by the names programs use (/sbin is usr/sbin on a
	// merged-/usr host, and the link is packed too).
	tools := []string{"/sbin/modprobe"}
	if mp, err := exec.LookPath("modprobe"); err == nil {
		tools = append(tools, mp)
	}
	if shell {
		tools = append(tools, "/bin/sh")
	}
	for _, x := range extra {
		if filepath.IsAbs(x) {
			if err := p.add(x, true); err != nil {
				return nil, fmt.Errorf("pack %s: %w", x, err)
			}
			if rt, err := elfRuntime(x); err == nil {
				runtime = append(runtime, rt...)
			}
			continue
		}
		lp, err := exec.LookPath(x)
		if err != nil {
			return nil, fmt.Errorf("pack command %s: %w", x, err)
		}
		tools = append(tools, lp)
	}
	for _, t := range tools {
		if err := p.add(t, false); err != nil {
			continue
		}
		if rt, err := elfRuntime(t); err == nil {
			runtime = append(runtime, rt...)
		}
	}
	for _, f := range runtime {
		_ = p.add(f, false)
	}
	for _, f := range payloadEtc {
		_ = p.add(f, false)
	}
	// Mount points of the guest's own filesystems, and the parents the
	// init shows the kernel's modules and config in.
	for _, d := range []string{"/proc", "/sys", "/dev", "/tmp", "/run", req.ModulesParent, req.BootDir} {
		if d != "" {
			_ = p.addDirOnly(d)
		}
	}
	for _, tree := range []string{req.Dir, ModuleRoot(req.Dir), k.modules, req.ModprobeDir} {
		if tree == "" {
			continue
		}
		if err := p.add(tree, true); err != nil && tree == req.Dir {
			return nil, fmt.Errorf("pack the working directory %s: %w", tree, err)
		}
	}
	if req.Config != "" {
		_ = p.add(req.Config, false)
	}
	for _, b := range req.Binds {
		if b.Writable {
			if err := p.addSkeleton(b.Path); err != nil {
				return nil, fmt.Errorf("pack writable directory %s: %w", b.Path, err)
			}
		}
	}
	return p, nil
}

// add adds host path hp: its parents as they are on the host (a symlinked
// component as the symlink, then its target), and hp itself; a directory
// with its whole tree when tree is set, else with nothing in it.
func (p *payload) add(hp string, tree bool) error {
	real, err := p.addParents(hp)
	if err != nil {
		return err
	}
	st, err := os.Lstat(real)
	if err != nil {
		return err
	}
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(real)
		if err != nil {
			return err
		}
		p.put(packEntry{path: real, mode: st.Mode(), target: target})
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(real), target)
		}
		return p.add(target, tree)
	case st.IsDir() && tree:
		return p.addTree(real)
	case st.IsDir():
		p.put(packEntry{path: real, mode: st.Mode()})
		return nil
	case st.Mode().IsRegular():
		p.put(packEntry{path: real, mode: st.Mode(), size: st.Size()})
		return nil
	}
	return fmt.Errorf("%s is a %v, not a file, directory or symlink", real, st.Mode().Type())
}

// addDirOnly adds directory hp, without its contents.
func (p *payload) addDirOnly(hp string) error { return p.add(hp, false) }

// addParents adds the directories above hp and returns hp with every
// symlinked parent resolved: the path the archive holds it at.
func (p *payload) addParents(hp string) (string, error) {
	hp = filepath.Clean(hp)
	if !filepath.IsAbs(hp) {
		return "", fmt.Errorf("%s is not an absolute path", hp)
	}
	cur := "/"
	parts := strings.Split(strings.TrimPrefix(hp, "/"), "/")
	for i, part := range parts[:len(parts)-1] {
		next := filepath.Join(cur, part)
		st, err := os.Lstat(next)
		if err != nil {
			return "", err
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			// /lib64 → usr/lib64 on merged-/usr hosts: the link, then
			// the rest of the path under its target.
			target, err := os.Readlink(next)
			if err != nil {
				return "", err
			}
			p.put(packEntry{path: next, mode: st.Mode(), target: target})
			if !filepath.IsAbs(target) {
				target = filepath.Join(cur, target)
			}
			return p.addParents(filepath.Join(append([]string{target}, parts[i+1:]...)...))
		}
		if !st.IsDir() {
			return "", fmt.Errorf("%s is not a directory", next)
		}
		p.put(packEntry{path: next, mode: st.Mode()})
		cur = next
	}
	return hp, nil
}

// addTree adds the tree at dir (its parents are in): directories, regular
// files and symlinks as they are (a symlink's target is not followed);
// .git directories and other file types are left out.
func (p *payload) addTree(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir {
				return err
			}
			return nil // unreadable below: left out
		}
		if d.IsDir() && d.Name() == ".git" && path != dir {
			return filepath.SkipDir
		}
		if p.seen[path] && d.IsDir() && path != dir {
			return filepath.SkipDir // packed already (a tree inside a tree)
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		switch m := info.Mode(); {
		case m.IsDir():
			p.put(packEntry{path: path, mode: m})
		case m.IsRegular():
			p.put(packEntry{path: path, mode: m, size: info.Size()})
		case m&fs.ModeSymlink != 0:
			if target, err := os.Readlink(path); err == nil {
				p.put(packEntry{path: path, mode: m, target: target})
			}
		}
		return nil
	})
}

// addSkeleton adds the directory tree at dir without its files.
func (p *payload) addSkeleton(dir string) error {
	real, err := p.addParents(dir)
	if err != nil {
		return err
	}
	n := 0
	return filepath.WalkDir(real, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == real {
				return err
			}
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		if n++; n > maxSkeletonDirs {
			return filepath.SkipAll
		}
		if info, err := d.Info(); err == nil {
			p.put(packEntry{path: path, mode: info.Mode()})
		}
		return nil
	})
}

// put records e once.
func (p *payload) put(e packEntry) {
	if p.seen[e.path] {
		return
	}
	p.seen[e.path] = true
	p.entries = append(p.entries, e)
	p.size += e.size
}

// write writes the payload as a newc archive to w, each entry under
// vminit.HostRoot. Directories come before what they hold.
func (p *payload) write(w io.Writer) error {
	entries := slices.Clone(p.entries)
	slices.SortStableFunc(entries, func(a, b packEntry) int { return strings.Compare(a.path, b.path) })
	base := strings.TrimPrefix(vminit.HostRoot, "/")
	cw := initramfs.NewWriter(w)
	for _, e := range entries {
		name := base + e.path
		var err error
		switch {
		case e.mode.IsDir():
			err = cw.AddDir(name, e.mode.Perm()|e.mode&(fs.ModeSticky|fs.ModeSetgid))
		case e.mode&fs.ModeSymlink != 0:
			err = cw.AddSymlink(name, e.target)
		default:
			err = cw.AddFileFrom(name, e.mode.Perm(), e.path)
		}
		if err != nil {
			return fmt.Errorf("pack %s: %w", e.path, err)
		}
	}
	return cw.Close()
}

// errPayloadTooBig says the payload does not fit the guest.
var errPayloadTooBig = errors.New("too big for the guest's memory")

// checkSize refuses a payload of more than half the guest's memory: the
// initramfs is unpacked into it.
func (p *payload) checkSize(memMB int) error {
	if limit := int64(memMB) << 20 / 2; p.size > limit {
		return fmt.Errorf("the files to pack come to %d MiB, more than half of the guest's %d MiB: %w", p.size>>20, memMB, errPayloadTooBig)
	}
	return nil
}

// writeInitrd writes the boot's initramfs into scratch: the cached base
// (the init and its boot modules) followed by the payload. The kernel
// unpacks concatenated archives in turn.
func (p *prepared) writeInitrd(scratch string) (string, error) {
	out := filepath.Join(scratch, "initrd.cpio")
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	base, err := os.Open(p.machine.initrd)
	if err != nil {
		f.Close()
		return "", err
	}
	_, err = io.Copy(f, base)
	base.Close()
	if err == nil {
		err = p.payload.write(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return out, nil
}

// isELF reports whether the file at path starts with the ELF magic (a
// script has no ELF runtime to pack).
func isELF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 4)
	_, err = io.ReadFull(f, magic)
	return err == nil && string(magic) == "\x7fELF"
}
