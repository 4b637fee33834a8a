package cache

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ProcLock is one line of /proc/locks.
type ProcLock struct {
	ID     int    // ordinal at the start of the line
	Waiter bool   // a "->" line: a blocked request, not a held lock
	Class  string // FLOCK, POSIX, OFDLCK, LEASE, DELEG, ...
	Kind   string // ADVISORY, MANDATORY, ACTIVE, BREAKING, ...
	Access string // READ, WRITE or UNLCK
	PID    int    // 0 when the owner is outside this pid namespace, -1 for OFD locks
	Major  uint32 // superblock device, hex in the file
	Minor  uint32
	Inode  uint64
}

// ParseProcLocks parses /proc/locks content. Lines it cannot parse (an
// unknown layout, "<none>" devices) are skipped rather than failing the whole
// read: holder lookup is diagnostic and must keep working on odd kernels. The
// only error is a read error.
func ParseProcLocks(r io.Reader) ([]ProcLock, error) {
	var out []ProcLock
	err := eachLine(r, func(line string) {
		if l, ok := parseProcLocksLine(line); ok {
			out = append(out, l)
		}
	})
	if err != nil {
		return out, fmt.Errorf("read /proc/locks: %w", err)
	}
	return out, nil
}

// parseProcLocksLine parses
//
//	1: FLOCK  ADVISORY  WRITE 1234 fe:00:9986104 0 EOF
//	1: -> FLOCK  ADVISORY  WRITE 999 fe:00:9986104 0 EOF
func parseProcLocksLine(line string) (ProcLock, bool) {
	f := strings.Fields(line)
	if len(f) < 1 || !strings.HasSuffix(f[0], ":") {
		return ProcLock{}, false
	}
	id, err := strconv.Atoi(strings.TrimSuffix(f[0], ":"))
	if err != nil {
		return ProcLock{}, false
	}
	l := ProcLock{ID: id}
	f = f[1:]
	if len(f) > 0 && f[0] == "->" {
		l.Waiter = true
		f = f[1:]
	}
	if len(f) < 5 {
		return ProcLock{}, false
	}
	l.Class, l.Kind, l.Access = f[0], f[1], f[2]
	if l.PID, err = strconv.Atoi(f[3]); err != nil {
		return ProcLock{}, false
	}
	dev := strings.Split(f[4], ":")
	if len(dev) != 3 {
		return ProcLock{}, false
	}
	maj, err1 := strconv.ParseUint(dev[0], 16, 32)
	min, err2 := strconv.ParseUint(dev[1], 16, 32)
	ino, err3 := strconv.ParseUint(dev[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return ProcLock{}, false
	}
	l.Major, l.Minor, l.Inode = uint32(maj), uint32(min), ino
	return l, true
}

// MountInfo is one line of /proc/<pid>/mountinfo (proc(5)).
type MountInfo struct {
	ID, ParentID int
	Major, Minor uint32 // st_dev of the superblock, decimal in the file
	Root         string // unescaped
	MountPoint   string // unescaped
	FSType       string
	Source       string // unescaped
}

// ParseMountinfo parses mountinfo content, unescaping the octal escapes the
// kernel uses for space, tab, newline and backslash (\040 \011 \012 \134) in
// paths. Malformed lines are skipped; the only error is a read error.
func ParseMountinfo(r io.Reader) ([]MountInfo, error) {
	var out []MountInfo
	err := eachLine(r, func(line string) {
		if m, ok := parseMountinfoLine(line); ok {
			out = append(out, m)
		}
	})
	if err != nil {
		return out, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// parseMountinfoLine parses
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// Fields are separated by single spaces (paths are escaped), so the line is
// split on " " rather than on any whitespace: a path may contain \r or \v.
func parseMountinfoLine(line string) (MountInfo, bool) {
	f := strings.Split(line, " ")
	if len(f) < 7 {
		return MountInfo{}, false
	}
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || sep+1 >= len(f) {
		return MountInfo{}, false
	}
	var m MountInfo
	var err error
	if m.ID, err = strconv.Atoi(f[0]); err != nil {
		return MountInfo{}, false
	}
	if m.ParentID, err = strconv.Atoi(f[1]); err != nil {
		return MountInfo{}, false
	}
	majS, minS, ok := strings.Cut(f[2], ":")
	if !ok {
		return MountInfo{}, false
	}
	maj, err1 := strconv.ParseUint(majS, 10, 32)
	min, err2 := strconv.ParseUint(minS, 10, 32)
	if err1 != nil || err2 != nil {
		return MountInfo{}, false
	}
	m.Major, m.Minor = uint32(maj), uint32(min)
	m.Root = unescapeOctal(f[3])
	m.MountPoint = unescapeOctal(f[4])
	m.FSType = f[sep+1]
	if sep+2 < len(f) {
		m.Source = unescapeOctal(f[sep+2])
	}
	return m, true
}

// unescapeOctal replaces every backslash followed by three octal digits
// (value <= 0377) with that byte; any other backslash is kept literally.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')*64 + (s[i+2]-'0')*8 + (s[i+3] - '0')
			if s[i+1] <= '3' { // three octal digits can exceed a byte (\777)
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }

// escapeMountPath escapes a path the way the kernel writes it into mountinfo.
// Used by tests and fuzzing to check the parser's round trip.
func escapeMountPath(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\\':
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// eachLine calls fn for every line of r without the trailing newline. Unlike
// bufio.Scanner it has no line-length limit (overlayfs mountinfo lines can be
// very long) and keeps a trailing \r, which can be part of a path.
func eachLine(r io.Reader, fn func(string)) error {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			fn(strings.TrimSuffix(line, "\n"))
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
