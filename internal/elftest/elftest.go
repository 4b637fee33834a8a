// Package elftest writes small, valid 64-bit little-endian ELF files for
// tests: a vmlinux-like executable for the bzImage payload tests, and
// relocatable kernel modules with a .modinfo section. Only tests import it.
package elftest

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
)

// Section is one section of the file to write.
type Section struct {
	Name string
	Type elf.SectionType // SHT_PROGBITS when zero
	Data []byte
}

// Build returns an ELF64 little-endian file of type typ (elf.ET_EXEC or
// elf.ET_REL) for x86-64, with the given sections after the null section
// and a .shstrtab. An ET_EXEC file gets one PT_LOAD segment covering the
// first section.
func Build(typ elf.Type, sections []Section) []byte {
	const ehdrSize, phdrSize, shdrSize = 64, 56, 64
	le := binary.LittleEndian
	var shstr bytes.Buffer
	shstr.WriteByte(0)
	names := make([]uint32, len(sections)+1)
	for i, s := range sections {
		names[i] = uint32(shstr.Len())
		shstr.WriteString(s.Name)
		shstr.WriteByte(0)
	}
	names[len(sections)] = uint32(shstr.Len())
	shstr.WriteString(".shstrtab\x00")
	all := append(append([]Section(nil), sections...), Section{Name: ".shstrtab", Type: elf.SHT_STRTAB, Data: shstr.Bytes()})

	nph := 0
	if typ == elf.ET_EXEC && len(sections) > 0 {
		nph = 1
	}
	off := uint64(ehdrSize + nph*phdrSize)
	offsets := make([]uint64, len(all))
	var body bytes.Buffer
	for i, s := range all {
		for (off+uint64(body.Len()))%8 != 0 {
			body.WriteByte(0)
		}
		offsets[i] = off + uint64(body.Len())
		body.Write(s.Data)
	}
	for (off+uint64(body.Len()))%8 != 0 {
		body.WriteByte(0)
	}
	shoff := off + uint64(body.Len())

	var out bytes.Buffer
	h := make([]byte, ehdrSize)
	copy(h, "\x7fELF")
	h[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	le.PutUint16(h[0x10:], uint16(typ))
	le.PutUint16(h[0x12:], uint16(elf.EM_X86_64))
	le.PutUint32(h[0x14:], uint32(elf.EV_CURRENT))
	if nph > 0 {
		le.PutUint64(h[0x20:], ehdrSize)
	}
	le.PutUint64(h[0x28:], shoff)
	le.PutUint16(h[0x34:], ehdrSize)
	le.PutUint16(h[0x36:], phdrSize)
	le.PutUint16(h[0x38:], uint16(nph))
	le.PutUint16(h[0x3A:], shdrSize)
	le.PutUint16(h[0x3C:], uint16(len(all)+1))
	le.PutUint16(h[0x3E:], uint16(len(all)))
	out.Write(h)
	if nph > 0 {
		p := make([]byte, phdrSize)
		le.PutUint32(p[0:], uint32(elf.PT_LOAD))
		le.PutUint32(p[4:], uint32(elf.PF_R|elf.PF_X))
		le.PutUint64(p[8:], offsets[0])
		le.PutUint64(p[16:], 0xffffffff81000000)
		le.PutUint64(p[24:], 0x1000000)
		le.PutUint64(p[32:], uint64(len(all[0].Data)))
		le.PutUint64(p[40:], uint64(len(all[0].Data)))
		le.PutUint64(p[48:], 0x200000)
		out.Write(p)
	}
	out.Write(body.Bytes())
	out.Write(make([]byte, shdrSize)) // the null section
	for i, s := range all {
		sh := make([]byte, shdrSize)
		t := s.Type
		if t == 0 {
			t = elf.SHT_PROGBITS
		}
		le.PutUint32(sh[0:], names[i])
		le.PutUint32(sh[4:], uint32(t))
		le.PutUint64(sh[24:], offsets[i])
		le.PutUint64(sh[32:], uint64(len(s.Data)))
		le.PutUint64(sh[48:], 1)
		if t == elf.SHT_SYMTAB {
			le.PutUint32(sh[40:], uint32(len(all))) // sh_link: .shstrtab stands in for .strtab
			le.PutUint64(sh[56:], 24)
		}
		out.Write(sh)
	}
	return out.Bytes()
}

// Module returns a relocatable x86-64 ELF like a kernel module, whose
// .modinfo section holds the given "key=value" strings, NUL-terminated.
func Module(modinfo ...string) []byte {
	var mi bytes.Buffer
	for _, kv := range modinfo {
		mi.WriteString(kv)
		mi.WriteByte(0)
	}
	return Build(elf.ET_REL, []Section{
		{Name: ".text", Data: []byte{0xc3}},
		{Name: ".modinfo", Data: mi.Bytes()},
	})
}
