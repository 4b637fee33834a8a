package bzimagetest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ktest-dev/ktest/internal/bzimage"
	"github.com/ktest-dev/ktest/internal/bzimage/bzimagetest"
	"github.com/ktest-dev/ktest/internal/kernelimage"
)

func TestBuildIsAcceptedByPreflightAndBzimage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(p, bzimagetest.Build("6.1.0-50-cloud-amd64", 100), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := kernelimage.Inspect(p)
	if err != nil || info.Release != "6.1.0-50-cloud-amd64" {
		t.Fatalf("InspectImage: %+v, %v", info, err)
	}
	v, err := bzimage.ExtractVmlinux(p, filepath.Join(t.TempDir(), "vmlinux"))
	if err != nil || v.Size != int64(len(bzimagetest.Vmlinux(100))) {
		t.Fatalf("ExtractVmlinux: %+v, %v", v, err)
	}
}
