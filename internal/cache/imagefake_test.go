package cache

import "encoding/binary"

// stampBzImage writes a minimal x86 bzImage header (boot protocol 2.15,
// one setup sector, syssize matching len(b)) over the start of b, so that
// b passes CheckImageHeader whatever the rest holds. len(b) must be at
// least 1024.
func stampBzImage(b []byte) []byte {
	if len(b) < 1024 {
		panic("stampBzImage: image shorter than 1024 bytes")
	}
	b[0x1F1] = 1 // setup_sects
	binary.LittleEndian.PutUint32(b[0x1F4:], uint32((len(b)-1024)/16))
	b[0x1FE], b[0x1FF] = 0x55, 0xAA
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], 0x020F)
	return b
}

// fakeBzImage is a 2 KiB image with a valid bzImage header.
func fakeBzImage() []byte { return stampBzImage(make([]byte, 2048)) }

// fakeArm64Image is a 1 KiB image with the arm64 Image magic.
func fakeArm64Image() []byte {
	b := make([]byte, 1024)
	copy(b[0x38:], "ARM\x64")
	return b
}
