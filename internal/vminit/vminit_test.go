package vminit

import (
	"strings"
	"testing"
)

func TestCmdlineParams(t *testing.T) {
	cl := "console=ttyS0 virtio_mmio.device=512@0xfeb00000:12 virtio_mmio.device=512@0xfeb00200:13 virtio_mmiox.y=1 quiet"
	if got, want := cmdlineParams(cl, "virtio_mmio"), "device=512@0xfeb00000:12 device=512@0xfeb00200:13"; got != want {
		t.Errorf("cmdlineParams = %q, want %q", got, want)
	}
	if got := cmdlineParams(cl, "fuse"); got != "" {
		t.Errorf("no parameters: %q", got)
	}
}

func FuzzCmdlineParams(f *testing.F) {
	f.Add("a.b=1 c a.=2 a.d")
	f.Fuzz(func(t *testing.T, cl string) {
		for _, p := range strings.Fields(cmdlineParams(cl, "a")) {
			if !strings.Contains(cl, "a."+p) {
				t.Fatalf("parameter %q is not on the command line %q", p, cl)
			}
		}
	})
}

// Outside a guest neither marker holds.
func TestNotRequestedOnTheHost(t *testing.T) {
	if Requested() {
		t.Fatal("Requested() on the host")
	}
}
