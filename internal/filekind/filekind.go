// Package filekind names the type of a file for error messages, such as "is
// a character device, not a regular file".
package filekind

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// Of names the file type in m: "regular file", "directory", "symbolic link",
// "named pipe", "socket", "character device", "block device", or the mode's
// type letters for anything else.
func Of(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return m.Type().String()
}

// FromStat converts the type bits of a stat(2) st_mode into fs.FileMode
// type bits, for code that stats with x/sys/unix (lstat, fstatat) rather
// than package os: 0 for a regular file, fs.ModeIrregular for a type Linux
// does not define.
func FromStat(mode uint32) fs.FileMode {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return 0
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	}
	return fs.ModeIrregular
}
