package initramfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Reader reads the entries of a newc archive in order. It is strict: it
// accepts only what a careful writer produces ("070701" magic, hex fields,
// NUL-terminated names, zero padding) and reports the offset of the first
// violation. It never allocates more than a name's bounded length up front;
// entry data is streamed through Read.
type Reader struct {
	br        *bufio.Reader
	off       int64 // bytes consumed from the archive
	remaining int64 // unread data bytes of the current entry
	padding   int64 // padding after the current entry's data
	done      bool
	err       error
}

// NewReader returns a Reader that reads an archive from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReader(r)}
}

// Next advances to the next entry, skipping any unread data of the current
// one. It returns io.EOF after the TRAILER!!! entry; an archive that ends
// without a trailer yields an error wrapping io.ErrUnexpectedEOF.
func (r *Reader) Next() (*Header, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.done {
		return nil, io.EOF
	}
	if err := r.discard(r.remaining); err != nil {
		return nil, r.fail(err)
	}
	r.remaining = 0
	if err := r.skipPadding(r.padding); err != nil {
		return nil, r.fail(err)
	}
	r.remaining, r.padding = 0, 0

	start := r.off
	var raw [headerLen]byte
	if err := r.readFull(raw[:]); err != nil {
		return nil, r.fail(fmt.Errorf("read cpio header at offset %d: %w", start, err))
	}
	if string(raw[:len(magic)]) != magic {
		return nil, r.fail(fmt.Errorf("read cpio header at offset %d: bad magic %q, want %q (not a newc archive, or misaligned)", start, raw[:len(magic)], magic))
	}
	var f [13]uint32
	for i := range f {
		field := raw[len(magic)+8*i : len(magic)+8*(i+1)]
		v, err := strconv.ParseUint(string(field), 16, 32)
		if err != nil {
			return nil, r.fail(fmt.Errorf("read cpio header at offset %d: field %d %q is not 8 hex digits", start, i, field))
		}
		f[i] = uint32(v)
	}
	namesize := f[11]
	if namesize < 2 || namesize > maxNameLen {
		return nil, r.fail(fmt.Errorf("read cpio header at offset %d: name size %d out of range [2, %d]", start, namesize, maxNameLen))
	}
	if f[12] != 0 {
		return nil, r.fail(fmt.Errorf("read cpio header at offset %d: check field is %#x, want 0 for newc", start, f[12]))
	}
	name := make([]byte, namesize)
	if err := r.readFull(name); err != nil {
		return nil, r.fail(fmt.Errorf("read cpio name at offset %d: %w", start, err))
	}
	for i, c := range name[:namesize-1] {
		if c == 0 {
			return nil, r.fail(fmt.Errorf("read cpio name at offset %d: NUL inside name at byte %d", start, i))
		}
	}
	if name[namesize-1] != 0 {
		return nil, r.fail(fmt.Errorf("read cpio name at offset %d: name is not NUL-terminated", start))
	}
	if err := r.skipPadding(pad4(int64(headerLen) + int64(namesize))); err != nil {
		return nil, r.fail(err)
	}
	h := &Header{
		Name: string(name[:namesize-1]), Inode: f[0], Mode: f[1], UID: f[2], GID: f[3],
		NLink: f[4], MTime: f[5], Size: f[6], DevMajor: f[7], DevMinor: f[8],
		RDevMajor: f[9], RDevMinor: f[10],
	}
	if h.Name == trailerName {
		r.done = true
		return nil, io.EOF
	}
	r.remaining = int64(h.Size)
	r.padding = pad4(int64(h.Size))
	return h, nil
}

// Read reads the current entry's data. It returns io.EOF at the end of the
// entry's data.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.remaining == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := r.br.Read(p)
	r.off += int64(n)
	r.remaining -= int64(n)
	if err == io.EOF && r.remaining > 0 {
		return n, r.fail(fmt.Errorf("read cpio data at offset %d: %w", r.off, io.ErrUnexpectedEOF))
	}
	if err != nil && err != io.EOF {
		return n, r.fail(fmt.Errorf("read cpio data at offset %d: %w", r.off, err))
	}
	return n, nil
}

func (r *Reader) fail(err error) error {
	if r.err == nil {
		r.err = err
	}
	return r.err
}

func (r *Reader) readFull(p []byte) error {
	n, err := io.ReadFull(r.br, p)
	r.off += int64(n)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (r *Reader) discard(n int64) error {
	for n > 0 {
		chunk := n
		if chunk > 1<<30 {
			chunk = 1 << 30
		}
		d, err := r.br.Discard(int(chunk))
		r.off += int64(d)
		n -= int64(d)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("skip cpio data at offset %d: %w", r.off, err)
		}
	}
	return nil
}

// skipPadding consumes n padding bytes, which must be zero.
func (r *Reader) skipPadding(n int64) error {
	var pad [4]byte
	at := r.off
	if err := r.readFull(pad[:n]); err != nil {
		return fmt.Errorf("read cpio padding at offset %d: %w", at, err)
	}
	for _, c := range pad[:n] {
		if c != 0 {
			return fmt.Errorf("read cpio padding at offset %d: non-zero padding byte %#x", at, c)
		}
	}
	return nil
}
