package debian

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// A small reader of the tar streams dpkg-deb --fsys-tarfile writes (ustar
// and GNU, with GNU long names and PAX path records). ktest reads them
// itself rather than through archive/tar, which imports os/user and so
// would make the ktest binary link libc through cgo: ktest stays a static
// binary that opens nothing at start.

const tarBlock = 512

// tarEntry is one member of a tar stream.
type tarEntry struct {
	Name string // as stored, e.g. "./boot/vmlinuz-6.1.0-50-cloud-amd64"
	Type byte   // '0' regular (also NUL), '5' directory, '2' symlink, ...
	Mode int64  // permission bits
	Size int64
}

// Regular reports whether the entry is a regular file.
func (e tarEntry) Regular() bool { return e.Type == '0' || e.Type == 0 || e.Type == '7' }

// maxTarMeta bounds a GNU long name or PAX header.
const maxTarMeta = 1 << 20

// readTar calls fn for each member of the tar stream r, with a reader of
// its content (what fn leaves unread is skipped). It stops at the end
// marker (a zero block) or at the end of the stream, and returns fn's
// first error. Malformed headers (bad checksum, bad numbers, a member cut
// short) are errors.
func readTar(r io.Reader, fn func(e tarEntry, body io.Reader) error) error {
	hdr := make([]byte, tarBlock)
	var longName, paxPath string
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("tar: read header: %w", err)
		}
		if isZeroBlock(hdr) {
			return nil
		}
		if err := checkTarSum(hdr); err != nil {
			return err
		}
		size, err := tarNumber(hdr[124:136])
		if err != nil || size < 0 {
			return fmt.Errorf("tar: bad size field %q", hdr[124:136])
		}
		mode, err := tarNumber(hdr[100:108])
		if err != nil {
			return fmt.Errorf("tar: bad mode field %q", hdr[100:108])
		}
		e := tarEntry{Type: hdr[156], Mode: mode & 0o7777, Size: size}
		name := cString(hdr[0:100])
		if string(hdr[257:263]) == "ustar\x00" { // POSIX ustar: name may have a prefix
			if p := cString(hdr[345:500]); p != "" {
				name = p + "/" + name
			}
		}
		body := &io.LimitedReader{R: r, N: size}
		switch e.Type {
		case 'L', 'x', 'g':
			if size > maxTarMeta {
				return fmt.Errorf("tar: %c header of %d bytes", e.Type, size)
			}
			meta, err := io.ReadAll(body)
			if err != nil || int64(len(meta)) != size {
				return fmt.Errorf("tar: member cut short")
			}
			switch e.Type {
			case 'L':
				longName = cString(meta)
			case 'x':
				if p, ok := paxRecord(meta, "path"); ok {
					paxPath = p
				}
			}
			if err := skipPadding(r, size); err != nil {
				return err
			}
			continue
		}
		switch {
		case paxPath != "":
			name = paxPath
		case longName != "":
			name = longName
		}
		paxPath, longName = "", ""
		e.Name = name
		if err := fn(e, body); err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return fmt.Errorf("tar: read %s: %w", name, err)
		}
		if body.N != 0 {
			return fmt.Errorf("tar: %s cut short", name)
		}
		if err := skipPadding(r, size); err != nil {
			return err
		}
	}
}

func isZeroBlock(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// checkTarSum verifies the header checksum: the sum of its bytes with the
// checksum field counted as spaces.
func checkTarSum(hdr []byte) error {
	want, err := tarNumber(hdr[148:156])
	if err != nil {
		return fmt.Errorf("tar: bad checksum field %q", hdr[148:156])
	}
	var sum int64
	for i, c := range hdr {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	if sum != want {
		return errors.New("tar: header checksum mismatch (not a tar stream, or corrupt)")
	}
	return nil
}

// tarNumber parses an octal field (NUL/space padded), or GNU base-256
// when the first byte has its high bit set.
func tarNumber(f []byte) (int64, error) {
	if len(f) > 0 && f[0]&0x80 != 0 {
		var n int64
		for i, c := range f {
			if i == 0 {
				c &= 0x7f
			}
			if n > (1<<62)>>8 {
				return 0, errors.New("base-256 number too large")
			}
			n = n<<8 | int64(c)
		}
		return n, nil
	}
	s := strings.Trim(string(f), " \x00")
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 8, 64)
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// paxRecord finds key in PAX records ("LEN key=value\n").
func paxRecord(data []byte, key string) (string, bool) {
	for len(data) > 0 {
		sp := bytes.IndexByte(data, ' ')
		if sp <= 0 {
			return "", false
		}
		n, err := strconv.Atoi(string(data[:sp]))
		if err != nil || n <= sp+1 || n > len(data) {
			return "", false
		}
		rec := data[sp+1 : n]
		data = data[n:]
		rec = bytes.TrimSuffix(rec, []byte("\n"))
		if k, v, ok := bytes.Cut(rec, []byte("=")); ok && string(k) == key {
			return string(v), true
		}
	}
	return "", false
}

func skipPadding(r io.Reader, size int64) error {
	if pad := (tarBlock - size%tarBlock) % tarBlock; pad > 0 {
		if _, err := io.CopyN(io.Discard, r, pad); err != nil {
			return fmt.Errorf("tar: stream cut short: %w", err)
		}
	}
	return nil
}
