package bzimage

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Vmlinux describes a vmlinux extracted from a bzImage.
type Vmlinux struct {
	// Format is the payload's compression.
	Format Format
	// Size is the extracted ELF file's size in bytes.
	Size int64
	// Stripped is true when the ELF has no .symtab. The x86 build strips
	// vmlinux before compressing it (objcopy -S), so extracted files
	// normally are; a kernel built otherwise keeps its symbols.
	Stripped bool
	// HasBTF is true when the ELF has a .BTF section.
	HasBTF bool
}

// ExtractVmlinux decompresses the payload of the bzImage at image into a
// new file at out (which must not exist) and cuts it at the end of the ELF
// file, dropping the relocation table the build appends for relocatable
// kernels. On error out is removed. An image whose payload has no decoder
// here returns an error IsUnsupported recognises.
func ExtractVmlinux(image, out string) (v Vmlinux, err error) {
	f, err := os.Open(image)
	if err != nil {
		return Vmlinux{}, fmt.Errorf("extract vmlinux: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Vmlinux{}, fmt.Errorf("extract vmlinux: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Vmlinux{}, fmt.Errorf("extract vmlinux: %s is not a regular file", image)
	}
	p, err := LocatePayload(f, st.Size())
	if err != nil {
		return Vmlinux{}, fmt.Errorf("extract vmlinux from %s: %w", image, err)
	}
	w, err := os.OpenFile(out, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return Vmlinux{}, fmt.Errorf("extract vmlinux: %w", err)
	}
	defer func() {
		if cerr := w.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("extract vmlinux: close %s: %w", out, cerr)
		}
		if err != nil {
			os.Remove(out)
		}
	}()
	v, err = decompressTo(w, io.NewSectionReader(f, p.Offset, p.StreamLength()), p)
	if err != nil {
		return Vmlinux{}, fmt.Errorf("extract vmlinux from %s (%s payload): %w", image, p.Format, err)
	}
	return v, nil
}

// decompressTo writes the payload's ELF into w (a new, empty file) and
// truncates it to the ELF's extent.
func decompressTo(w *os.File, stream io.Reader, p Payload) (Vmlinux, error) {
	zr, err := Decompress(stream, p.Format)
	if err != nil {
		return Vmlinux{}, err
	}
	defer zr.Close()
	limit := int64(p.Size)
	if p.Format == Uncompressed {
		limit = p.Length
	}
	// The trailer bounds what a well-formed payload produces; reading one
	// byte more tells a lying trailer (or a decompression bomb) apart.
	n, err := io.Copy(w, io.LimitReader(zr, limit+1))
	if err != nil {
		return Vmlinux{}, fmt.Errorf("decompress: %w", err)
	}
	if n != limit {
		return Vmlinux{}, fmt.Errorf("decompressed %d bytes, but the size trailer says %d (corrupt or truncated payload)", n, limit)
	}
	end, err := elfExtent(w, n)
	if err != nil {
		return Vmlinux{}, err
	}
	if err := w.Truncate(end); err != nil {
		return Vmlinux{}, fmt.Errorf("truncate to the ELF's %d bytes: %w", end, err)
	}
	ef, err := elf.NewFile(io.NewSectionReader(w, 0, end))
	if err != nil {
		return Vmlinux{}, fmt.Errorf("parse the decompressed ELF: %w", err)
	}
	v := Vmlinux{Format: p.Format, Size: end, Stripped: ef.Section(".symtab") == nil, HasBTF: ef.Section(".BTF") != nil}
	return v, nil
}

// elfExtent returns where the ELF file in r (size bytes) ends: the largest
// end of its headers, program header and section header tables, sections
// with file contents and segments. Only 64-bit little-endian ELF (x86-64)
// is accepted. Anything after that end (the relocation table of a
// relocatable kernel) is not part of vmlinux.
func elfExtent(r io.ReaderAt, size int64) (int64, error) {
	const ehdrSize = 64
	if size < ehdrSize {
		return 0, fmt.Errorf("the payload decompressed to %d bytes, too short for an ELF header", size)
	}
	var h [ehdrSize]byte
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return 0, fmt.Errorf("read ELF header: %w", err)
	}
	if string(h[:4]) != "\x7fELF" {
		return 0, fmt.Errorf("the payload decompressed to data starting % x, not an ELF file", h[:4])
	}
	if h[elf.EI_CLASS] != byte(elf.ELFCLASS64) || h[elf.EI_DATA] != byte(elf.ELFDATA2LSB) {
		return 0, errors.New("the payload is not a 64-bit little-endian ELF file (only x86-64 kernels are supported)")
	}
	le := binary.LittleEndian
	phoff, shoff := le.Uint64(h[0x20:]), le.Uint64(h[0x28:])
	phentsize, phnum := uint64(le.Uint16(h[0x36:])), uint64(le.Uint16(h[0x38:]))
	shentsize, shnum := uint64(le.Uint16(h[0x3A:])), uint64(le.Uint16(h[0x3C:]))
	end := uint64(ehdrSize)
	grow := func(off, n uint64) error {
		e := off + n
		if e < off || e > uint64(size) {
			return fmt.Errorf("ELF table or section [%d, +%d) lies outside the %d decompressed bytes", off, n, size)
		}
		end = max(end, e)
		return nil
	}
	if err := grow(phoff, phentsize*phnum); err != nil {
		return 0, err
	}
	if err := grow(shoff, shentsize*shnum); err != nil {
		return 0, err
	}
	ef, err := elf.NewFile(io.NewSectionReader(r, 0, size))
	if err != nil {
		return 0, fmt.Errorf("parse the decompressed ELF: %w", err)
	}
	for _, s := range ef.Sections {
		if s.Type == elf.SHT_NOBITS || s.Type == elf.SHT_NULL {
			continue
		}
		if err := grow(s.Offset, s.FileSize); err != nil {
			return 0, fmt.Errorf("section %s: %w", s.Name, err)
		}
	}
	for _, p := range ef.Progs {
		if err := grow(p.Off, p.Filesz); err != nil {
			return 0, fmt.Errorf("segment: %w", err)
		}
	}
	return int64(end), nil
}
