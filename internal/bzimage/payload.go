// Package bzimage reads the compressed kernel inside an x86 bzImage and
// turns it back into the vmlinux ELF file it was made from.
//
// A bzImage is the real-mode setup code followed by the protected-mode
// part, which carries the compressed vmlinux (the "payload"). From boot
// protocol 2.08 the setup header says where the payload is
// (Documentation/arch/x86/boot.rst):
//
//	0x1F1 u8  setup_sects      real-mode sectors after the boot sector (0 means 4)
//	0x202 u32 "HdrS"           header magic
//	0x206 u16 version          boot protocol version
//	0x248 u32 payload_offset   from the start of the protected-mode code
//	0x24C u32 payload_length
//
// The protected-mode code starts at (setup_sects+1)*512. The kernel's build
// appends the uncompressed size as a little-endian u32 to every compressed
// payload (size_append in scripts/Makefile.lib), so the stream itself ends
// four bytes before payload_length.
package bzimage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Format is the compression of a payload.
type Format string

// Payload formats the kernel's build can produce (CONFIG_KERNEL_*).
const (
	Gzip         Format = "gzip"
	XZ           Format = "xz"
	Zstd         Format = "zstd"
	LZ4          Format = "lz4" // the legacy LZ4 frame the kernel writes (lz4 -l)
	LZMA         Format = "lzma"
	Bzip2        Format = "bzip2"
	LZO          Format = "lzo"
	Uncompressed Format = "none" // CONFIG_KERNEL_UNCOMPRESSED: an ELF file
)

// Header offsets.
const (
	setupSectsOff    = 0x1F1
	bootFlagOff      = 0x1FE
	headerMagicOff   = 0x202
	protocolOff      = 0x206
	payloadOffsetOff = 0x248
	payloadLengthOff = 0x24C
	headerEnd        = 0x250
	// minPayloadProtocol is the first boot protocol with payload fields.
	minPayloadProtocol = 0x0208
)

// Payload says where the compressed kernel lies in a bzImage.
type Payload struct {
	// Offset and Length locate the payload in the file, the size trailer
	// included.
	Offset, Length int64
	// Format is the compression, from the payload's magic bytes.
	Format Format
	// Size is the uncompressed size the kernel's build appended (0 when the
	// payload is uncompressed and has no trailer).
	Size uint32
}

// StreamLength is the length of the compressed stream: the payload without
// its size trailer.
func (p Payload) StreamLength() int64 {
	if p.Format == Uncompressed {
		return p.Length
	}
	return p.Length - 4
}

// NotBzImageError reports a file that has no usable payload header.
type NotBzImageError struct{ Reason string }

func (e *NotBzImageError) Error() string { return "not a bzImage with a payload: " + e.Reason }

// magics maps the first bytes of a payload to its format. LZMA's "alone"
// header has no magic; 5d 00 00 is its usual properties byte and the low
// bytes of the dictionary size, which is how file(1) and the kernel's
// tools recognise it too.
var magics = []struct {
	magic  []byte
	format Format
}{
	{[]byte{0x1f, 0x8b}, Gzip},
	{[]byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, XZ},
	{[]byte{0x28, 0xb5, 0x2f, 0xfd}, Zstd},
	{[]byte{0x02, 0x21, 0x4c, 0x18}, LZ4},
	{[]byte{0x5d, 0x00, 0x00}, LZMA},
	{[]byte("BZh"), Bzip2},
	{[]byte{0x89, 'L', 'Z', 'O'}, LZO},
	{[]byte("\x7fELF"), Uncompressed},
}

// DetectFormat names the compression of data by its magic bytes, or "".
func DetectFormat(data []byte) Format {
	for _, m := range magics {
		if bytes.HasPrefix(data, m.magic) {
			return m.format
		}
	}
	return ""
}

// LocatePayload reads the setup header of the bzImage r (size bytes long)
// and returns where its payload is. It never reads outside [0, size) and
// returns *NotBzImageError for anything it cannot use: not a bzImage, a
// boot protocol before 2.08, a payload outside the file, or unknown magic.
func LocatePayload(r io.ReaderAt, size int64) (Payload, error) {
	if size < headerEnd {
		return Payload{}, &NotBzImageError{Reason: fmt.Sprintf("%d bytes is shorter than a setup header", size)}
	}
	hdr := make([]byte, headerEnd)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return Payload{}, fmt.Errorf("read setup header: %w", err)
	}
	if hdr[bootFlagOff] != 0x55 || hdr[bootFlagOff+1] != 0xAA || string(hdr[headerMagicOff:headerMagicOff+4]) != "HdrS" {
		return Payload{}, &NotBzImageError{Reason: "no 55 AA boot flag and HdrS magic"}
	}
	proto := binary.LittleEndian.Uint16(hdr[protocolOff:])
	if proto < minPayloadProtocol {
		return Payload{}, &NotBzImageError{Reason: fmt.Sprintf("boot protocol %d.%02d has no payload fields (they appeared in 2.08)", proto>>8, proto&0xff)}
	}
	sects := int64(hdr[setupSectsOff])
	if sects == 0 {
		sects = 4
	}
	pm := (sects + 1) * 512
	off := pm + int64(binary.LittleEndian.Uint32(hdr[payloadOffsetOff:]))
	length := int64(binary.LittleEndian.Uint32(hdr[payloadLengthOff:]))
	if length == 0 || off > size || length > size-off {
		return Payload{}, &NotBzImageError{Reason: fmt.Sprintf("payload [%d, +%d) lies outside the %d-byte file (truncated?)", off, length, size)}
	}
	head := make([]byte, min(length, 8))
	if _, err := r.ReadAt(head, off); err != nil {
		return Payload{}, fmt.Errorf("read payload magic: %w", err)
	}
	p := Payload{Offset: off, Length: length, Format: DetectFormat(head)}
	switch {
	case p.Format == "":
		return Payload{}, &NotBzImageError{Reason: fmt.Sprintf("payload starts with % x, no known compression magic", head)}
	case p.Format == Uncompressed:
		return p, nil
	case length < 4+int64(len(head)):
		return Payload{}, &NotBzImageError{Reason: fmt.Sprintf("%s payload of %d bytes is too short for a stream and its size trailer", p.Format, length)}
	}
	var trailer [4]byte
	if _, err := r.ReadAt(trailer[:], off+length-4); err != nil {
		return Payload{}, fmt.Errorf("read payload size trailer: %w", err)
	}
	p.Size = binary.LittleEndian.Uint32(trailer[:])
	return p, nil
}

// errUnsupported is wrapped by Decompress for formats without a decoder.
var errUnsupported = errors.New("unsupported payload compression")

// IsUnsupported reports whether err says a payload's compression (or an xz
// filter in it) has no decoder here: the image is fine, only its vmlinux
// cannot be extracted.
func IsUnsupported(err error) bool { return errors.Is(err, errUnsupported) }
