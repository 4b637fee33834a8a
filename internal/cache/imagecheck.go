package cache

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Listing validates each entry's image header, so that a truncated or
// overwritten image shows as corrupt in `kernel list`, is removed by
// `kernel clean --corrupt-only`, and is skipped by kernel resolution, instead
// of failing every run. Only the first imageHeadLen bytes are read: the
// check costs one small pread per entry. It accepts everything
// kernelimage.Inspect accepts (which reads more and also inflates the
// start of a gzip-wrapped arm64 Image); a test there keeps the two in step.

// imageHeadLen is how much of an image CheckImageHeader needs: every field
// it reads lies below 0x210.
const imageHeadLen = 1024

// Kernel image header layout (LINUX-FACTS.md; Documentation/arch/x86/boot.rst,
// Documentation/arch/arm64/booting.rst).
const (
	bzSetupSectsOff = 0x1F1 // u8; 0 means 4
	bzSyssizeOff    = 0x1F4 // u32, 16-byte paragraphs (protocol >= 2.04)
	bzBootFlagOff   = 0x1FE // 55 AA
	bzMagicOff      = 0x202 // "HdrS"
	bzProtocolOff   = 0x206 // u16 boot protocol version
	bzHeaderEnd     = 0x210
	arm64MagicOff   = 0x38 // "ARM\x64"
	arm64HeaderEnd  = 0x40
	gzipMinSize     = 18 // header and trailer of an empty member
)

// CheckImageHeader reports why an image whose first bytes are head (at most
// imageHeadLen are needed) and whose size is size is not a usable kernel
// image, or nil when its header is that of an x86 bzImage (with the size the
// header implies), an arm64 Image, or a gzip stream (a distro arm64
// vmlinuz). It never reads beyond head and never panics.
func CheckImageHeader(head []byte, size int64) error {
	switch {
	case size == 0:
		return fmt.Errorf("is empty")
	case len(head) >= bzHeaderEnd && bytes.Equal(head[bzBootFlagOff:bzBootFlagOff+2], []byte{0x55, 0xAA}) &&
		bytes.Equal(head[bzMagicOff:bzMagicOff+4], []byte("HdrS")):
		proto := binary.LittleEndian.Uint16(head[bzProtocolOff:])
		if proto < 0x200 {
			return fmt.Errorf("has a bzImage header with boot protocol %d.%02d, below 2.00: the header is corrupt", proto>>8, proto&0xff)
		}
		if proto < 0x204 {
			return nil // no syssize field to check the size against
		}
		setupSects := int64(head[bzSetupSectsOff])
		if setupSects == 0 {
			setupSects = 4
		}
		want := (setupSects+1)*512 + int64(binary.LittleEndian.Uint32(head[bzSyssizeOff:]))*16
		if size < want {
			return fmt.Errorf("is truncated: its bzImage header implies at least %d bytes, the file has %d", want, size)
		}
		return nil
	case len(head) >= arm64HeaderEnd && bytes.Equal(head[arm64MagicOff:arm64MagicOff+4], []byte("ARM\x64")):
		return nil
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		if size < gzipMinSize {
			return fmt.Errorf("is truncated: %d bytes, fewer than a gzip stream has", size)
		}
		return nil
	case size < bzHeaderEnd:
		return fmt.Errorf("is truncated: only %d bytes, too short for a kernel image header", size)
	}
	return fmt.Errorf("has no kernel image header (no bzImage HdrS at 0x202 with 55 aa at 0x1fe, no arm64 ARM\\x64 at 0x38, no gzip magic); it starts with % x", head[:min(len(head), 4)])
}
