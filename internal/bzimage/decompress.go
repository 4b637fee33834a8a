package bzimage

import (
	"compress/bzip2"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// maxZstdWindow bounds the zstd window the decoder accepts. The kernel
// compresses with `zstd -22 --ultra` (a 128 MiB window); 1 GiB leaves room
// and still refuses absurd frames.
const maxZstdWindow = 1 << 30

// Decompress returns a reader of the data r holds compressed in format f.
// Closing it releases the decoder (not r). Formats without a decoder here
// (lzo, and xz streams with a BCJ filter, which the kernel's x86 build
// uses for CONFIG_KERNEL_XZ) fail with an error IsUnsupported recognises,
// either at once or on the first Read.
func Decompress(r io.Reader, f Format) (io.ReadCloser, error) {
	switch f {
	case Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		zr.Multistream(false)
		return zr, nil
	case XZ:
		zr, err := xz.ReaderConfig{SingleStream: true}.NewReader(r)
		if err != nil {
			return nil, xzError(err)
		}
		return readCloser{Reader: xzErrors{zr}}, nil
	case Zstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return readCloser{Reader: zr, close: zr.Close}, nil
	case LZ4:
		return readCloser{Reader: lz4.NewReader(r)}, nil
	case LZMA:
		zr, err := lzma.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("lzma: %w", err)
		}
		return readCloser{Reader: zr}, nil
	case Bzip2:
		return readCloser{Reader: bzip2.NewReader(r)}, nil
	case Uncompressed:
		return readCloser{Reader: r}, nil
	case LZO:
		return nil, fmt.Errorf("%w: lzo (no well-kept Go decoder)", errUnsupported)
	}
	return nil, fmt.Errorf("%w: %q", errUnsupported, string(f))
}

type readCloser struct {
	io.Reader
	close func()
}

func (r readCloser) Close() error {
	if r.close != nil {
		r.close()
	}
	return nil
}

// xzErrors marks the xz decoder's filter errors as unsupported.
type xzErrors struct{ r io.Reader }

func (x xzErrors) Read(p []byte) (int, error) {
	n, err := x.r.Read(p)
	if err != nil && err != io.EOF {
		err = xzError(err)
	}
	return n, err
}

func xzError(err error) error {
	if strings.Contains(err.Error(), "filter") {
		return fmt.Errorf("%w: xz with a filter other than LZMA2 (the x86 BCJ filter?): %v", errUnsupported, err)
	}
	return fmt.Errorf("xz: %w", err)
}
