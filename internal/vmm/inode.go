package vmm

import (
	"os"
	"syscall"
)

// inode returns the device and inode of st folded into one number.
func inode(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino ^ (s.Dev << 40)
	}
	return 0
}
