package kernelimage

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/testkernel"
)

// -update rewrites kernelimage/testdata/images/* and images.golden. The flag
// is registered only if another test file of the package has not already.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files and generated testdata")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// synthBzImage builds a minimal bzImage: boot flag, HdrS, protocol, a
// version pointer (0 for none) and a setup/syssize consistent with size.
func synthBzImage(proto uint16, version string, size int) []byte {
	data := make([]byte, size)
	data[x86SetupSectsOff] = 1 // setup is 2 sectors: 0x000-0x3ff
	binary.LittleEndian.PutUint32(data[x86SyssizeOff:], uint32((size-1024)/16))
	copy(data[x86BootFlagOff:], bzBootFlag)
	copy(data[x86HeaderOff:], bzMagic)
	binary.LittleEndian.PutUint16(data[x86VersionOff:], proto)
	if version != "" {
		const at = 0x300
		binary.LittleEndian.PutUint16(data[x86KernelVerOff:], at-0x200)
		copy(data[at:], version+"\x00")
	}
	return data
}

// synthArm64Image builds an arm64 Image header (64 bytes) plus padding.
func synthArm64Image(size int) []byte {
	data := make([]byte, size)
	copy(data, []byte{0x4d, 0x5a, 0, 0x91})            // "MZ" (EFI stub) + add x13, x18, #0x16
	binary.LittleEndian.PutUint64(data[0x08:], 0)      // text_offset
	binary.LittleEndian.PutUint64(data[0x10:], 0x1000) // image_size
	copy(data[arm64MagicOff:], arm64Magic)
	return data
}

func gzipBytes(t testing.TB, data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func elfHeader() []byte {
	h := make([]byte, 64)
	copy(h, "\x7fELF\x02\x01\x01")
	return h
}

// syntheticImages are the files under testdata/images, by name.
func syntheticImages(t testing.TB) map[string][]byte {
	trunc := synthBzImage(0x20f, "6.9.0-trunc #1", 0x800)
	return map[string][]byte{
		"bzImage-6.9.0":       synthBzImage(0x20f, "6.9.0-ktest (builder@host) (gcc 14) #1 SMP PREEMPT_DYNAMIC Mon Jan  1 00:00:00 UTC 2026", 0x800),
		"bzImage-proto-2.04":  synthBzImage(0x204, "4.4.0 #1", 0x800),
		"bzImage-no-version":  synthBzImage(0x20f, "", 0x800),
		"bzImage-truncated":   trunc[:0x600],
		"bzImage-bad-version": synthBzImage(0x20f, "6.9.0\x01\x02", 0x800),
		"bzImage-proto-1.00":  synthBzImage(0x100, "", 0x800),
		"Image-arm64":         synthArm64Image(0x400),
		"Image-arm64.gz":      gzipBytes(t, synthArm64Image(0x400)),
		"vmlinux.elf":         elfHeader(),
		"vmlinux.elf.gz":      gzipBytes(t, append(elfHeader(), make([]byte, 64)...)),
		"tiny.gz":             gzipBytes(t, []byte("hi")),
		"broken.gz":           {0x1f, 0x8b, 0xff, 0xff},
		"initramfs.cpio":      []byte("07070100000001000041ed000000000000000000000002" + strings.Repeat("0", 64)),
		"vmlinuz.zst":         {0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0},
		"notes.txt":           []byte("this is not a kernel\n"),
		"random.bin":          bytes.Repeat([]byte{0x00, 0x01, 0xfe}, 300),
		"short.bin":           {0x00, 0x01},
		"efi-app.efi":         append([]byte("MZ"), make([]byte, 0x300)...),
		"bzImage-no-bootflag": func() []byte { d := synthBzImage(0x20f, "", 0x800); d[x86BootFlagOff] = 0; return d }(),
	}
}

// imageResult is the golden form of one Inspect result.
type imageResult struct {
	Info  *Info  `json:"info,omitempty"`
	Error string `json:"error,omitempty"`
}

// TestInspectImageGolden pins Inspect's verdict on every synthetic
// image in testdata/images. Run with -update to regenerate both.
func TestInspectImageGolden(t *testing.T) {
	dir := filepath.Join("testdata", "images")
	golden := filepath.Join("testdata", "images.golden")
	if updateGolden() {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range syntheticImages(t) {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]imageResult{}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		info, err := Inspect(path)
		var r imageResult
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Path != path {
				t.Errorf("%s: error %v is not an *InvalidError naming the file", e.Name(), err)
			}
			r.Error = err.Error()
		} else {
			r.Info = &info
		}
		results[e.Name()] = r
	}
	got, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if updateGolden() {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestInspectImageGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Inspect results differ from %s (rerun with -update if intended):\ngot:\n%s", golden, got)
	}
	if len(results) < len(syntheticImages(t)) {
		t.Errorf("testdata/images holds %d files, want at least %d (run -update)", len(results), len(syntheticImages(t)))
	}
}

// Semantic checks on the same images, so the golden file cannot silently
// pin a wrong answer.
func TestParseImageHeaderSynthetic(t *testing.T) {
	imgs := syntheticImages(t)
	ok := func(name, format, arch, release, proto string) {
		t.Helper()
		info, err := ParseHeader(imgs[name])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if info.Format != format || info.Arch != arch || info.Release != release || info.BootProtocol != proto {
			t.Errorf("%s: got %+v, want format %s arch %s release %q protocol %q", name, info, format, arch, release, proto)
		}
		if !strings.HasPrefix(info.Version, release) {
			t.Errorf("%s: version %q does not start with release %q", name, info.Version, release)
		}
	}
	ok("bzImage-6.9.0", FormatBzImage, ArchX86_64, "6.9.0-ktest", "2.15")
	ok("bzImage-proto-2.04", FormatBzImage, ArchX86_64, "4.4.0", "2.04")
	ok("bzImage-no-version", FormatBzImage, ArchX86_64, "", "2.15")
	ok("bzImage-bad-version", FormatBzImage, ArchX86_64, "", "2.15")
	ok("Image-arm64", FormatArm64Image, ArchAarch64, "", "")
	ok("Image-arm64.gz", FormatArm64ImageGz, ArchAarch64, "", "")

	bad := map[string]string{
		"vmlinux.elf":         "no bzImage or arm64 magic: starts with 7f 45 4c 46 (an ELF file — use the compressed bzImage, e.g. arch/x86/boot/bzImage, not vmlinux)",
		"vmlinux.elf.gz":      "is gzip-compressed, but the content is not an arm64 Image: inflated, it starts with 7f 45 4c 46 (an ELF file",
		"tiny.gz":             "only 2 bytes could be inflated",
		"broken.gz":           "is not valid gzip",
		"initramfs.cpio":      "a cpio archive, probably an initramfs",
		"vmlinuz.zst":         "zstd-compressed",
		"notes.txt":           "(a text file)",
		"random.bin":          "no bzImage or arm64 magic: starts with 00 01 fe 00",
		"short.bin":           "is only 2 bytes, too short",
		"efi-app.efi":         "a PE/EFI executable without a Linux boot header",
		"bzImage-no-bootflag": "HdrS at 0x202 but 00 aa instead of the boot flag 55 aa",
		"bzImage-proto-1.00":  "boot protocol 1.00",
	}
	for name, want := range bad {
		_, err := ParseHeader(imgs[name])
		var ie *InvalidError
		if !errors.As(err, &ie) {
			t.Errorf("%s: err = %v, want *InvalidError", name, err)
			continue
		}
		if !strings.Contains(ie.Reason, want) {
			t.Errorf("%s: reason %q lacks %q", name, ie.Reason, want)
		}
	}
	if _, err := ParseHeader(nil); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty data: err = %v", err)
	}
}

// A version pointer beyond the bytes given yields no version, not an error
// or a read out of range.
func TestParseImageHeaderVersionBeyondData(t *testing.T) {
	img := synthBzImage(0x20f, "6.9.0 #1", 0x800)
	info, err := ParseHeader(img[:0x300])
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != "" || info.Format != FormatBzImage {
		t.Errorf("got %+v, want a bzImage without version", info)
	}
	// Unterminated within the bound.
	long := synthBzImage(0x20f, "", 0x800+maxVersionLen)
	binary.LittleEndian.PutUint16(long[x86KernelVerOff:], 0x300-0x200)
	copy(long[0x300:], bytes.Repeat([]byte("x"), maxVersionLen))
	if info, err := ParseHeader(long); err != nil || info.Version != "" {
		t.Errorf("unterminated version: %+v, %v", info, err)
	}
}

func TestInspectImageFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	empty := filepath.Join(dir, "empty")
	fifo := filepath.Join(dir, "fifo")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, reason string }{
		{missing, "does not exist"},
		{dir, "is a directory"},
		{empty, "is empty"},
		{fifo, "is not a regular file (named pipe)"}, // and Inspect must not block on it
		{"/dev/null", "is not a regular file (character device)"},
	}
	for _, c := range cases {
		_, err := Inspect(c.path)
		var ie *InvalidError
		if !errors.As(err, &ie) {
			t.Errorf("%s: err = %v, want *InvalidError", c.path, err)
			continue
		}
		if ie.Reason != c.reason || ie.Path != c.path {
			t.Errorf("%s: got path %q reason %q, want reason %q", c.path, ie.Path, ie.Reason, c.reason)
		}
		if want := "invalid kernel image " + c.path + ": " + c.reason; err.Error() != want {
			t.Errorf("Error() = %q, want %q", err.Error(), want)
		}
	}
	if _, err := Inspect(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v does not match fs.ErrNotExist", err)
	}
	if os.Geteuid() != 0 {
		unreadable := filepath.Join(dir, "unreadable")
		if err := os.WriteFile(unreadable, []byte("x"), 0o000); err != nil {
			t.Fatal(err)
		}
		if _, err := Inspect(unreadable); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("unreadable file: %v does not match fs.ErrPermission", err)
		}
	}
}

// The real test kernel (internal/testkernel): a bzImage with a version
// string whose first word is the release, a boot protocol of at least 2.12
// (every kernel since 3.8), and the size of the file; its header cut short
// is a truncated image, not a valid one. Only properties are asserted: the
// kernel's exact version and size change with the Debian package.
func TestInspectImageRealKernel(t *testing.T) {
	kernel := testkernel.Path(t)
	st, err := os.Stat(kernel)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Inspect(kernel)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", info)
	if info.Format != FormatBzImage || info.Arch != ArchX86_64 || info.Size != st.Size() || info.Path != kernel {
		t.Errorf("got %+v, want a bzImage for x86_64 of %d bytes at %s", info, st.Size(), kernel)
	}
	var major, minor int
	if _, err := fmt.Sscanf(info.BootProtocol, "%d.%d", &major, &minor); err != nil || major != 2 || minor < 12 {
		t.Errorf("boot protocol %q, want 2.12 or later", info.BootProtocol)
	}
	if !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+\S*$`).MatchString(info.Release) {
		t.Errorf("release %q does not look like a kernel release", info.Release)
	}
	if !strings.HasPrefix(info.Version, info.Release+" (") {
		t.Errorf("version %q does not start with the release %q", info.Version, info.Release)
	}

	head, err := readPrefix(kernel, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "vmlinuz-cut")
	if err := os.WriteFile(cut, head, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Inspect(cut)
	var ie *InvalidError
	var implied int64
	if !errors.As(err, &ie) {
		t.Fatalf("truncated kernel: %v, want an *InvalidError", err)
	}
	if _, serr := fmt.Sscanf(ie.Reason, "is truncated: its bzImage header implies at least %d bytes, the file has 65536", &implied); serr != nil ||
		implied <= 64<<10 || implied > st.Size() {
		t.Errorf("truncated kernel: reason %q, want an implied size in (65536, %d]", ie.Reason, st.Size())
	}
	// ParseHeader on the first 4 KiB alone: the format is known, and
	// the version only when its string lies within those 4 KiB.
	info, err = ParseHeader(head[:4096])
	if err != nil || info.Format != FormatBzImage {
		t.Fatalf("first 4 KiB: %+v, %v", info, err)
	}
	versionAt := int(binary.LittleEndian.Uint16(head[x86KernelVerOff:])) + 0x200
	if inside := versionAt+len(info.Release) < 4096; inside != (info.Version != "") {
		t.Errorf("first 4 KiB: version string at %#x, got version %q", versionAt, info.Version)
	}
}

func readPrefix(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	m, err := f.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:m], nil
}

// FuzzParseImageHeader: never panics; errors are *InvalidError; a
// returned version is printable ASCII (so valid UTF-8), bounded, and its
// first word is the release.
func FuzzParseImageHeader(f *testing.F) {
	imgs := syntheticImages(f)
	names := make([]string, 0, len(imgs))
	for name := range imgs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f.Add(imgs[name])
	}
	if kernel, err := testkernel.Lookup(); err == nil {
		if head, err := readPrefix(kernel, 0x4600); err == nil {
			f.Add(head)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ParseHeader(data)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Reason == "" {
				t.Fatalf("error %v (%T) is not an *InvalidError with a reason", err, err)
			}
			if !utf8.ValidString(ie.Reason) {
				t.Fatalf("reason is not UTF-8: %q", ie.Reason)
			}
			return
		}
		switch {
		case info.Format == FormatBzImage && info.Arch == ArchX86_64:
		case (info.Format == FormatArm64Image || info.Format == FormatArm64ImageGz) && info.Arch == ArchAarch64:
		default:
			t.Fatalf("format %q arch %q", info.Format, info.Arch)
		}
		if !utf8.ValidString(info.Version) || len(info.Version) >= maxVersionLen {
			t.Fatalf("version %q", info.Version)
		}
		for _, c := range []byte(info.Version) {
			if c < 0x20 || c > 0x7e {
				t.Fatalf("version %q has byte %#x", info.Version, c)
			}
		}
		if first, _, _ := strings.Cut(info.Version, " "); first != info.Release {
			t.Fatalf("release %q, version %q", info.Release, info.Version)
		}
		if info.Format == FormatBzImage && !strings.Contains(info.BootProtocol, ".") {
			t.Fatalf("boot protocol %q", info.BootProtocol)
		}
	})
}

func ExampleInspect() {
	info, err := Inspect("testdata/images/bzImage-6.9.0")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(info.Format, info.Arch, info.Release, info.BootProtocol)
	_, err = Inspect("testdata/images/vmlinux.elf")
	fmt.Println(err)
	// Output:
	// bzImage x86_64 6.9.0-ktest 2.15
	// invalid kernel image testdata/images/vmlinux.elf: no bzImage or arm64 magic: starts with 7f 45 4c 46 (an ELF file — use the compressed bzImage, e.g. arch/x86/boot/bzImage, not vmlinux)
}

// BenchmarkInspect times the header read of a synthetic and the real
// test kernel.
func BenchmarkInspect(b *testing.B) {
	paths := []string{"testdata/images/bzImage-6.9.0"}
	if kernel, err := testkernel.Lookup(); err == nil {
		paths = append(paths, kernel)
	}
	for _, path := range paths {
		b.Run(path, func(b *testing.B) {
			if _, err := Inspect(path); err != nil {
				b.Skip(err)
			}
			for b.Loop() {
				if _, err := Inspect(path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
