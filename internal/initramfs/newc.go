// Package initramfs writes and reads Linux initramfs archives in the "newc"
// cpio format (the format the kernel unpacks into its rootfs at boot).
//
// Format summary (see the kernel's Documentation/driver-api/early-userspace/
// buffer-format.rst): every entry is a 110-byte ASCII header starting with the
// magic "070701", followed by 13 eight-digit hexadecimal fields, then the
// NUL-terminated name padded so that header+name is a multiple of 4 bytes,
// then the file data padded to a multiple of 4 bytes. The archive ends with
// an entry named "TRAILER!!!".
package initramfs

import "io/fs"

const (
	// magic is the newc header magic without CRC ("070702" has a CRC field
	// the kernel checks; we never write it and the reader rejects it).
	magic = "070701"
	// headerLen is the magic plus 13 fields of 8 hex digits.
	headerLen = len(magic) + 13*8
	// trailerName marks the end of an archive.
	trailerName = "TRAILER!!!"
	// maxNameLen bounds a name (including its NUL) like the kernel's PATH_MAX.
	maxNameLen = 4096
	// maxFileSize is the largest size the 32-bit filesize field can hold.
	maxFileSize = 1<<32 - 1
)

// File type bits of the cpio mode field (the same values as st_mode).
const (
	typeMask    = 0o170000
	typeDir     = 0o040000
	typeRegular = 0o100000
	typeSymlink = 0o120000
	typeCharDev = 0o020000
	typeBlock   = 0o060000
	typeFIFO    = 0o010000
	typeSocket  = 0o140000
)

// Header describes one archive entry as stored in a newc header.
type Header struct {
	Name      string // path inside the archive, without a leading "/"
	Inode     uint32
	Mode      uint32 // st_mode: file type bits and permission bits
	UID       uint32
	GID       uint32
	NLink     uint32
	MTime     uint32 // seconds since the Unix epoch
	Size      uint32 // data length in bytes (the link target for symlinks)
	DevMajor  uint32
	DevMinor  uint32
	RDevMajor uint32 // device number, for character and block nodes
	RDevMinor uint32
}

// FileMode converts the header's st_mode bits into an fs.FileMode.
func (h *Header) FileMode() fs.FileMode {
	m := fs.FileMode(h.Mode & 0o777)
	if h.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if h.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if h.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch h.Mode & typeMask {
	case typeDir:
		m |= fs.ModeDir
	case typeSymlink:
		m |= fs.ModeSymlink
	case typeCharDev:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case typeBlock:
		m |= fs.ModeDevice
	case typeFIFO:
		m |= fs.ModeNamedPipe
	case typeSocket:
		m |= fs.ModeSocket
	}
	return m
}

// permBits converts the permission part of an fs.FileMode (rwx bits plus
// setuid, setgid, sticky) into st_mode permission bits.
func permBits(mode fs.FileMode) uint32 {
	m := uint32(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return m
}

// pad4 returns how many bytes bring n up to a multiple of 4.
func pad4(n int64) int64 { return (4 - n%4) % 4 }
