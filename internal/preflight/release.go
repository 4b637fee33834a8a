package preflight

import "golang.org/x/sys/unix"

// hostRelease is `uname -r`.
func hostRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
