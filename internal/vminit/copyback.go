package vminit

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ktest-dev/ktest/internal/vmproto"
)

// With the initramfs transport the program's writable directories live in
// the guest's memory: what it made or changed there must travel back to
// the host (a cover profile, a golden file written with -update). The init
// notes every file before the program starts and, once it has exited,
// sends each new or changed regular file in file messages (docs/spec.md
// §16.3). Removals and symlinks are not sent: the host's copy stays.

// stamp identifies one version of a file.
type stamp struct {
	size  int64
	mtime int64 // ns
	ino   uint64
}

// snapshot maps the host paths of the regular files in the writable binds
// to their stamps.
type snapshot map[string]stamp

// writableFiles walks the writable binds (as the init sees them, under
// hostDir) and calls fn for each regular file with its host path.
func writableFiles(binds []vmproto.Bind, fn func(hostPath, guestPath string, info fs.FileInfo)) {
	seen := map[string]bool{}
	for _, b := range binds {
		if !b.Writable {
			continue
		}
		_ = filepath.WalkDir(hostDir+b.Path, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || seen[path] {
				return nil
			}
			seen[path] = true
			if info, err := d.Info(); err == nil {
				fn(strings.TrimPrefix(path, hostDir), path, info)
			}
			return nil
		})
	}
}

func stampOf(info fs.FileInfo) stamp {
	s := stamp{size: info.Size(), mtime: info.ModTime().UnixNano()}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		s.ino = st.Ino
	}
	return s
}

// takeSnapshot notes the writable binds' files.
func takeSnapshot(binds []vmproto.Bind) snapshot {
	snap := snapshot{}
	writableFiles(binds, func(hostPath, _ string, info fs.FileInfo) { snap[hostPath] = stampOf(info) })
	return snap
}

// sendChanged sends every file that is new or changed since before, and
// returns how many it sent.
func sendChanged(ctl *vmproto.Writer, binds []vmproto.Bind, before snapshot) (int, error) {
	var errs []error
	n := 0
	writableFiles(binds, func(hostPath, guestPath string, info fs.FileInfo) {
		if old, ok := before[hostPath]; ok && old == stampOf(info) {
			return
		}
		if err := sendFile(ctl, hostPath, guestPath, uint32(info.Mode().Perm())); err != nil {
			errs = append(errs, err)
			return
		}
		n++
	})
	return n, errors.Join(errs...)
}

// sendFile sends one file in pieces of at most vmproto.FileChunk bytes.
func sendFile(ctl *vmproto.Writer, hostPath, guestPath string, mode uint32) error {
	f, err := os.Open(guestPath)
	if err != nil {
		return fmt.Errorf("send %s back: %w", hostPath, err)
	}
	defer f.Close()
	buf := make([]byte, vmproto.FileChunk)
	var off int64
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 || off == 0 {
			piece := &vmproto.File{Path: hostPath, Mode: mode, Offset: off, Data: buf[:n]}
			if err := ctl.Write(vmproto.Msg{Type: vmproto.TypeFile, File: piece}); err != nil {
				return fmt.Errorf("send %s back: %w", hostPath, err)
			}
			off += int64(n)
		}
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			return nil
		case rerr != nil:
			return fmt.Errorf("send %s back: %w", hostPath, rerr)
		}
	}
}
