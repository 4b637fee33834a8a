package cache

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCheckImageHeader(t *testing.T) {
	bz := fakeBzImage()
	truncated := append([]byte(nil), bz...)
	binary.LittleEndian.PutUint32(truncated[0x1F4:], 1<<20) // claims 16 MiB of payload
	oldProto := append([]byte(nil), bz...)
	binary.LittleEndian.PutUint16(oldProto[0x206:], 0x0203) // no syssize: size not checked
	binary.LittleEndian.PutUint32(oldProto[0x1F4:], 1<<20)
	badProto := append([]byte(nil), bz...)
	binary.LittleEndian.PutUint16(badProto[0x206:], 0x0100)
	for _, tc := range []struct {
		name string
		head []byte
		size int64
		want string // "" = valid
	}{
		{"bzImage", bz, int64(len(bz)), ""},
		{"bzImage larger than its header says", bz, 1 << 30, ""},
		{"bzImage cut short", bz[:1500], 1500, "is truncated: its bzImage header implies at least 2048 bytes, the file has 1500"},
		{"bzImage header claims more", truncated, int64(len(truncated)), "is truncated: its bzImage header implies at least 16778240 bytes"},
		{"boot protocol 2.03", oldProto, int64(len(oldProto)), ""},
		{"boot protocol 1.00", badProto, int64(len(badProto)), "boot protocol 1.00, below 2.00"},
		{"arm64", fakeArm64Image(), 1024, ""},
		{"gzip", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 20, ""},
		{"gzip cut short", []byte{0x1f, 0x8b, 8}, 3, "fewer than a gzip stream has"},
		{"empty", nil, 0, "is empty"},
		{"cut inside the header", bz[:100], 100, "only 100 bytes, too short for a kernel image header"},
		{"ELF", append([]byte("\x7fELF"), make([]byte, 2000)...), 2004, "has no kernel image header"},
		{"zeros", make([]byte, 1024), 1 << 20, "it starts with 00 00 00 00"},
	} {
		err := CheckImageHeader(tc.head, tc.size)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want valid", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func FuzzCheckImageHeader(f *testing.F) {
	f.Add(fakeBzImage(), int64(2048))
	f.Add(fakeArm64Image(), int64(1024))
	f.Add([]byte{0x1f, 0x8b}, int64(30))
	f.Add([]byte{}, int64(0))
	f.Fuzz(func(t *testing.T, head []byte, size int64) {
		if size < int64(len(head)) {
			size = int64(len(head))
		}
		err := CheckImageHeader(head, size)
		if size == 0 && err == nil {
			t.Fatal("an empty file passed")
		}
		if err != nil && err.Error() == "" {
			t.Fatal("empty reason")
		}
	})
}

// A truncated or overwritten image makes its entry corrupt (it listed as
// valid before, and every run then failed with exit 3); resolution and
// Clean --corrupt-only rely on that.
func TestListMarksCorruptImages(t *testing.T) {
	c := openCache(t)
	writeEntry(t, c.Root, "good", metaJSON("2024-01-01T00:00:00Z"), true)
	writeEntry(t, c.Root, "cut", metaJSON("2025-01-01T00:00:00Z"), true)
	writeEntry(t, c.Root, "overwritten", metaJSON("2025-02-01T00:00:00Z"), true)
	if err := os.Truncate(filepath.Join(c.Root, "cut", "bzImage"), 1500); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Root, "overwritten", "bzImage"), []byte("<html>404</html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	es, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 || es[0].Key != "good" || !es[0].Valid() {
		t.Fatalf("List: %+v, want the valid entry first", es)
	}
	for _, e := range es[1:] {
		if e.Problem == nil || e.Problem.Kind != ProblemImageCorrupt || e.Metadata == nil {
			t.Errorf("%s: %+v, want image_corrupt with its metadata kept", e.Key, e.Problem)
		}
	}
	rep, err := c.Clean(CleanOptions{CorruptOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Removed, ",") != "cut,overwritten" {
		t.Errorf("clean --corrupt-only removed %v, want cut and overwritten", rep.Removed)
	}
}

// A FIFO named metadata.json, or an image that is a FIFO, must not hang
// List (a plain open of a FIFO waits for a writer forever).
func TestListFIFOsDoNotHang(t *testing.T) {
	c := openCache(t)
	writeEntry(t, c.Root, "fifo-meta", "", true)
	if err := unix.Mkfifo(filepath.Join(c.Root, "fifo-meta", MetadataFile), 0o644); err != nil {
		t.Fatal(err)
	}
	writeEntry(t, c.Root, "fifo-image", metaJSON("2025-01-01T00:00:00Z"), false)
	if err := unix.Mkfifo(filepath.Join(c.Root, "fifo-image", "bzImage"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeEntry(t, c.Root, "good", metaJSON("2024-01-01T00:00:00Z"), true)
	type result struct {
		es  []Entry
		err error
	}
	done := make(chan result, 1)
	go func() {
		es, err := c.List()
		done <- result{es, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("List hung on a FIFO")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := map[string]string{"fifo-meta": "is a named pipe, not a regular file", "fifo-image": "bzImage is a named pipe, not a regular file"}
	for _, e := range r.es {
		if e.Key == "good" {
			if !e.Valid() {
				t.Errorf("good: %+v", e.Problem)
			}
			continue
		}
		if e.Problem == nil || !strings.Contains(e.Problem.Reason, want[e.Key]) {
			t.Errorf("%s: problem %+v, want one saying %q", e.Key, e.Problem, want[e.Key])
		}
	}
	if _, err := c.Lookup("fifo-meta"); err == nil {
		t.Error("Lookup of the FIFO entry succeeded")
	}
}
