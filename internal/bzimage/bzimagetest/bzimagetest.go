// Package bzimagetest builds small synthetic x86 bzImages for tests: a
// valid setup header (boot protocol 2.15) with a version string, and a
// gzip payload holding a small vmlinux ELF with the size trailer, so that
// both preflight's header checks and bzimage's vmlinux extraction accept
// them. Only tests import it.
package bzimagetest

import (
	"bytes"
	"debug/elf"
	"encoding/binary"

	"github.com/klauspost/compress/gzip"

	"github.com/ktest-dev/ktest/internal/elftest"
)

// Vmlinux returns the ELF file Build compresses into the payload: pad
// bytes of code make the image that much larger (for full-disk tests).
func Vmlinux(pad int) []byte {
	return elftest.Build(elf.ET_EXEC, []elftest.Section{
		{Name: ".text", Data: bytes.Repeat([]byte{0x90}, 4096+pad)},
		{Name: ".BTF", Data: []byte{0x9f, 0xeb, 1, 0}},
	})
}

// Build returns a bzImage whose header names release, and whose payload
// is Vmlinux(pad), gzip-compressed (stored, so pad costs its size).
func Build(release string, pad int) []byte {
	const setupSects = 4
	pm := (setupSects + 1) * 512
	vml := Vmlinux(pad)
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.NoCompression)
	zw.Write(vml)
	zw.Close()
	payload := binary.LittleEndian.AppendUint32(z.Bytes(), uint32(len(vml)))

	img := make([]byte, pm)
	le := binary.LittleEndian
	img[0x1F1] = setupSects
	img[0x1FE], img[0x1FF] = 0x55, 0xAA
	copy(img[0x202:], "HdrS")
	le.PutUint16(img[0x206:], 0x020f)
	// The version string lives in the setup code, 0x200 past the offset
	// at 0x20E.
	const verOff = 0x400
	le.PutUint16(img[0x20E:], verOff-0x200)
	copy(img[verOff:], release+" (ktest@test) #1 SMP synthetic\x00")
	const payloadOff = 0x200
	le.PutUint32(img[0x248:], payloadOff)
	le.PutUint32(img[0x24C:], uint32(len(payload)))
	img = append(img, make([]byte, payloadOff)...)
	img = append(img, payload...)
	for len(img)%16 != 0 {
		img = append(img, 0)
	}
	le.PutUint32(img[0x1F4:], uint32((len(img)-pm)/16)) // syssize
	return img
}
