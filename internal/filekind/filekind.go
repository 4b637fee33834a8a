// Package filekind names the type of a file for error messages, such as "is
// a character device, not a regular file".
package filekind

import "io/fs"

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
