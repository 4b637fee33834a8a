package debian

import (
	"archive/tar"
	"bytes"
	"io"
	"os/exec"
	"strings"
	"testing"
)

type member struct {
	name string
	typ  byte
	data string
}

func readAll(t testing.TB, data []byte) ([]member, error) {
	var got []member
	err := readTar(bytes.NewReader(data), func(e tarEntry, body io.Reader) error {
		b, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		if int64(len(b)) != e.Size {
			return nil // readTar reports the member cut short
		}
		got = append(got, member{e.Name, e.Type, string(b)})
		return nil
	})
	return got, err
}

// The reader agrees with archive/tar (the oracle, in tests only) on every
// format dpkg-deb may hand over: GNU long names, PAX paths, ustar prefixes.
func TestReadTarFormats(t *testing.T) {
	long := "./usr/lib/modules/6.12.117+deb13-cloud-amd64/kernel/drivers/net/ethernet/mellanox/mlx5/core/mlx5_core.ko.xz"
	for _, format := range []tar.Format{tar.FormatGNU, tar.FormatPAX, tar.FormatUSTAR} {
		var b bytes.Buffer
		w := tar.NewWriter(&b)
		files := []member{{"./boot/", '5', ""}, {"./boot/vmlinuz-6.1", '0', strings.Repeat("k", 1500)}, {long, '0', "module"}, {"./empty", '0', ""}}
		for _, f := range files {
			h := &tar.Header{Name: f.name, Typeflag: f.typ, Size: int64(len(f.data)), Mode: 0o644, Format: format}
			if err := w.WriteHeader(h); err != nil {
				t.Fatalf("%v: %v", format, err)
			}
			w.Write([]byte(f.data))
		}
		w.Close()
		got, err := readAll(t, b.Bytes())
		if err != nil {
			t.Fatalf("%v: %v", format, err)
		}
		if len(got) != len(files) {
			t.Fatalf("%v: %d members, want %d: %+v", format, len(got), len(files), got)
		}
		for i, f := range files {
			if got[i].name != f.name || got[i].data != f.data {
				t.Errorf("%v member %d: %q (%d bytes), want %q", format, i, got[i].name, len(got[i].data), f.name)
			}
		}
	}
}

// And with what dpkg-deb itself writes.
func TestReadTarFromDpkgDeb(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar")
	}
	dir := t.TempDir()
	long := "usr/lib/modules/7.2.13+deb14-cloud-amd64/kernel/drivers/net/ethernet/mellanox/mlx5/core/very_long_module_name.ko.xz"
	cmd := exec.Command("sh", "-c", "mkdir -p root/$(dirname "+long+") && echo hi > root/"+long+" && tar --format=gnu -C root -cf - .")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, out)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range got {
		found = found || (m.name == "./"+long && m.data == "hi\n")
	}
	if !found {
		t.Errorf("long name not read: %+v", got)
	}
}

func TestReadTarRefusesCorruption(t *testing.T) {
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	w.WriteHeader(&tar.Header{Name: "a", Size: 600, Mode: 0o644})
	w.Write(bytes.Repeat([]byte("x"), 600))
	w.Close()
	good := b.Bytes()
	bad := append([]byte(nil), good...)
	bad[0] = 'b' // checksum no longer matches
	cut := good[:700]
	for name, data := range map[string][]byte{"checksum": bad, "cut short": cut, "garbage": bytes.Repeat([]byte("z"), 1024)} {
		if _, err := readAll(t, data); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzReadTar(f *testing.F) {
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	w.WriteHeader(&tar.Header{Name: strings.Repeat("d/", 80) + "f", Size: 3, Mode: 0o644, Format: tar.FormatGNU})
	w.Write([]byte("abc"))
	w.Close()
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		total := 0
		readTar(bytes.NewReader(data), func(e tarEntry, body io.Reader) error {
			n, _ := io.Copy(io.Discard, body)
			total += int(n)
			if e.Size < 0 || n > e.Size {
				t.Fatalf("member %q: read %d of size %d", e.Name, n, e.Size)
			}
			return nil
		})
		if total > len(data) {
			t.Fatalf("read %d content bytes from %d input bytes", total, len(data))
		}
	})
}
