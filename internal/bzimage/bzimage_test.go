package bzimage

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"

	"github.com/ktest-dev/ktest/internal/elftest"
	"github.com/ktest-dev/ktest/internal/testkernel"
)

// testELF is a vmlinux-like executable; withSymtab adds a .symtab.
func testELF(withSymtab bool) []byte {
	secs := []elftest.Section{
		{Name: ".text", Data: bytes.Repeat([]byte{0x90}, 4096)},
		{Name: ".BTF", Data: []byte{0x9f, 0xeb, 1, 0}},
	}
	if withSymtab {
		secs = append(secs, elftest.Section{Name: ".symtab", Type: elf.SHT_SYMTAB, Data: make([]byte, 48)})
	}
	return elftest.Build(elf.ET_EXEC, secs)
}

func compress(t testing.TB, f Format, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	var w interface {
		Write([]byte) (int, error)
		Close() error
	}
	var err error
	switch f {
	case Gzip:
		w = gzip.NewWriter(&b)
	case XZ:
		w, err = xz.NewWriter(&b)
	case Zstd:
		w, err = zstd.NewWriter(&b)
	case LZ4:
		lw := lz4.NewWriter(&b)
		if err := lw.Apply(lz4.LegacyOption(true)); err != nil {
			t.Fatal(err)
		}
		w = lw
	case LZMA:
		w, err = lzma.NewWriter(&b)
	case Uncompressed:
		return data
	default:
		t.Fatalf("no compressor for %s", f)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// makeBzImage assembles a bzImage around payload (already compressed) the
// way the kernel's build does: setup sectors, the protected-mode part with
// the payload at payloadOff, the u32 size trailer (unless uncompressed).
func makeBzImage(payload []byte, size uint32, withTrailer bool) []byte {
	const setupSects = 1
	const payloadOff = 0x100
	pm := (setupSects + 1) * 512
	p := append([]byte(nil), payload...)
	if withTrailer {
		p = binary.LittleEndian.AppendUint32(p, size)
	}
	img := make([]byte, pm+payloadOff, pm+payloadOff+len(p)+64)
	img[setupSectsOff] = setupSects
	img[bootFlagOff], img[bootFlagOff+1] = 0x55, 0xAA
	copy(img[headerMagicOff:], "HdrS")
	binary.LittleEndian.PutUint16(img[protocolOff:], 0x020f)
	binary.LittleEndian.PutUint32(img[payloadOffsetOff:], payloadOff)
	binary.LittleEndian.PutUint32(img[payloadLengthOff:], uint32(len(p)))
	img = append(img, p...)
	return append(img, make([]byte, 64)...) // the kernel's trailing code
}

func writeTemp(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExtractVmlinuxEveryFormat(t *testing.T) {
	for _, f := range []Format{Gzip, XZ, Zstd, LZ4, LZMA, Uncompressed} {
		for _, symtab := range []bool{false, true} {
			t.Run(string(f), func(t *testing.T) {
				want := testELF(symtab)
				// Relocatable kernels carry their relocation table after
				// the ELF: it must be cut off.
				bin := append(append([]byte(nil), want...), bytes.Repeat([]byte{0xee}, 300)...)
				img := makeBzImage(compress(t, f, bin), uint32(len(bin)), f != Uncompressed)
				if f == Uncompressed {
					img = makeBzImage(want, 0, false)
				}
				out := filepath.Join(t.TempDir(), "vmlinux")
				v, err := ExtractVmlinux(writeTemp(t, img), out)
				if err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("extracted %d bytes, want the %d-byte ELF exactly", len(got), len(want))
				}
				if v.Format != f || v.Size != int64(len(want)) || v.Stripped == symtab || !v.HasBTF {
					t.Errorf("Vmlinux = %+v; want format %s, size %d, stripped %v, BTF", v, f, len(want), !symtab)
				}
			})
		}
	}
}

func TestExtractVmlinuxErrors(t *testing.T) {
	good := testELF(false)
	gz := compress(t, Gzip, good)
	cases := []struct {
		name string
		img  []byte
	}{
		{"lying trailer", makeBzImage(gz, uint32(len(good)+10), true)},
		{"truncated stream", makeBzImage(gz[:len(gz)/2], uint32(len(good)), true)},
		{"not an ELF inside", makeBzImage(compress(t, Gzip, bytes.Repeat([]byte("x"), 100)), 100, true)},
		{"unknown magic", makeBzImage([]byte("hello world, no magic"), 5, true)},
		{"lzo", makeBzImage([]byte("\x89LZO\x00\r\n\x1a\n"), 5, true)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "vmlinux")
			if _, err := ExtractVmlinux(writeTemp(t, c.img), out); err == nil {
				t.Fatal("ExtractVmlinux succeeded")
			} else {
				t.Log(err)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a failed extraction left %s behind (stat: %v)", out, err)
			}
		})
	}
}

func TestLocatePayloadRefuses(t *testing.T) {
	img := makeBzImage(compress(t, Gzip, testELF(false)), 1, true)
	old := append([]byte(nil), img...)
	binary.LittleEndian.PutUint16(old[protocolOff:], 0x0206)
	outside := append([]byte(nil), img...)
	binary.LittleEndian.PutUint32(outside[payloadLengthOff:], 1<<30)
	for name, data := range map[string][]byte{
		"short":         img[:100],
		"no magic":      make([]byte, 4096),
		"protocol 2.06": old,
		"outside file":  outside,
	} {
		_, err := LocatePayload(bytes.NewReader(data), int64(len(data)))
		if _, ok := err.(*NotBzImageError); !ok {
			t.Errorf("%s: err = %v, want *NotBzImageError", name, err)
		}
	}
}

// The x86 build compresses with `xz --x86` (a BCJ filter the Go decoder
// lacks): that must be reported as unsupported, not as corruption.
func TestXZWithBCJIsUnsupported(t *testing.T) {
	xzPath, err := exec.LookPath("xz")
	if err != nil {
		t.Skip("no xz binary to make a BCJ-filtered stream")
	}
	bin := testELF(false)
	cmd := exec.Command(xzPath, "--format=xz", "--check=crc32", "--x86", "--lzma2=preset=6", "-c")
	cmd.Stdin = bytes.NewReader(bin)
	stream, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	_, err = ExtractVmlinux(writeTemp(t, makeBzImage(stream, uint32(len(bin)), true)), filepath.Join(t.TempDir(), "vmlinux"))
	if !IsUnsupported(err) {
		t.Fatalf("err = %v, want one IsUnsupported recognises", err)
	}
}

// The real test kernel (a Debian bzImage) yields a stripped x86-64 vmlinux
// with BTF.
func TestExtractVmlinuxRealKernel(t *testing.T) {
	img := testkernel.Path(t)
	out := filepath.Join(t.TempDir(), "vmlinux")
	v, err := ExtractVmlinux(img, out)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	if ef.Machine != elf.EM_X86_64 || ef.Type != elf.ET_EXEC {
		t.Errorf("vmlinux is %v %v, want an x86-64 executable", ef.Machine, ef.Type)
	}
	if !v.HasBTF {
		t.Error("no .BTF in the vmlinux of a Debian kernel (CONFIG_DEBUG_INFO_BTF=y)")
	}
	t.Logf("%s payload: %d-byte vmlinux, stripped %v", v.Format, v.Size, v.Stripped)
}

func FuzzLocatePayload(f *testing.F) {
	f.Add(makeBzImage(compress(f, Gzip, testELF(false)), 10, true))
	f.Add(makeBzImage([]byte{0x02, 0x21, 0x4c, 0x18, 1, 2, 3, 4}, 10, true))
	f.Add(make([]byte, 600))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := LocatePayload(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if p.Offset < 0 || p.Length <= 0 || p.Offset+p.Length > int64(len(data)) || p.StreamLength() < 0 {
			t.Fatalf("payload %+v outside the %d-byte input", p, len(data))
		}
		if p.Format == "" {
			t.Fatal("accepted a payload without a format")
		}
	})
}

func FuzzELFExtent(f *testing.F) {
	f.Add(testELF(true))
	f.Add(elftest.Module("license=GPL"))
	f.Fuzz(func(t *testing.T, data []byte) {
		end, err := elfExtent(bytes.NewReader(data), int64(len(data)))
		if err == nil && (end < 64 || end > int64(len(data))) {
			t.Fatalf("extent %d outside [64, %d]", end, len(data))
		}
	})
}
