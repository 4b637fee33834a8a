// Package kernelimage identifies a Linux kernel image from its header (x86
// bzImage, arm64 Image, gzip-wrapped arm64 Image) and reads the release it
// carries, without running or decompressing it (docs/spec.md §5). It links
// only the standard library and two small file helpers, so that the
// test-side library (kerneltest) can validate KTSTR_TEST_KERNEL with it as
// ktest's own resolution does.
package kernelimage

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/ktest-dev/ktest/internal/filekind"
	"github.com/ktest-dev/ktest/internal/regularfile"
)

// Image formats and architectures reported in Info.
const (
	FormatBzImage      = "bzImage"        // x86 boot image (arch/x86/boot/bzImage)
	FormatArm64Image   = "arm64-Image"    // arm64 Image (arch/arm64/boot/Image)
	FormatArm64ImageGz = "arm64-Image.gz" // gzip-wrapped arm64 Image (distro vmlinuz)

	ArchX86_64  = "x86_64"
	ArchAarch64 = "aarch64"
)

// Info describes a validated kernel image.
type Info struct {
	// Path is the path Inspect was given ("" from ParseHeader).
	Path string `json:"path"`
	// Format is FormatBzImage, FormatArm64Image or FormatArm64ImageGz.
	Format string `json:"format"`
	// Arch is ArchX86_64 or ArchAarch64.
	Arch string `json:"arch"`
	// Version is the bzImage header's version string, e.g.
	// "6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP ...";
	// "" when the image has none (arm64) or it is unusable (not printable
	// ASCII, unterminated, out of range).
	Version string `json:"version"`
	// Release is Version's first word, e.g. "6.1.0-56-cloud-amd64".
	Release string `json:"release"`
	// BootProtocol is the x86 boot protocol version, e.g. "2.15".
	BootProtocol string `json:"boot_protocol,omitempty"`
	// Size is the file size in bytes (0 from ParseHeader).
	Size int64 `json:"size"`
}

// InvalidError says why a file is not a usable kernel image. A caller
// that was told to use this file (KTSTR_TEST_KERNEL, --kernel) turns it into
// a hard error; one that was searching may move on. Find it with errors.As.
type InvalidError struct {
	// Path is the file ("" when ParseHeader saw only bytes).
	Path string
	// Reason says what was found, e.g. "is a directory" or
	// "no bzImage or arm64 magic: starts with 7f 45 4c 46 (an ELF file ...)".
	Reason string
	// Err is the underlying error when there is one (stat, open, read), so
	// errors.Is(err, fs.ErrNotExist) works.
	Err error
}

// Error reads like "invalid kernel image /boot/x: is a directory".
func (e *InvalidError) Error() string {
	if e.Path == "" {
		return "invalid kernel image: " + e.Reason
	}
	return "invalid kernel image " + e.Path + ": " + e.Reason
}

// Unwrap returns the underlying stat, open or read error, if any.
func (e *InvalidError) Unwrap() error { return e.Err }

// Header layout (LINUX-FACTS.md, Documentation/arch/x86/boot.rst,
// Documentation/arch/arm64/booting.rst).
const (
	x86BootFlagOff   = 0x1FE // 55 AA
	x86SetupSectsOff = 0x1F1 // u8; 0 means 4
	x86SyssizeOff    = 0x1F4 // u32, 16-byte paragraphs (protocol >= 2.04)
	x86HeaderOff     = 0x202 // "HdrS"
	x86VersionOff    = 0x206 // u16 boot protocol version
	x86KernelVerOff  = 0x20E // u16; +0x200 is the version string's offset
	x86HeaderEnd     = 0x210
	arm64MagicOff    = 0x38 // "ARM\x64"
	arm64HeaderEnd   = 0x40

	// maxVersionLen bounds the version string; real ones are ~100 bytes.
	maxVersionLen = 512
	// imageHeadLen is what Inspect reads first: every header field and,
	// for gzip, enough compressed bytes to inflate the arm64 header.
	imageHeadLen = 4096
)

var (
	bzBootFlag = []byte{0x55, 0xAA}
	bzMagic    = []byte("HdrS")
	arm64Magic = []byte("ARM\x64")
	gzipMagic  = []byte{0x1f, 0x8b}
)

// ParseHeader identifies a kernel image from its first bytes. data
// should reach past the bzImage version string (Inspect reads what is
// needed); when it does not, Version is "". It never reads beyond data,
// never panics, and returns *InvalidError (with an empty Path) for
// anything that is not a bzImage, arm64 Image or gzip-wrapped arm64 Image.
func ParseHeader(data []byte) (Info, error) {
	info, _, err := parseImageHeader(data)
	return info, err
}

// parseImageHeader also returns the smallest file size the header implies
// (0 when it implies nothing), so Inspect can detect a truncated file.
func parseImageHeader(data []byte) (Info, int64, error) {
	if len(data) == 0 {
		return Info{}, 0, &InvalidError{Reason: "is empty"}
	}
	if isBzImage(data) {
		return parseBzImage(data)
	}
	if hasArm64Magic(data) {
		return Info{Format: FormatArm64Image, Arch: ArchAarch64}, arm64HeaderEnd, nil
	}
	if bytes.HasPrefix(data, gzipMagic) {
		return parseGzipImage(data)
	}
	if len(data) >= x86HeaderEnd && bytes.Equal(data[x86HeaderOff:x86HeaderOff+4], bzMagic) {
		return Info{}, 0, &InvalidError{Reason: fmt.Sprintf(
			"has the bzImage magic HdrS at 0x202 but % x instead of the boot flag 55 aa at 0x1fe; the header is corrupt",
			data[x86BootFlagOff:x86BootFlagOff+2])}
	}
	return Info{}, 0, &InvalidError{Reason: describeNonImage(data)}
}

func isBzImage(data []byte) bool {
	return len(data) >= x86HeaderEnd &&
		bytes.Equal(data[x86BootFlagOff:x86BootFlagOff+2], bzBootFlag) &&
		bytes.Equal(data[x86HeaderOff:x86HeaderOff+4], bzMagic)
}

func hasArm64Magic(data []byte) bool {
	return len(data) >= arm64MagicOff+4 && bytes.Equal(data[arm64MagicOff:arm64MagicOff+4], arm64Magic)
}

func parseBzImage(data []byte) (Info, int64, error) {
	proto := binary.LittleEndian.Uint16(data[x86VersionOff:])
	if proto < 0x200 {
		return Info{}, 0, &InvalidError{Reason: fmt.Sprintf(
			"has a bzImage header with boot protocol %d.%02d; HdrS needs at least 2.00, so the header is corrupt", proto>>8, proto&0xff)}
	}
	info := Info{
		Format:       FormatBzImage,
		Arch:         ArchX86_64,
		BootProtocol: fmt.Sprintf("%d.%02d", proto>>8, proto&0xff),
	}
	info.Version = bzImageVersion(data)
	info.Release, _, _ = strings.Cut(info.Version, " ")

	var minSize int64
	if proto >= 0x204 {
		setupSects := int64(data[x86SetupSectsOff])
		if setupSects == 0 {
			setupSects = 4
		}
		syssize := int64(binary.LittleEndian.Uint32(data[x86SyssizeOff:]))
		minSize = (setupSects+1)*512 + syssize*16
	}
	return info, minSize, nil
}

// bzImageVersion reads the NUL-terminated version string the header points
// at; "" when there is none or it is not printable ASCII within bounds.
func bzImageVersion(data []byte) string {
	ptr := int(binary.LittleEndian.Uint16(data[x86KernelVerOff:]))
	if ptr == 0 {
		return ""
	}
	off := ptr + 0x200
	if off >= len(data) {
		return ""
	}
	rest := data[off:min(len(data), off+maxVersionLen)]
	end := bytes.IndexByte(rest, 0)
	if end <= 0 {
		return ""
	}
	for _, c := range rest[:end] {
		if c < 0x20 || c > 0x7e {
			return ""
		}
	}
	return string(rest[:end])
}

// bzImageBytesNeeded is how much of the file parseImageHeader needs to see
// the version string: up to maxVersionLen bytes past its offset.
func bzImageBytesNeeded(data []byte) int {
	if !isBzImage(data) {
		return 0
	}
	ptr := int(binary.LittleEndian.Uint16(data[x86KernelVerOff:]))
	if ptr == 0 {
		return 0
	}
	return ptr + 0x200 + maxVersionLen
}

// parseGzipImage accepts gzip data whose decompressed start is an arm64
// Image. Only the header (64 bytes) is inflated.
func parseGzipImage(data []byte) (Info, int64, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return Info{}, 0, &InvalidError{Reason: "starts with the gzip magic 1f 8b but is not valid gzip: " + err.Error()}
	}
	head := make([]byte, arm64HeaderEnd)
	n, err := io.ReadFull(zr, head)
	head = head[:n]
	switch {
	case hasArm64Magic(head):
		return Info{Format: FormatArm64ImageGz, Arch: ArchAarch64}, 0, nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return Info{}, 0, &InvalidError{Reason: fmt.Sprintf(
			"is gzip-compressed, but only %d bytes could be inflated from it, fewer than an arm64 Image header (%d)", n, arm64HeaderEnd)}
	case err != nil:
		return Info{}, 0, &InvalidError{Reason: "is gzip-compressed, but inflating it failed: " + err.Error()}
	}
	hex, what := sniff(head)
	return Info{}, 0, &InvalidError{Reason: "is gzip-compressed, but the content is not an arm64 Image: " +
		"inflated, it starts with " + hex + parenthesise(what)}
}

// describeNonImage says what data looks like, for the error about a file
// that is not a kernel image.
func describeNonImage(data []byte) string {
	hex, what := sniff(data)
	reason := "no bzImage or arm64 magic: starts with " + hex + parenthesise(what)
	if what == "" && len(data) < x86HeaderEnd {
		reason = fmt.Sprintf("is only %d bytes, too short for a kernel image header; %s", len(data), reason)
	}
	return reason
}

// sniff returns data's first bytes in hex and, when the magic is a known
// one, what kind of file that is and what to use instead.
func sniff(data []byte) (hex, what string) {
	hex = fmt.Sprintf("% x", data[:min(len(data), 4)])
	switch {
	case bytes.HasPrefix(data, []byte("\x7fELF")):
		what = "an ELF file — use the compressed bzImage, e.g. arch/x86/boot/bzImage, not vmlinux"
	case bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		what = "zstd-compressed data — decompress it, or use the bzImage itself"
	case bytes.HasPrefix(data, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		what = "xz-compressed data — decompress it, or use the bzImage itself"
	case bytes.HasPrefix(data, []byte("BZh")):
		what = "bzip2-compressed data — decompress it, or use the bzImage itself"
	case bytes.HasPrefix(data, []byte("0707")):
		what = "a cpio archive, probably an initramfs — give the kernel image, not the initrd"
	case bytes.HasPrefix(data, []byte("MZ")):
		what = "a PE/EFI executable without a Linux boot header"
	case bytes.HasPrefix(data, []byte("#!")):
		what = "a script"
	case isText(data):
		what = "a text file"
	}
	return hex, what
}

func parenthesise(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func isText(data []byte) bool {
	data = data[:min(len(data), 512)]
	for _, c := range data {
		if (c < 0x20 || c > 0x7e) && c != '\n' && c != '\r' && c != '\t' {
			return false
		}
	}
	return len(data) > 0
}

// Inspect validates the kernel image at path (docs/spec.md §5) and reads its
// version. It reads only the header: the first 4 KiB and, for a bzImage,
// the version string wherever the header points (within the first 66 KB).
// Every failure is *InvalidError naming the file; for a missing file it
// wraps fs.ErrNotExist.
func Inspect(path string) (Info, error) {
	invalid := func(reason string, err error) (Info, error) {
		return Info{}, &InvalidError{Path: path, Reason: reason, Err: err}
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return invalid("does not exist", err)
	case err != nil:
		return invalid("cannot be examined: "+err.Error(), err)
	case fi.IsDir():
		return invalid("is a directory", nil)
	case !fi.Mode().IsRegular():
		return invalid(fmt.Sprintf("is not a regular file (%s)", filekind.Of(fi.Mode())), nil)
	case fi.Size() == 0:
		return invalid("is empty", nil)
	}
	// regularfile.Open types the file again on the descriptor and never
	// blocks: a FIFO swapped in since the Stat above must not hang a run.
	f, _, err := regularfile.Open(path)
	var nr *regularfile.NotRegularError
	switch {
	case errors.As(err, &nr):
		return invalid(fmt.Sprintf("is not a regular file (%s)", filekind.Of(nr.Mode)), nil)
	case err != nil:
		return invalid("cannot be opened: "+err.Error(), err)
	}
	defer f.Close()

	data := make([]byte, min(fi.Size(), imageHeadLen))
	n, err := io.ReadFull(f, data)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return invalid("cannot be read: "+err.Error(), err)
	}
	data = data[:n]
	if need := int64(bzImageBytesNeeded(data)); need > int64(len(data)) && int64(len(data)) < fi.Size() {
		more := make([]byte, min(need, fi.Size())-int64(len(data)))
		m, err := f.ReadAt(more, int64(len(data)))
		if err != nil && !errors.Is(err, io.EOF) {
			return invalid("cannot be read: "+err.Error(), err)
		}
		data = append(data, more[:m]...)
	}

	info, minSize, err := parseImageHeader(data)
	if err != nil {
		var ie *InvalidError
		if errors.As(err, &ie) {
			ie.Path = path
		}
		return Info{}, err
	}
	if fi.Size() < minSize {
		return invalid(fmt.Sprintf("is truncated: its %s header implies at least %d bytes, the file has %d",
			info.Format, minSize, fi.Size()), nil)
	}
	info.Path = path
	info.Size = fi.Size()
	return info, nil
}
